"""Whole virtual boxes: the real firmware (main.py -> app.py) under MicroPython with a fake board,
against a real Mosquitto, seen from the collector's side."""

from __future__ import annotations

import threading
import time

from schemas.contract import schema_errors
from tests.helpers.firmware import Listener, SntpServer, box_config

BEACON_T = 1795000000000


def is_press(t: str, p: object) -> bool:
    return t == "rating/box-017/press"


def valid(kind: str, payload: dict) -> dict:
    assert schema_errors(kind, payload) == [], payload
    return payload


def test_press_held_until_clock_beacon_then_published(make_box, mosquitto, listener: Listener) -> None:
    box = make_box(box_config(mosquitto.port)).start()
    box.wait_line("broker: connected")
    _, online = listener.wait(lambda t, p: t == "rating/box-017/presence")
    assert valid("presence", online)["state"] == "online"
    _, status = listener.wait(lambda t, p: t == "rating/box-017/status")
    assert valid("status", status)["clock"] == "none"

    assert box.press(1) == "press seq=1 level=1"
    listener.publish("rating/clock", {"v": 1, "t": BEACON_T})
    box.wait_line("clock: anchored by sync")
    _, press = listener.wait(is_press)
    valid("press", press)
    assert (press["seq"], press["level"], press["flags"], press["clock"]) == (1, 1, [], "sync")
    assert press["t"] < BEACON_T  # pressed before the beacon, timed from the box's own ticks
    assert BEACON_T - press["t"] < 10000


def test_lockout_marks_fast_presses_suppressed(make_box, mosquitto, listener: Listener) -> None:
    box = make_box(box_config(mosquitto.port, timings={"lockout_ms": 60000, "keepalive_s": 5})).start()
    box.wait_line("broker: connected")
    listener.publish("rating/clock", {"v": 1, "t": BEACON_T})
    box.wait_line("clock: anchored")
    assert box.press(0) == "press seq=1 level=0"
    assert box.press(1) == "press seq=2 level=1 suppressed"
    first, second = listener.presses(2)
    assert (first["flags"], second["flags"]) == ([], ["suppressed"])
    assert valid("press", second)["t"] > first["t"]


def test_broker_outage_presses_kept_and_delivered_in_order(make_box, mosquitto, listener: Listener) -> None:
    box = make_box(box_config(mosquitto.port, timings={"lockout_ms": 0, "keepalive_s": 5})).start()
    box.wait_line("broker: connected")
    listener.publish("rating/clock", {"v": 1, "t": BEACON_T})
    box.wait_line("clock: anchored")
    listener.close()
    mosquitto.stop(kill=True)
    box.wait_line("connection lost")
    for i in range(4):
        box.press(i % 2)
    mosquitto.start()
    lst = Listener(mosquitto.port)
    try:
        box.wait_line("broker: connected", timeout=30)
        presses = lst.presses(4)
        assert [p["seq"] for p in presses] == [1, 2, 3, 4]
        assert [p["level"] for p in presses] == [0, 1, 0, 1]
        assert all(valid("press", p)["clock"] == "sync" for p in presses)
    finally:
        lst.close()


def test_power_cut_before_anchor_sends_old_boot_untimed(make_box, mosquitto, listener: Listener) -> None:
    box = make_box(box_config(mosquitto.port, timings={"lockout_ms": 0, "keepalive_s": 5}))
    box.start()
    box.wait_line("broker: connected")
    box.press(0)
    box.press(1)
    box.kill()  # power cut: never anchored, never sent
    _, will = listener.wait(lambda t, p: t == "rating/box-017/presence" and p["state"] == "offline")
    assert valid("presence", will)["boot"] == 1
    box.start()
    box.wait_line("boot 2 ")
    old = listener.presses(2)
    assert [(p["seq"], p["boot"], p["t"], p["clock"]) for p in old] == [
        (1, 1, None, "none"),
        (2, 1, None, "none"),
    ]
    assert all(valid("press", p) for p in old)
    box.press(0)  # this boot's press waits for this boot's anchor
    listener.publish("rating/clock", {"v": 1, "t": BEACON_T})
    [new] = listener.presses(1)
    assert (new["seq"], new["boot"], new["clock"]) == (3, 2, "sync")


def test_ntp_anchor_and_self_test_gesture(make_box, mosquitto, listener: Listener, sntp: SntpServer) -> None:
    sntp.offset_s = BEACON_T / 1000 - time.time()  # the NTP server says it is BEACON_T now
    cfg = box_config(mosquitto.port, ntp=sntp.address)
    box = make_box(cfg)
    box.start()
    box.wait_all("clock: anchored by ntp", "broker: connected")
    t0, wall0 = time.monotonic(), time.time()
    box.set_buttons(0b11)  # both end buttons: no rating, but a self-test after 5 s
    box.wait_line("chord")
    line = box.wait_line("self-test:", timeout=15)
    assert time.monotonic() - t0 >= 4.9
    assert "seq=1" in line and "broker=True" in line
    box.set_buttons(0)
    [press] = listener.presses(1)
    assert (valid("press", press)["flags"], press["clock"]) == (["test"], "ntp")
    # the test press is made 5 s after the buttons went down, in the NTP server's time
    assert abs(press["t"] - (wall0 + 5 + sntp.offset_s) * 1000) < 500


def test_stuck_button_reported_once_and_release_noticed(make_box, mosquitto, listener: Listener) -> None:
    box = make_box(box_config(mosquitto.port, timings={"stuck_ms": 300, "keepalive_s": 5})).start()
    box.wait_line("broker: connected")
    box.set_buttons(1)
    box.wait_line("press seq=1")
    box.wait_line("button 0 stuck")
    box.set_buttons(0)
    box.wait_line("button 0 released")


def test_technician_check_reads_the_running_box(tmp_path, mosquitto) -> None:
    import json

    from technician.inspect_box import _STATE
    from tests.helpers.firmware import run_mp

    (tmp_path / "config.json").write_text(json.dumps(box_config(mosquitto.port)))
    lines = run_mp("app_check.py", cwd=tmp_path, data={"state": _STATE}).strip().splitlines()
    assert json.loads(lines[-2])["dropped"] == ["startup", "config", "ntp", "selftest", "mqtt_tls"]
    state = json.loads(lines[-1])
    assert "app_error" not in state, state
    assert state["firmware_running"] is True and state["broker"] is True
    assert (state["last_error"], state["outbox_live"], state["presses"], state["boot"]) == (None, 0, 0, 1)


def test_a_press_the_broker_acked_is_sent_again_until_the_collector_confirms_it(make_box, mosquitto) -> None:
    # The broker PUBACKs and then loses the press (restarted without its persistence file, say):
    # the box still holds it, sends it again on its next connection and when the collector's
    # beacon shows the collector up without a confirmation; it lets it go once confirmed.
    silent = Listener(mosquitto.port, confirm=False)  # sees presses, confirms nothing
    try:
        timings = {"lockout_ms": 0, "keepalive_s": 5, "backoff_max_s": 1, "confirm_wait_s": 2}
        box = make_box(box_config(mosquitto.port, timings=timings)).start()
        box.wait_line("broker: connected")
        silent.publish("rating/clock", {"v": 1, "t": BEACON_T})
        box.wait_line("clock: anchored")
        box.press(0)
        assert silent.presses(1)[0]["seq"] == 1  # PUBACKed by the broker, not confirmed
        mosquitto.stop(kill=True)
        mosquitto.start()
        box.wait_line("broker: connected", timeout=30)
        box.wait_line("sent seq=1")  # the new connection: sent again, same seq
    finally:
        silent.close()
    confirming = Listener(mosquitto.port)
    beacons = threading.Event()

    def beacon() -> None:  # as the collector does, every few seconds while it is up
        while not beacons.wait(0.5):
            confirming.publish("rating/clock", {"v": 1, "t": BEACON_T})

    threading.Thread(target=beacon, daemon=True).start()
    try:
        box.wait_line("resend from seq=1", timeout=15)  # unconfirmed for confirm_wait_s (2 s)
        _, again = confirming.wait(lambda t, p: t == "rating/box-017/press" and p["seq"] == 1, timeout=10)
        assert valid("press", again)["level"] == 0
        box.press(1)
        assert confirming.presses(1)[0]["seq"] == 2  # seq 1 was confirmed and is not sent again
    finally:
        beacons.set()
        confirming.close()
