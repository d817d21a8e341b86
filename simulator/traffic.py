"""Citizens at the counters: a scenario file and the press plan it yields.

A scenario is a JSON file (simulator/scenarios/*.json). Every key is checked: an unknown key or an
impossible value is a ScenarioError with a message saying which and why. The plan is a list of
actions on a real-time axis: office hours of weekdays (Asia/Ho_Chi_Minh) are compressed so that
one working day lasts `day_minutes` real minutes; nights, lunch breaks and weekends are skipped.
The firmware itself runs in real time, so presses at one counter are kept `min_gap_s` real seconds
apart (more than the box's lockout) except for deliberate mashing. Same seed, same plan.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
LOCAL = dt.timezone(dt.timedelta(hours=7), "Asia/Ho_Chi_Minh")  # UTC+7, no daylight saving

GESTURE_HOLD_MS = 5500  # the firmware's self-test gesture: both buttons held 5 s


class ScenarioError(ValueError):
    pass


# key: (type, default, check, what the check means)
def _range_pair(lo: float, hi: float):  # type: ignore[no-untyped-def]
    return lambda v: isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) \
        and lo <= v[0] <= v[1] <= hi


SCHEMA: dict[str, tuple[Any, Any, Any, str]] = {
    "name": (str, "unnamed", lambda v: bool(v), "a non-empty name"),
    "description": (str, "", lambda v: True, "text"),
    "boxes": (int, 60, lambda v: 1 <= v <= 5000, "1..5000 (more than ~100 full boxes needs light mode)"),
    "days": (int, 1, lambda v: 1 <= v <= 30, "1..30 working days"),
    "start_date": (str, "2026-11-30", None, "a date YYYY-MM-DD"),
    "day_minutes": ((int, float), 10, lambda v: 0.5 <= v <= 24 * 60, "0.5..1440 real minutes per working day"),
    "presses_per_counter_per_day": ((int, float), 40, lambda v: 0 <= v <= 2000, "0..2000"),
    "satisfied_share": ((int, float), 0.995, lambda v: 0 <= v <= 1, "a share 0..1"),
    "mash_share": ((int, float), 0.02, lambda v: 0 <= v <= 1, "a share 0..1 of presses followed by a mash"),
    "tests_per_box_per_day": ((int, float), 0.05, lambda v: 0 <= v <= 10, "0..10"),
    "min_gap_s": ((int, float), 5.0, lambda v: 0.5 <= v <= 3600, "0.5..3600 s (keep it above the lockout)"),
    "lockout_s": ((int, float), 4.0, lambda v: 0.5 <= v <= 60, "0.5..60 s, the boxes' lockout_ms / 1000"),
    "bounce_edges": (list, [3, 11], _range_pair(1, 50), "[min, max] edges per contact change, 1..50"),
    "bounce_ms": (list, [5, 20], _range_pair(0, 200), "[min, max] ms of bounce, 0..200"),
    "hold_ms": (list, [80, 400], _range_pair(60, 5000), "[min, max] ms a citizen holds a button, 60..5000"),
    "office_hours": (list, [["07:30", "11:30"], ["13:30", "17:00"]], None, "[[HH:MM, HH:MM], ...] local"),
    "weekdays": (list, [0, 1, 2, 3, 4], lambda v: v and all(isinstance(d, int) and 0 <= d <= 6 for d in v),
                 "day numbers 0 (Monday)..6"),
    "ntp": (bool, True, lambda v: True, "true or false: boxes have NTP"),
    "faults": (list, [], None, "a list of faults (see FAULTS)"),
}

# Faults a scenario's "faults" timeline may hold: kind -> (extra keys: (type, check, meaning)).
# Every fault has "at" (real seconds from the start, or [lo, hi]: a random instant in between,
# drawn from the run's seed) and, except "broker", "boxes": "all", "random" (one box drawn from
# the seed), a box id or a list of box ids.
_SECONDS = ((int, float), lambda v: 0 < v <= 24 * 3600, "seconds > 0")
FAULTS: dict[str, dict[str, tuple[Any, Any, str]]] = {
    "wifi": {"for_s": _SECONDS},                       # Wi-Fi outage, then it returns
    "broker": {"for_s": _SECONDS},                     # broker stopped, restarted after for_s
    "power_cut": {"off_s": ((int, float), lambda v: 0 <= v <= 3600, "0..3600 s without power")},
    "stuck": {"for_s": _SECONDS, "button": (int, lambda v: 0 <= v <= 3, "a button index 0..3")},
    "mash": {"presses": (int, lambda v: 2 <= v <= 50, "2..50 presses in a row"),
             "button": (int, lambda v: 0 <= v <= 3, "a button index 0..3")},
    "no_ntp": {"for_s": _SECONDS},                     # NTP unreachable (for ever without for_s)
    "hang": {},                                        # firmware freezes: the watchdog resets it
}
FAULT_DEFAULTS = {"button": 0, "presses": 5, "off_s": 1.0}


@dataclass
class Fault:
    at: float | list[float]
    fault: str
    boxes: str | list[str] = "all"
    for_s: float | None = None
    off_s: float = 1.0
    button: int = 0
    presses: int = 5

    def when(self, rng: random.Random) -> float:
        return rng.uniform(*self.at) if isinstance(self.at, list) else float(self.at)


def box_name(i: int, n: int) -> str:
    """The fleet's box ids: box-01 .. box-60 (wider for fleets over 99)."""
    return f"box-{i + 1:0{max(2, len(str(n)))}d}"


def parse_faults(items: Any, source: str, n_boxes: int, real_seconds: float) -> list[Fault]:
    if not isinstance(items, list):
        raise ScenarioError(f"{source}: faults must be a list of objects")
    names = {box_name(i, n_boxes) for i in range(n_boxes)}
    out: list[Fault] = []
    for i, item in enumerate(items):
        where = f"{source}: faults[{i}]"
        if not isinstance(item, dict) or item.get("fault") not in FAULTS:
            raise ScenarioError(f"{where}: needs \"fault\": one of {', '.join(FAULTS)}")
        kind = item["fault"]
        extra = FAULTS[kind]
        allowed = {"at", "fault", *extra} | (set() if kind == "broker" else {"boxes"})
        unknown = sorted(set(item) - allowed)
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(unknown)} for a {kind} fault; "
                                f"known: {', '.join(sorted(allowed))}")
        at = item.get("at")
        ok_at = (isinstance(at, (int, float)) and not isinstance(at, bool) and 0 <= at <= real_seconds) or (
            _range_pair(0, real_seconds)(at))
        if not ok_at:
            raise ScenarioError(f"{where}: at = {at!r} is impossible; expected seconds (or [lo, hi]) within "
                                f"the run's 0..{real_seconds:g} s")
        values: dict[str, Any] = {}
        for key, (kind_t, check, meaning) in extra.items():
            if key not in item:
                if key == "for_s" and kind != "no_ntp":
                    raise ScenarioError(f"{where}: a {kind} fault needs for_s ({meaning})")
                continue
            v = item[key]
            if not isinstance(v, kind_t) or isinstance(v, bool) or not check(v):
                raise ScenarioError(f"{where}: {key} = {v!r} is impossible; expected {meaning}")
            values[key] = v
        boxes = item.get("boxes", "all")
        if kind != "broker":
            listed = [boxes] if isinstance(boxes, str) and boxes not in ("all", "random") else boxes
            if isinstance(listed, list):
                bad = [b for b in listed if b not in names]
                if bad or not listed:
                    raise ScenarioError(f"{where}: boxes = {boxes!r} is impossible; expected \"all\", "
                                        f"\"random\" or ids among {box_name(0, n_boxes)}..{box_name(n_boxes - 1, n_boxes)}")
            elif boxes not in ("all", "random"):
                raise ScenarioError(f"{where}: boxes = {boxes!r} is impossible; expected \"all\", \"random\", "
                                    "a box id or a list of them")
        out.append(Fault(at=cast(float | list[float], at), fault=kind, boxes=boxes, **values))
    return out



@dataclass
class Scenario:
    name: str = "unnamed"
    description: str = ""
    boxes: int = 60
    days: int = 1
    start_date: str = "2026-11-30"
    day_minutes: float = 10
    presses_per_counter_per_day: float = 40
    satisfied_share: float = 0.995
    mash_share: float = 0.02
    tests_per_box_per_day: float = 0.05
    min_gap_s: float = 5.0
    lockout_s: float = 4.0
    bounce_edges: list[int] = field(default_factory=lambda: [3, 11])
    bounce_ms: list[int] = field(default_factory=lambda: [5, 20])
    hold_ms: list[int] = field(default_factory=lambda: [80, 400])
    office_hours: list[list[str]] = field(default_factory=lambda: [["07:30", "11:30"], ["13:30", "17:00"]])
    weekdays: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    ntp: bool = True
    faults: list[Fault] = field(default_factory=list)

    @property
    def open_seconds(self) -> int:
        return sum(b - a for a, b in _hours(self.office_hours))

    @property
    def real_seconds(self) -> float:
        return self.days * self.day_minutes * 60


def _hhmm(text: Any) -> int:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        raise ValueError
    h, m = int(text[:2]), int(text[3:])
    if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 24 * 60:
        raise ValueError
    return (h * 60 + m) * 60


def _hours(hours: list[list[str]]) -> list[tuple[int, int]]:
    return [(_hhmm(a), _hhmm(b)) for a, b in hours]


def parse_scenario(data: Any, source: str = "scenario", faults_extra: list[Any] | None = None,
                   **overrides: Any) -> Scenario:
    """faults_extra: faults added to the file's (the command line's --fault)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: must hold a JSON object")
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    if faults_extra and isinstance(data.get("faults", []), list):
        data["faults"] = [*data.get("faults", []), *faults_extra]
    unknown = sorted(set(data) - set(SCHEMA))
    if unknown:
        raise ScenarioError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(SCHEMA)}")
    values: dict[str, Any] = {}
    for key, (kind, default, check, meaning) in SCHEMA.items():
        v = data.get(key, default)
        ok = isinstance(v, kind) and not (isinstance(v, bool) and kind is not bool)
        if ok and check is not None:
            ok = bool(check(v))
        if ok and key == "start_date":
            try:
                dt.date.fromisoformat(v)
            except ValueError:
                ok = False
        if ok and key == "office_hours":
            try:
                spans = _hours(v)
                ok = bool(spans) and all(a < b for a, b in spans) and all(
                    spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))
            except (ValueError, TypeError):
                ok = False
        if not ok:
            raise ScenarioError(f"{source}: {key} = {v!r} is impossible; expected {meaning}")
        values[key] = v
    sc = Scenario(**values)
    sc.faults = parse_faults(values["faults"], source, sc.boxes, sc.real_seconds)
    # The firmware runs in real time: a counter cannot take more presses than fit in its day.
    day_s = sc.day_minutes * 60
    need = sc.presses_per_counter_per_day * (sc.min_gap_s * (1 + sc.mash_share)) \
        + sc.tests_per_box_per_day * (GESTURE_HOLD_MS / 1000 + 2 * sc.min_gap_s)
    if need > 0.7 * day_s:
        raise ScenarioError(
            f"{source}: {sc.presses_per_counter_per_day} presses a day at least {sc.min_gap_s} s apart do not fit "
            f"in a {sc.day_minutes}-minute day; raise day_minutes or lower presses_per_counter_per_day")
    if sc.min_gap_s <= sc.lockout_s:
        raise ScenarioError(f"{source}: min_gap_s ({sc.min_gap_s}) must exceed lockout_s ({sc.lockout_s}), "
                            "or ordinary presses would be suppressed")
    mash_latest = sc.hold_ms[1] / 1000 + 2 * sc.bounce_ms[1] / 1000 + 0.3
    if sc.mash_share and mash_latest >= sc.lockout_s - 0.3:
        raise ScenarioError(f"{source}: hold_ms is too long for a mash to fit inside the {sc.lockout_s} s lockout")
    return sc


def load_scenario(name_or_path: str | Path, **overrides: Any) -> Scenario:
    """A scenario by name (simulator/scenarios/<name>.json) or by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = SCENARIO_DIR / f"{name_or_path}.json"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.json")))
        raise ScenarioError(f"no scenario {name_or_path!r} (known: {known})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{path.name}: not valid JSON: {e}") from None
    return parse_scenario(data, path.name, **overrides)


@dataclass
class Action:
    at: float  # real seconds from the start of the run
    box: int  # index into the fleet
    kind: str  # press | mash | test
    button: int = 0
    bounce_edges: int = 1
    bounce_ms: int = 0
    hold_ms: int = 0
    seed: int = 0
    local_time: str = ""  # the simulated moment, for the log


def working_days(sc: Scenario) -> list[dt.date]:
    days: list[dt.date] = []
    day = dt.date.fromisoformat(sc.start_date)
    while len(days) < sc.days:
        if day.weekday() in sc.weekdays:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def plan(sc: Scenario, seed: int, boxes: int | None = None) -> list[Action]:
    """Every action of the run, sorted by time."""
    n_boxes = boxes or sc.boxes
    spans = _hours(sc.office_hours)
    scale = sc.day_minutes * 60 / sc.open_seconds  # real seconds per simulated office second
    actions: list[Action] = []
    for di, day in enumerate(working_days(sc)):
        day_start, day_end = di * sc.day_minutes * 60, (di + 1) * sc.day_minutes * 60
        for b in range(n_boxes):
            rng = random.Random(f"{seed}/{day}/{b}")
            items: list[tuple[float, str]] = [(rng.random(), "press") for _ in
                                              range(_poisson(rng, sc.presses_per_counter_per_day))]
            items += [(rng.random(), "test") for _ in range(_poisson(rng, sc.tests_per_box_per_day))]
            items.sort()
            t = day_start + rng.uniform(0.5, 2.0)
            for frac, kind in items:
                at = max(day_start + frac * (day_end - day_start) * 0.9, t)
                if kind == "test":
                    actions.append(Action(at, b, "test", hold_ms=GESTURE_HOLD_MS, seed=rng.getrandbits(32)))
                    t = at + GESTURE_HOLD_MS / 1000 + sc.min_gap_s
                    continue
                satisfied = rng.random() < sc.satisfied_share
                actions.append(_press(rng, sc, at, b, "press", 1 if satisfied else 0))
                t = at + sc.min_gap_s
                if rng.random() < sc.mash_share:
                    first = actions[-1]
                    earliest = (2 * first.bounce_ms + first.hold_ms) / 1000 + 0.25
                    mash_at = at + rng.uniform(earliest, sc.lockout_s - 0.5)
                    actions.append(_press(rng, sc, mash_at, b, "mash", rng.randrange(2)))
                    t = max(t, mash_at + sc.min_gap_s)
            while actions and actions[-1].box == b and actions[-1].at > day_end:
                actions.pop()  # past closing time: a Poisson tail that does not fit, the citizen left
    for a in actions:
        day_no, offset = divmod(a.at, sc.day_minutes * 60)
        office_s = offset / scale
        for start, end in spans:
            if office_s < end - start:
                local: float = start + office_s
                break
            office_s -= end - start
        else:
            local = float(spans[-1][1])
        day = working_days(sc)[int(day_no)]
        a.local_time = f"{day} {int(local // 3600):02d}:{int(local % 3600 // 60):02d}"
    actions.sort(key=lambda a: (a.at, a.box))
    return actions


def _press(rng: random.Random, sc: Scenario, at: float, box: int, kind: str, button: int) -> Action:
    bounce_ms = rng.randint(*sc.bounce_ms)
    edges = min(rng.randint(*sc.bounce_edges), bounce_ms + 1)  # edges are whole ms apart
    return Action(
        at, box, kind, button,
        bounce_edges=edges if edges % 2 else edges - 1,  # an odd count ends in the new state
        bounce_ms=bounce_ms,
        hold_ms=rng.randint(*sc.hold_ms),
        seed=rng.getrandbits(32),
    )
