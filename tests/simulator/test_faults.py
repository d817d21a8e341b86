"""Single-box faults: Wi-Fi drop and recovery, the host-side watchdog, NTP answers."""

import time

from simulator.box import VirtualBox
from tests.helpers.simulator import box_config, connected


def test_wifi_drop_and_recovery_loses_nothing(broker, workdir, watcher):
    with VirtualBox(box_config(broker, lockout_ms=600, backoff_max_s=2), workdir / "box-17") as box:
        box.wait_for(lambda: connected(box), 15)
        box.wait_for(lambda: box.ntp_answers > 0, 10)
        box.wifi(False)
        box.wait_for(lambda: any("connection lost" in line or "wifi" in line for _, line in box.lines[-5:]), 10)
        settled = []
        for i in range(3):
            settled.append(box.press(i % 2, seed=i))
            box.wait_for(lambda: [t for t, on in box.feedback(settled[-1]) if on], 3)  # seen while offline
            time.sleep(1.7)  # past the lockout and the 1.5 s feedback light
        assert watcher.wait(1, 2.0) == []  # nothing can leave while the link is down
        box.wifi(True)
        got = watcher.wait(3, 30)
        assert [(m["seq"], m["level"]) for m in got] == [(1, 0), (2, 1), (3, 0)]
        assert all(m["clock"] == "ntp" and abs(m["t"] / 1000 - s) < 0.2 for m, s in zip(got, settled))
        assert len(watcher.wait(4, 1.0)) == 3  # and once only


def test_host_watchdog_resets_a_frozen_box_and_nothing_is_lost(broker, workdir, watcher):
    with VirtualBox(box_config(broker, watchdog_ms=2000, lockout_ms=600), workdir / "box-17") as box:
        box.wait_for(lambda: connected(box), 15)
        box.wifi(False)  # the press stays in the outbox when the firmware freezes
        settled = box.press(1, seed=1)
        box.wait_for(lambda: [t for t, on in box.feedback(settled) if on], 3)
        frozen = time.time()
        box.hang()
        off = box.wait_event("off", since=frozen, timeout=10)
        assert off.data["why"] == "watchdog"
        assert 2.0 < off.t - frozen < 2 * 1.25 + 1.5  # 1.25 x the watchdog timeout + 0.5 s after the last sign
        box.wait_event("boot", since=frozen, cause="watchdog", timeout=15)
        box.wifi(True)
        got = watcher.wait(1, 20)
        assert [(m["seq"], m["level"]) for m in got] == [(1, 1)]


def test_a_box_without_ntp_gets_no_answer(broker, workdir):
    with VirtualBox(box_config(broker), workdir / "box-17", ntp=False) as box:
        box.wait_for(lambda: any("ntp: no answer" in line for _, line in box.lines), 15)
        assert box.ntp_answers == 0
        box.ntp(True)
        box.wait_for(lambda: any("anchored by ntp" in line for _, line in box.lines), 15)
