"""The debouncer and the lockout, run under MicroPython on generated contact timelines."""

from __future__ import annotations

import random
from typing import Any

from tests.helpers.firmware import mp_json

POLL_MS = 5
DEBOUNCE_MS = 50
REGISTER_WITHIN_MS = 60

PRESS, CHORD, STUCK, RELEASE, GESTURE = 0x100, 0x200, 0x300, 0x400, 0x500


def simulate(cases: list[dict[str, Any]]) -> list[list[list[int]]]:
    return mp_json("buttons_timelines.py", data=cases)


def bounce(rng: random.Random, t0: int, closed_mask: int, open_mask: int) -> tuple[list[list[int]], int]:
    """1-20 edges within 1-20 ms starting at t0, ending in closed_mask; returns edges, settle time."""
    n_edges = rng.randint(1, 20)
    span = rng.randint(1, 20)
    times = sorted(rng.randint(t0, t0 + span) for _ in range(n_edges - 1)) + [t0 + span]
    edges = []
    for j, t in enumerate(times):
        # the last edge lands on the final state; before it, alternate
        final_parity = (n_edges - 1 - j) % 2 == 0
        edges.append([t, closed_mask if final_parity else open_mask])
    return edges, t0 + span


def test_bounce_corpus_registers_exactly_one_press() -> None:
    rng = random.Random(2026)
    cases, settles = [], []
    for _ in range(300):
        button = rng.randint(0, 1)
        bit = 1 << button
        press, settled = bounce(rng, 100, bit, 0)
        hold = rng.randint(80, 600)
        release, released = bounce(rng, settled + hold, 0, bit)
        cases.append({"n": 2, "edges": press + release, "end": released + 200, "button": button})
        settles.append(settled)
    for case, settled, events in zip(cases, settles, simulate(cases)):
        presses = [e for e in events if e[1] == PRESS]
        assert len(presses) == 1, (case, events)
        assert presses[0][2] == case["button"]
        assert 0 <= presses[0][0] - settled <= REGISTER_WITHIN_MS, (case, events)
        assert [e[1] for e in events] == [PRESS, RELEASE], (case, events)


def test_glitches_shorter_than_debounce_do_not_count() -> None:
    rng = random.Random(7)
    cases = []
    for _ in range(100):
        t0 = 100
        # noise: a contact closed for less than the debounce window minus one poll
        width = rng.randint(1, DEBOUNCE_MS - 2 * POLL_MS)
        cases.append({"n": 2, "edges": [[t0, 1], [t0 + width, 0]], "end": 400})
    for events in simulate(cases):
        assert events == []


def test_chord_is_not_a_rating() -> None:
    cases = [
        # both pressed within a few ms, released together
        {"n": 2, "edges": [[100, 1], [103, 3], [400, 0]], "end": 600},
        # second joins 30 ms later (before the first settles)
        {"n": 2, "edges": [[100, 2], [130, 3], [400, 0]], "end": 600},
        # four buttons, two middle ones
        {"n": 4, "edges": [[100, 6], [400, 0]], "end": 600},
        # chord, release one, press again while the other is still held: still no rating
        {"n": 2, "edges": [[100, 3], [300, 1], [500, 3], [700, 0]], "end": 900},
    ]
    for events in simulate(cases):
        assert [e for e in events if e[1] == PRESS] == [], events
        assert any(e[1] == CHORD for e in events)


def test_chord_latch_clears_after_release() -> None:
    events = simulate([{"n": 2, "edges": [[100, 3], [400, 0], [600, 2], [800, 0]], "end": 1000}])[0]
    assert [e[1:] for e in events if e[1] == PRESS] == [[PRESS, 1]]


def test_one_button_up_other_down_in_same_poll_is_not_a_chord() -> None:
    for edges in ([[100, 1], [300, 2], [500, 0]], [[100, 2], [300, 1], [500, 0]]):
        events = simulate([{"n": 2, "edges": edges, "end": 700}])[0]
        assert [e[1] for e in events if e[1] in (PRESS, CHORD)] == [PRESS, PRESS], events


def test_held_button_reported_stuck_once() -> None:
    events = simulate(
        [{"n": 2, "edges": [[100, 1], [4000, 0], [4500, 1], [4700, 0]], "end": 5000, "stuck": 1000}]
    )[0]
    kinds = [e[1] for e in events]
    assert kinds == [PRESS, STUCK, RELEASE, PRESS, RELEASE], events
    stuck_at = events[1][0]
    assert stuck_at == 100 + DEBOUNCE_MS + 1000  # counted from the settled press


def test_button_closed_at_boot_is_not_a_press() -> None:
    events = simulate([{"n": 2, "edges": [[0, 1], [300, 0], [500, 1], [700, 0]], "end": 900}])[0]
    assert [e[1] for e in events] == [RELEASE, PRESS, RELEASE]


def test_self_test_gesture_fires_once() -> None:
    events = simulate(
        [{"n": 3, "edges": [[100, 0b101], [6000, 0]], "end": 6200, "gesture": 5000, "stuck": 20000}]
    )[0]
    kinds = [e[1] for e in events]
    assert kinds.count(GESTURE) == 1 and PRESS not in kinds
    assert [e[0] for e in events if e[1] == GESTURE] == [100 + DEBOUNCE_MS + 5000]


def test_lockout_suppresses_presses_after_a_counted_one() -> None:
    # counted at 1000; 1500 and 4999 suppressed; 5000 counts; 5100 suppressed; 9001 counts...
    assert mp_json("buttons_lockout.py") == [True, False, False, True, False, True, False]


def test_polling_and_blinking_allocate_nothing() -> None:
    # heap_lock makes any allocation raise MemoryError: a press cycle must not allocate.
    assert mp_json("buttons_alloc.py") == {"ok": True}
