"""Helpers of the proof suite: a fleet of virtual boxes against the real Mosquitto and the real
collector process, faults fired from the test's own seeded timeline, and checks on what was stored.

Sizes: the tests run compressed variants (a few boxes, a day of under a minute) unless
PROOF_SIZE=full, which `python -m bench.soak` sets to run them at the issue's full size
(60 boxes, five collector kills, a hundred power cuts, a simulated hour of Wi-Fi outage).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from simulator.center import registry
from simulator.fleet import ACK_WINDOW_S, TIME_TOLERANCE_S, Fleet, PressRecord
from simulator.traffic import Scenario, parse_scenario

FULL = os.environ.get("PROOF_SIZE", "") == "full"
# Boxes come back soon after a fault and resend unconfirmed presses soon: keeps runs short.
FAST = {"backoff_max_s": 4, "ack_timeout_s": 2, "confirm_wait_s": 3}


def size(small: Any, full: Any) -> Any:
    return full if FULL else small


class Collector:
    """The collector process, restartable: kill() + start() keep the same database and client id
    (the persistent session). Its HTTP port changes at each start: use .url."""

    def __init__(self, factory: Callable[..., Any], boxes: int, db_url: str | None = None, **env: Any):
        self.factory, self.env = factory, env
        self.handle = factory(db_url=db_url, registry=registry(counters=boxes), **env)
        self.db_url = self.handle.db_url
        self.token = self.handle.token("admin")
        self.handle.token("viewer")  # made now: a token is a database write, refused while it is locked
        self.kills = 0
        self.history: list[str] = []

    @property
    def url(self) -> str:
        return str(self.handle.url)

    def start(self) -> None:
        self.handle = self.factory(db_url=self.db_url, registry=None, **self.env)
        self.handle.token("viewer")
        self.history.append(f"{time.strftime('%H:%M:%S')} started")

    def kill(self) -> None:
        self.handle.kill()
        self.kills += 1
        self.history.append(f"{time.strftime('%H:%M:%S')} SIGKILL")

    def stop(self) -> None:
        self.handle.stop()
        self.history.append(f"{time.strftime('%H:%M:%S')} stopped")

    def metric(self, name: str) -> float:
        return float(self.handle.metric(name))


def scenario(name: str, boxes: int, seconds: float, presses: float, **extra: Any) -> Scenario:
    return parse_scenario({"name": name, "boxes": boxes, "day_minutes": seconds / 60,
                           "presses_per_counter_per_day": presses, "mash_share": 0.0,
                           "tests_per_box_per_day": 0, **extra}, name)


def make_fleet(broker: Any, collector: Collector, workdir: Path, sc: Scenario, seed: int, *, light: bool = False,
               timings: dict[str, int] | None = None) -> Fleet:
    return Fleet(broker.broker.broker_dir, scenario=sc, broker_port=broker.port, seed=seed,
                 workdir=workdir / "fleet", reload=broker.broker.reload, broker_control=broker.broker,
                 collector_url=collector.url, token=collector.token, light=light, timings=timings or FAST)


def play(fleet: Fleet, steps: Sequence[tuple[float, Callable[[], None]]], duration: float | None = None) -> float:
    """Run the fleet's day in a thread and fire the test's own steps (seconds from the start, what)
    meanwhile, in time order. Returns the start (host time). Blocks until the day is over."""
    steps = sorted(steps, key=lambda s: s[0])
    start = time.time()
    fleet.start_traffic(duration)
    for at, what in steps:
        time.sleep(max(0.0, start + at - time.time()))
        what()
    assert fleet._traffic is not None
    fleet._traffic.join(timeout=(duration or fleet.scenario.real_seconds) + 120)
    return start


def random_instants(seed: str, n: int, lo: float, hi: float, gap: float = 0.0) -> list[float]:
    """n seeded instants in [lo, hi], at least `gap` apart (best effort)."""
    rng = random.Random(seed)
    picked: list[float] = []
    while len(picked) < n:
        t = rng.uniform(lo, hi)
        if all(abs(t - p) >= gap for p in picked) or len(picked) * gap >= hi - lo:
            picked.append(t)
    return sorted(picked)


def stored_rows(fleet: Fleet) -> dict[str, list[dict[str, Any]]]:
    """The rows the report fetched, per box (call after fleet.report())."""
    return {box: list(rows) for box, rows in fleet._rows.items()}


def seen_records(fleet: Fleet) -> list[PressRecord]:
    return [r for r in fleet.records if fleet._seen(r)[0]]


def await_press_seen(fleet: Fleet, since: float, age: float = 0.0, timeout: float = 40.0) -> None:
    """Block until a press settled after `since` (host time), at least `age` s ago, and the citizen
    saw it: a test's fault window then holds a press, however slowly a loaded machine runs the day
    (fault steps at fixed seconds alone left some windows empty under load)."""
    deadline = time.monotonic() + timeout
    age = max(age, ACK_WINDOW_S)  # by then the box has shown, or not, that it took the press
    while not any(since < r.settled <= time.time() - age for r in seen_records(fleet)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no press seen in the {timeout:.0f} s after a fault began")
        time.sleep(0.2)


def unmatched_presses(fleet: Fleet) -> list[PressRecord]:
    """Presses the citizen saw that have no stored row of their box timed within 2 s (greedy, in
    time order, each row used once). Rows without a clock (time_approximate) are not matched here."""
    rows = stored_rows(fleet)
    out: list[PressRecord] = []
    by_box: dict[str, list[PressRecord]] = {}
    for rec in seen_records(fleet):
        by_box.setdefault(rec.box, []).append(rec)
    for box, recs in by_box.items():
        times = sorted(_ts(p["pressed_at"]) for p in rows.get(box, []) if not p["time_approximate"])
        used = [False] * len(times)
        for rec in sorted(recs, key=lambda r: r.settled):
            best = None
            for j, t in enumerate(times):
                if not used[j] and abs(t - rec.settled) <= TIME_TOLERANCE_S:
                    best = j
                    break
            if best is None:
                out.append(rec)
            else:
                used[best] = True
    return out


def time_errors(fleet: Fleet, records: list[PressRecord]) -> list[float]:
    """|stored pressed_at - settle| in seconds for the given presses, pairing each with the nearest
    timed row of its box."""
    rows = stored_rows(fleet)
    errors = []
    for rec in records:
        times = [_ts(p["pressed_at"]) for p in rows.get(rec.box, []) if not p["time_approximate"]]
        if times:
            errors.append(min(abs(t - rec.settled) for t in times))
    return errors


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wrong_rtc_module(offset_s: int) -> bytes:
    """A `time` module for a box's flash that extends MicroPython's built-in one with a real-time
    clock `offset_s` off: time(), time_ns(), localtime(), gmtime() and mktime() are wrong by that
    much, while ticks_ms() (the box's uptime) is untouched. MicroPython finds a time.py on the
    flash before its built-in module, so the firmware imports this one; the simulated hardware
    (simhw, loaded before the flash is mounted) keeps the host's clock."""
    return f'''import sys
_path = sys.path
sys.path = ()
try:
    from time import *
    import time as _rtc
finally:
    sys.path = _path
    del _path
OFFSET_S = {offset_s}
def time():
    return _rtc.time() + OFFSET_S
def time_ns():
    return _rtc.time_ns() + OFFSET_S * 1000000000
def localtime(secs=None):
    return _rtc.localtime(time() if secs is None else secs)
def gmtime(secs=None):
    return _rtc.gmtime(time() if secs is None else secs)
print("rtc: this box's clock is off by %d s" % OFFSET_S)
'''.encode()


def flash_wrong_rtc(fleet: Fleet, box: str, offset_s: int) -> None:
    """Before fleet.start(): write `box`'s flash (firmware, config.json) with a time.py that makes
    its real-time clock `offset_s` off. The fleet's start() keeps an existing flash image and only
    rewrites config.json's ports, so the box boots with the wrong clock from its first boot."""
    from simulator.box import VirtualBox, make_config

    password = fleet.credentials()[box]
    cfg = make_config(box, box.split("-", 1)[1], password=password, broker_host=fleet.broker[0],
                      broker_port=fleet.broker[1], ntp="sim" if fleet.scenario.ntp else None, timings=fleet.timings)
    pre = VirtualBox(cfg, fleet.workdir / box, mpy=fleet.mpy, extra_files={"time.py": wrong_rtc_module(offset_s)})
    pre.link_port = pre.ntp_port = 0  # placeholders: start() writes the real ports into config.json
    pre.workdir.mkdir(parents=True, exist_ok=True)
    pre.write_flash()


def has_wrong_rtc(box: Any) -> bool:
    return any("rtc: this box's clock is off" in line for _, line in list(box.lines))


class Sampler:
    """Samples a function every `every` seconds in a thread (e.g. stored counts during a fault)."""

    def __init__(self, fn: Callable[[], Any], every: float = 0.5):
        self.fn, self.every = fn, every
        self.samples: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            with contextlib.suppress(Exception):  # a sample may fail while a process restarts
                self.samples.append((time.time(), self.fn()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
