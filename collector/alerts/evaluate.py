"""The rules' state and the hysteresis. Pure and in memory: no database, no clock of its own (each
call says what time it is), so tests drive it through windows and days in microseconds.

A rule's condition is looked at for a subject (a counter or a box) whenever something may have
changed it: a press stored at that counter, or the periodic tick (a window slides, a box stays
silent). An alert fires when its condition becomes true during office hours, and only once: it stays
active while the condition holds, and clears when the condition has been false for `clear_after_min`
without a break (one bad hour is one alert, not one per press). Outside office hours nothing fires;
what is active may still clear.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from collector.alerts import rules
from collector.alerts.rules import Place, RuleBook, Thresholds
from collector.clock import local_clock, utc_us
from collector.office_hours import OfficeHours, office_minutes

MINUTE_US = 60_000_000
WINDOW_MAX = 10_000  # presses kept per counter and window


@dataclass(frozen=True, slots=True)
class StoredPress:
    """A press just stored, as the rules see it."""

    counter: str
    pressed_us: int
    unsatisfied: bool  # level below its scale's satisfied_from
    suppressed: bool  # the box flagged it (pressed again within its lockout: mashing, misuse)


@dataclass(frozen=True)
class DeviceView:
    """A box as its last status and presence left it (the device table)."""

    box: str
    counter: str
    online: bool
    last_seen: datetime
    outbox: int | None
    retired: bool = False


@dataclass(frozen=True)
class GapView:
    """A box's loss accounting (collector.sequences.BoxLoss): what is missing, and since when."""

    missing: int
    open_since: datetime | None  # None: not known (only rejected seqs lie above the gap)


@dataclass(frozen=True)
class Transition:
    event: str  # fired | cleared
    rule: str
    subject: str  # counter:<code> | box:<id>
    at: datetime
    place: Place
    box: str | None = None
    message: str = ""
    value: float | None = None


@dataclass
class _Active:
    false_since: datetime | None = None


class Hysteresis:
    """Which (rule, subject) alerts are active, and since when each one's condition has been false."""

    def __init__(self) -> None:
        self.active: dict[tuple[str, str], _Active] = {}

    def resume(self, rule: str, subject: str) -> None:
        """An alert recorded as active (before a restart): it clears, it does not fire again."""
        self.active.setdefault((rule, subject), _Active())

    def observe(self, rule: str, subject: str, condition: bool, now: datetime, clear_after: timedelta,
                may_fire: bool) -> str | None:
        """'fired', 'cleared' or None (nothing changed)."""
        key = (rule, subject)
        state = self.active.get(key)
        if condition:
            if state is not None:
                state.false_since = None
                return None
            if not may_fire:
                return None
            self.active[key] = _Active()
            return "fired"
        if state is None:
            return None
        if state.false_since is None:
            state.false_since = now
        if now - state.false_since >= clear_after:
            del self.active[key]
            return "cleared"
        return None


@dataclass
class _Counter:
    # (pressed_us, unsatisfied) of the ratings in the window (suppressed presses are no ratings), and how
    # many of them are unsatisfied: counted as they come and go, so a press costs the same however full.
    window: deque[tuple[int, bool]] = field(default_factory=deque)
    unhappy: int = 0
    suppressed: deque[int] = field(default_factory=deque)
    day: date | None = None
    day_total: int = 0
    day_satisfied: int = 0

    def prune(self, cutoff: int) -> None:
        """Drop what is older than the cutoff from the front. Presses arrive nearly in order; a late one
        older than the window is dropped when it reaches the front. A flood at one counter is bounded."""
        window = self.window
        while window and (window[0][0] < cutoff or len(window) > WINDOW_MAX):
            self.unhappy -= window.popleft()[1]


class Evaluator:
    def __init__(self, book: RuleBook, tz_name: str, office: OfficeHours, places: Mapping[str, Place] | None = None):
        self.book = book
        self.tz_name = tz_name
        self.office = office
        self.places: Mapping[str, Place] = places or {}
        self.hysteresis = Hysteresis()
        self._counters: dict[str, _Counter] = {}
        self._clock = local_clock(tz_name)
        self._longest_window_us = MINUTE_US * 24 * 60  # nothing older is kept in a window
        self._gap_seen: dict[str, datetime] = {}  # box -> first tick that saw it missing presses

    def place(self, counter: str) -> Place:
        return self.places.get(counter) or Place(counter)

    # --- as presses are stored ----------------------------------------------------------------

    def presses_stored(self, presses: Sequence[StoredPress], now: datetime) -> list[Transition]:
        now_us = utc_us(now)
        oldest = now_us - self._longest_window_us
        today = self._clock.day_hour(now_us)[0]
        touched: set[str] = set()
        counters = self._counters
        for press in presses:
            if press.pressed_us < oldest:
                continue  # a backlog from long ago: it counts in reports, not in an alert of now
            state = counters.get(press.counter)
            if state is None:
                state = counters[press.counter] = _Counter()
            if press.suppressed:
                state.suppressed.append(press.pressed_us)
            else:
                state.window.append((press.pressed_us, press.unsatisfied))
                state.unhappy += press.unsatisfied
                if self._clock.day_hour(press.pressed_us)[0] == today:
                    if state.day != today:
                        state.day, state.day_total, state.day_satisfied = today, 0, 0
                    state.day_total += 1
                    state.day_satisfied += not press.unsatisfied
            touched.add(press.counter)
        transitions: list[Transition] = []
        may_fire = self.office.contains(now, self.tz_name)
        for counter in touched:
            transitions.extend(self._counter_rules(counter, now, now_us, today, may_fire))
        return transitions

    # --- on the timer ----------------------------------------------------------------------------

    def tick(self, now: datetime, devices: Iterable[DeviceView],
             gaps: Mapping[str, GapView] | None = None) -> list[Transition]:
        """gaps: the boxes missing presses (a box not named misses none)."""
        now_us = utc_us(now)
        today = self._clock.day_hour(now_us)[0]
        transitions: list[Transition] = []
        may_fire = self.office.contains(now, self.tz_name)
        for counter in list(self._counters):
            transitions.extend(self._counter_rules(counter, now, now_us, today, may_fire))
        gaps = gaps or {}
        for device in devices:
            transitions.extend(self._box_rules(device, now, may_fire))
            transitions.extend(self._gap_rule(device, gaps.get(device.box), now, may_fire))
        return transitions

    # --- the rules -------------------------------------------------------------------------------

    def _counter_rules(self, counter: str, now: datetime, now_us: int, today: date, may_fire: bool) -> list[Transition]:
        state = self._counters[counter]
        place = self.place(counter)
        limits = self.book.for_place(place)
        subject = f"counter:{counter}"
        out: list[Transition] = []

        state.prune(now_us - limits.unhappy_window_min * MINUTE_US)
        rated, unhappy = len(state.window), state.unhappy  # a box whose clock is ahead counts too
        share = unhappy / rated if rated else 0.0
        condition = (limits.unhappy_share is not None and rated >= limits.unhappy_min_ratings
                     and share >= limits.unhappy_share)
        self._observe(out, rules.UNHAPPY_WINDOW, subject, condition, now, limits, may_fire, place, value=share,
                      message=lambda: f"Quầy {counter}: {unhappy}/{rated} đánh giá không hài lòng trong "
                              f"{limits.unhappy_window_min} phút / Counter {counter}: {unhappy} of {rated} "
                              f"ratings unsatisfied within {limits.unhappy_window_min} minutes ({share:.0%})")

        if state.day != today:
            state.day, state.day_total, state.day_satisfied = today, 0, 0
        rate = state.day_satisfied / state.day_total if state.day_total else 1.0
        condition = (limits.day_rate_below is not None and state.day_total >= limits.day_min_ratings
                     and rate < limits.day_rate_below)
        self._observe(out, rules.DAY_RATE, subject, condition, now, limits, may_fire, place, value=rate,
                      message=lambda: f"Quầy {counter}: tỷ lệ hài lòng hôm nay {rate:.0%} ({state.day_total} phiếu) / "
                              f"Counter {counter}: satisfaction rate today {rate:.0%} over {state.day_total} ratings")

        cutoff = now_us - limits.suppressed_window_min * MINUTE_US
        suppressed = state.suppressed
        while suppressed and suppressed[0] < cutoff:
            suppressed.popleft()
        while len(suppressed) > WINDOW_MAX:
            suppressed.popleft()
        burst = len(suppressed)
        condition = limits.suppressed_burst is not None and burst >= limits.suppressed_burst
        self._observe(out, rules.SUPPRESSED_BURST, subject, condition, now, limits, may_fire, place, value=burst,
                      message=lambda: f"Quầy {counter}: {burst} lần bấm bị chặn trong {limits.suppressed_window_min} phút / "
                              f"Counter {counter}: {burst} suppressed presses within {limits.suppressed_window_min} "
                              "minutes (button mashed or misused?)")
        return out

    def _box_rules(self, device: DeviceView, now: datetime, may_fire: bool) -> list[Transition]:
        place = self.place(device.counter)
        limits = self.book.for_place(place)
        subject = f"box:{device.box}"
        out: list[Transition] = []
        in_service = not device.retired

        silent = office_minutes(device.last_seen, now, self.tz_name, self.office)
        condition = in_service and limits.silent_office_min is not None and silent >= limits.silent_office_min
        self._observe(out, rules.BOX_SILENT, subject, condition, now, limits, may_fire, place, box=device.box,
                      value=silent, message=lambda: f"Thiết bị {device.box} (quầy {device.counter}) im lặng {silent} phút "
                                            f"giờ hành chính / Box {device.box} (counter {device.counter}) silent "
                                            f"for {silent} office minutes")

        offline_for = (now - device.last_seen) / timedelta(minutes=1)
        condition = (in_service and not device.online and limits.offline_min is not None
                     and offline_for >= limits.offline_min)
        self._observe(out, rules.BOX_OFFLINE, subject, condition, now, limits, may_fire, place, box=device.box,
                      value=round(offline_for, 1),
                      message=lambda: f"Thiết bị {device.box} (quầy {device.counter}) mất kết nối / Box {device.box} "
                              f"(counter {device.counter}) offline since {device.last_seen:%Y-%m-%d %H:%M} UTC")

        outbox = device.outbox or 0
        condition = in_service and limits.outbox_above is not None and outbox > limits.outbox_above
        self._observe(out, rules.OUTBOX_GROWING, subject, condition, now, limits, may_fire, place, box=device.box,
                      value=outbox, message=lambda: f"Thiết bị {device.box} (quầy {device.counter}): {outbox} lượt bấm chờ "
                                            f"gửi / Box {device.box} (counter {device.counter}): {outbox} presses "
                                            "waiting in its outbox")
        return out

    def _gap_rule(self, device: DeviceView, gap: GapView | None, now: datetime, may_fire: bool) -> list[Transition]:
        place = self.place(device.counter)
        limits = self.book.for_place(place)
        out: list[Transition] = []
        missing = gap.missing if gap else 0
        if not missing:
            self._gap_seen.pop(device.box, None)
        seen = self._gap_seen.setdefault(device.box, now) if missing else now
        since = gap.open_since if gap and gap.open_since else seen
        open_s = (now - since).total_seconds()
        condition = (not device.retired and limits.gap_open_s is not None and missing > 0
                     and open_s >= limits.gap_open_s)
        self._observe(out, rules.SEQUENCE_GAP, f"box:{device.box}", condition, now, limits, may_fire, place,
                      box=device.box, value=missing,
                      message=lambda: f"Thiết bị {device.box} (quầy {device.counter}): {missing} lượt bấm chưa về "
                              f"máy chủ từ {since:%Y-%m-%d %H:%M} UTC / Box {device.box} (counter {device.counter}): "
                              f"{missing} numbered presses never stored, a gap open since {since:%Y-%m-%d %H:%M} UTC")
        return out

    def _observe(self, out: list[Transition], rule: str, subject: str, condition: bool, now: datetime,
                 limits: Thresholds, may_fire: bool, place: Place, *, message: Callable[[], str], value: float,
                 box: str | None = None) -> None:
        """The message is written only when something changed: most looks change nothing."""
        event = self.hysteresis.observe(rule, subject, condition, now, timedelta(minutes=limits.clear_after_min),
                                        may_fire)
        if event is not None:
            out.append(Transition(event, rule, subject, now, place, box, message(), value))
