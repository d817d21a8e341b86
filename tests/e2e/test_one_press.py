"""One press travels from a virtual box, through Mosquitto and the collector, to a supervisor's
HTTP query. Real firmware under the real MicroPython unix port, real broker, real database."""

import time
from typing import Any

import pytest

from simulator.box import VirtualBox, make_config

BOX, COUNTER = "box-017", "17"  # in the test registry (tests.helpers.registry), scale sat2
SATISFIED, UNSATISFIED = 1, 0  # levels of the sat2 scale
LOCKOUT_MS = 600  # short, so that the second press of the test is not suppressed


@pytest.fixture
def virtual_box(broker, stack_dir) -> Any:
    password = broker.add_box(BOX, "e2e-box-password")
    config = make_config(BOX, COUNTER, password=password, broker_port=broker.port,
                         levels=[UNSATISFIED, SATISFIED], timings={"lockout_ms": LOCKOUT_MS})
    box = VirtualBox(config, stack_dir / "box", seed=17)
    box.start()
    yield box
    box.stop()


def counts_by_level(collector) -> dict[int, int]:
    answer = collector.get(f"/api/v1/counters/{COUNTER}/satisfaction")
    assert answer.status_code == 200, answer.text
    return {entry["level"]: entry["count"] for entry in answer.json()["levels"]}


def stored_presses(collector) -> list[dict]:
    answer = collector.get("/api/v1/presses", counter=COUNTER)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_bouncing_press_is_stored_once_with_its_level(broker, collector_process, virtual_box, wait_for):
    collector = collector_process()

    # A contact that bounces for 15 ms must still make exactly one rating.
    settled = virtual_box.press(1, bounce_edges=9, bounce_ms=15, hold_ms=200, seed=3)
    wait_for(lambda: len(stored_presses(collector)) >= 1, timeout=20, what="the press to be stored")

    # Presses leave the box oldest first, so once a later press is stored, any extra press the
    # bounce might have produced would be stored too: a sentinel makes "exactly one" checkable
    # without sleeping.
    time.sleep(max(0.0, settled + LOCKOUT_MS / 1000 + 0.3 - time.time()))  # the lockout is a fixed time
    sentinel_settled = virtual_box.press(0, bounce_edges=3, bounce_ms=5, hold_ms=100, seed=4)
    assert sentinel_settled - settled > LOCKOUT_MS / 1000
    wait_for(lambda: len(stored_presses(collector)) >= 2, timeout=20, what="the sentinel press to be stored")

    presses = sorted(stored_presses(collector), key=lambda p: p["seq"])
    assert [p["level"] for p in presses] == [SATISFIED, UNSATISFIED]
    assert presses[1]["seq"] == presses[0]["seq"] + 1
    assert all(p["box"] == BOX and p["counter"] == COUNTER for p in presses)
    assert counts_by_level(collector) == {UNSATISFIED: 1, SATISFIED: 1}

    # The citizen saw the feedback within 100 ms of the contact settling.
    lit = [t for t, on in virtual_box.feedback(settled - 0.05) if on]
    assert lit and lit[0] - settled <= 0.100, f"feedback {1000 * (lit[0] - settled):.0f} ms after settle"
