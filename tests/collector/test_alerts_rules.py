"""Each alert rule fires once and clears with hysteresis, is quiet outside office hours, and takes
its thresholds per site, department and counter. The evaluator is driven with explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collector.alerts import rules
from collector.alerts.evaluate import DeviceView, Evaluator, StoredPress, Transition
from collector.alerts.rules import Place, RuleBook
from collector.clock import utc_us
from collector.office_hours import OfficeHours

TZ = "Asia/Ho_Chi_Minh"
# Monday 2026-11-30, 09:00 local (02:00 UTC): office hours.
MONDAY_9 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
SUNDAY_9 = MONDAY_9 - timedelta(days=1)


def evaluator(overrides: str = "", places: dict[str, Place] | None = None) -> Evaluator:
    return Evaluator(RuleBook.parse(overrides), TZ, OfficeHours(), places)


def press(at: datetime, unsatisfied: bool, counter: str = "17", suppressed: bool = False) -> StoredPress:
    return StoredPress(counter, utc_us(at), unsatisfied, suppressed)


def events(transitions: list[Transition], rule: str) -> list[str]:
    return [t.event for t in transitions if t.rule == rule]


def test_unhappy_window_fires_once_and_clears_after_the_condition_stays_false() -> None:
    engine = evaluator()
    seen: list[Transition] = []
    # 3 unsatisfied of 3: fewer than the 4 ratings needed
    for minute in range(3):
        at = MONDAY_9 + timedelta(minutes=minute)
        seen += engine.presses_stored([press(at, True)], at)
    assert events(seen, rules.UNHAPPY_WINDOW) == []
    at = MONDAY_9 + timedelta(minutes=3)
    fired = engine.presses_stored([press(at, False)], at)  # 3 of 4 = 75% >= 50%
    assert events(fired, rules.UNHAPPY_WINDOW) == ["fired"]
    assert fired[0].value == 0.75 and "3 of 4" in fired[0].message and fired[0].subject == "counter:17"
    # a bad hour: one unsatisfied press every 5 minutes, still one alert
    seen = []
    for minute in range(5, 60, 5):
        at = MONDAY_9 + timedelta(minutes=minute)
        seen += engine.presses_stored([press(at, True)], at)
    assert events(seen, rules.UNHAPPY_WINDOW) == []
    # then happy citizens: the share falls below 50%, the alert clears 30 minutes (clear_after_min) later
    seen = []
    for minute in range(60, 100):
        at = MONDAY_9 + timedelta(minutes=minute)
        seen += engine.presses_stored([press(at, False)], at)
    cleared = [t for t in seen if t.rule == rules.UNHAPPY_WINDOW]
    assert [t.event for t in cleared] == ["cleared"]
    assert timedelta(minutes=30) <= cleared[0].at - (MONDAY_9 + timedelta(minutes=60)) <= timedelta(minutes=45)


def test_a_short_lull_does_not_clear_and_refire() -> None:
    engine = evaluator('{"*": {"clear_after_min": 20}}')
    seen: list[Transition] = []
    for minute in range(4):
        at = MONDAY_9 + timedelta(minutes=minute)
        seen += engine.presses_stored([press(at, True)], at)
    assert events(seen, rules.UNHAPPY_WINDOW) == ["fired"]
    # the window empties (the timer sees it) for 16 minutes, then it is bad again: the same alert
    seen = engine.tick(MONDAY_9 + timedelta(minutes=20), [])
    for minute in range(36, 40):
        at = MONDAY_9 + timedelta(minutes=minute)
        seen += engine.presses_stored([press(at, True)], at)
    assert events(seen, rules.UNHAPPY_WINDOW) == []
    # the timer clears it once the window has been calm for 20 minutes (empty from 55 on)
    assert events(engine.tick(MONDAY_9 + timedelta(minutes=55), []), rules.UNHAPPY_WINDOW) == []
    assert events(engine.tick(MONDAY_9 + timedelta(minutes=74), []), rules.UNHAPPY_WINDOW) == []
    assert events(engine.tick(MONDAY_9 + timedelta(minutes=75), []), rules.UNHAPPY_WINDOW) == ["cleared"]


def test_quiet_outside_office_hours() -> None:
    engine = evaluator()
    seen: list[Transition] = []
    for start in (SUNDAY_9, MONDAY_9 - timedelta(hours=3)):  # Sunday morning; Monday 06:00 local
        for minute in range(6):
            at = start + timedelta(minutes=minute)
            seen += engine.presses_stored([press(at, True)], at)
    assert seen == []
    devices = [DeviceView("box-017", "17", False, SUNDAY_9 - timedelta(days=2), 500)]
    assert engine.tick(SUNDAY_9, devices) == []
    # the same at 09:00 on Monday fires
    fired = engine.tick(MONDAY_9, devices)
    assert sorted(t.rule for t in fired) == [rules.BOX_OFFLINE, rules.BOX_SILENT, rules.OUTBOX_GROWING]


def test_day_rate_below_threshold_fires_once_a_day() -> None:
    engine = evaluator('{"*": {"unhappy_share": null, "day_min_ratings": 10, "day_rate_below": 0.7}}')
    seen: list[Transition] = []
    for n in range(20):  # every 10 minutes, every other one unsatisfied (50%)
        at = MONDAY_9 + timedelta(minutes=10 * n)
        seen += engine.presses_stored([press(at, n % 2 == 1)], at)
    assert events(seen, rules.DAY_RATE) == ["fired"]
    assert [t.value for t in seen if t.rule == rules.DAY_RATE] == [0.5]  # at the 10th rating
    # the next day starts afresh: condition false, cleared 30 minutes into it
    tuesday = MONDAY_9 + timedelta(days=1)
    assert events(engine.tick(tuesday, []), rules.DAY_RATE) == []
    assert events(engine.tick(tuesday + timedelta(minutes=31), []), rules.DAY_RATE) == ["cleared"]


def test_suppressed_burst_is_misuse() -> None:
    engine = evaluator('{"counter:17": {"suppressed_burst": 5, "suppressed_window_min": 2}}')
    seen: list[Transition] = []
    for n in range(5):
        at = MONDAY_9 + timedelta(seconds=10 * n)
        seen += engine.presses_stored([press(at, False, suppressed=True)], at)
    assert events(seen, rules.SUPPRESSED_BURST) == ["fired"]
    assert events(seen, rules.UNHAPPY_WINDOW) == []  # suppressed presses are no ratings
    assert events(engine.tick(MONDAY_9 + timedelta(minutes=3), []), rules.SUPPRESSED_BURST) == []
    assert events(engine.tick(MONDAY_9 + timedelta(minutes=33), []), rules.SUPPRESSED_BURST) == ["cleared"]


def test_box_rules_fire_and_clear() -> None:
    engine = evaluator('{"*": {"clear_after_min": 5}}')
    last_seen = MONDAY_9 - timedelta(minutes=31)  # 31 office minutes ago, offline since then, 25 waiting
    down = DeviceView("box-017", "17", False, last_seen, 25)
    assert sorted(t.rule for t in engine.tick(MONDAY_9, [down])) == [
        rules.BOX_OFFLINE, rules.BOX_SILENT, rules.OUTBOX_GROWING]
    assert engine.tick(MONDAY_9 + timedelta(minutes=1), [down]) == []  # still true: nothing new
    back = DeviceView("box-017", "17", True, MONDAY_9 + timedelta(minutes=2), 0)
    assert engine.tick(MONDAY_9 + timedelta(minutes=2), [back]) == []
    cleared = engine.tick(MONDAY_9 + timedelta(minutes=8), [back])
    assert sorted((t.rule, t.event) for t in cleared) == [
        (rules.BOX_OFFLINE, "cleared"), (rules.BOX_SILENT, "cleared"), (rules.OUTBOX_GROWING, "cleared")]
    # a box that was offline for a minute only is not an alert; a retired box never is
    blip = DeviceView("box-018", "18", False, MONDAY_9 - timedelta(minutes=1), 0)
    retired = DeviceView("box-019", "18", False, MONDAY_9 - timedelta(days=3), 99, retired=True)
    assert engine.tick(MONDAY_9, [blip, retired]) == []


def test_thresholds_by_site_department_and_counter() -> None:
    places = {"17": Place("17", "TP", "HCM"), "18": Place("18", "XD", "HCM"), "19": Place("19", "XD", "DN")}
    book = RuleBook.parse('{"*": {"unhappy_min_ratings": 6}, "site:HCM": {"unhappy_share": 0.9}, '
                          '"department:XD": {"unhappy_min_ratings": 2}, "counter:17": {"unhappy_share": null}}')
    assert book.for_place(places["17"]).unhappy_share is None
    assert book.for_place(places["17"]).unhappy_min_ratings == 6
    assert (book.for_place(places["18"]).unhappy_share, book.for_place(places["18"]).unhappy_min_ratings) == (0.9, 2)
    assert (book.for_place(places["19"]).unhappy_share, book.for_place(places["19"]).unhappy_min_ratings) == (0.5, 2)
    assert book.for_place(Place("20")).unhappy_share == 0.5
    engine = Evaluator(book, TZ, OfficeHours(), places)
    seen: list[Transition] = []
    for counter in ("17", "18", "19"):
        for minute in range(2):
            at = MONDAY_9 + timedelta(minutes=minute)
            seen += engine.presses_stored([press(at, True, counter)], at)
    assert sorted(t.subject for t in seen if t.rule == rules.UNHAPPY_WINDOW) == ["counter:18", "counter:19"]


@pytest.mark.parametrize(("text", "says"), [
    ("[1]", "should be an object"),
    ('{"room:1": {}}', "scope 'room:1'"),
    ('{"*": {"unhappy_shar": 0.5}}', "unhappy_shar"),
    ('{"*": {"unhappy_share": 2}}', "less than or equal to 1"),
])
def test_bad_rules_are_refused_with_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RuleBook.parse(text)


def test_a_backlog_from_long_ago_fires_nothing_now() -> None:
    engine = evaluator()
    old = MONDAY_9 - timedelta(days=3)
    assert engine.presses_stored([press(old + timedelta(seconds=n), True) for n in range(20)], MONDAY_9) == []
