"""LED/buzzer patterns and the non-wrapping uptime clock, under MicroPython."""

from __future__ import annotations

from tests.helpers.firmware import mp_json


def test_counted_suppressed_and_test_patterns() -> None:
    out = mp_json("feedback_play.py")
    # counted: LED on 1.5 s and one short beep, the same whatever the level (no level argument)
    assert out["counted"] == [
        [0, "led0", True],
        [0, "buzzer", 2700],
        [120, "buzzer", 0],
        [1500, "led0", False],
    ]
    # suppressed: three quick flashes, silent; distinct from counted
    assert [e for e in out["suppressed"] if e[1] == "led0"] == [
        [0, "led0", True],
        [80, "led0", False],
        [200, "led0", True],
        [280, "led0", False],
        [400, "led0", True],
        [480, "led0", False],
    ]
    assert not [e for e in out["suppressed"] if e[1] == "buzzer"]
    # self-test: LED and buzzer together, and a status line
    assert {e[1] for e in out["test"]} == {"led0", "buzzer"}
    assert out["test_lines"] == ["self-test: seq=7 wifi=True broker=True outbox=0 clock=none err=None"]


def test_error_code_blinks_code_times_then_pauses() -> None:
    blinks = mp_json("feedback_play.py")["code3"]
    ons = [t for t, _, v in blinks if v]
    assert ons[:4] == [0, 500, 1000, 2750]  # three blinks, a 1.5 s pause, again


def test_uptime_survives_tick_wrap_and_anchor_is_once_per_boot() -> None:
    out = mp_json("feedback_clock.py")
    assert out["ups"] == [6 * 3600 * 1000 * (i + 1) for i in range(40)]
    assert out["before"] is None
    assert out["t"] == 1795000000000 + 60000 and out["src"] == "sync" and out["second"] is False
