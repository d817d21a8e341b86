"""A virtual box boots the real firmware; a bounced press is acknowledged and published once."""

import subprocess
import sys
from pathlib import Path

import pytest


def test_bounced_press_lights_feedback_fast_and_publishes_exactly_once(vbox, watcher):
    vbox.wait_for(lambda: any("broker: connected" in line for _, line in vbox.lines), 15)
    settled = vbox.press(1, bounce_edges=9, bounce_ms=15, hold_ms=150, seed=5)
    lit = vbox.wait_for(lambda: [t for t, on in vbox.feedback(settled - 1) if on], 3)
    assert lit[0] - settled <= 0.100, f"feedback after {(lit[0] - settled) * 1000:.0f} ms"
    assert lit[0] >= settled  # not before the contact settled (debounced)
    presses = watcher.wait(1, 10)
    assert len(presses) == 1
    assert (presses[0]["box"], presses[0]["level"], presses[0]["flags"]) == ("box-17", 1, [])
    # The bounces must not have made more presses: nothing else arrives within a second.
    assert len(watcher.wait(2, 1.0)) == 1


def test_mpremote_sees_the_box_flash(vbox):
    mpremote = str(Path(sys.executable).parent / "mpremote")
    url = f"socket://127.0.0.1:{vbox.repl_port}"
    done = subprocess.run([mpremote, "connect", url, "resume", "fs", "ls"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("config.json", "main.py", "board.mpy", "app.mpy"):  # the box runs .mpy
        assert name in done.stdout
    done = subprocess.run([mpremote, "connect", url, "resume", "exec", "import board; print(board.reset_cause())"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and "power_on" in done.stdout, done.stdout + done.stderr
    assert vbox.state == "repl"  # Ctrl-C stopped the firmware, as on a real box


def test_power_cut_reboots_with_power_on_cause(vbox):
    vbox.power_cut()
    vbox.wait_for(lambda: vbox.boots >= 2, 15)
    assert [e.data["cause"] for e in vbox.events if e.kind == "boot"] == ["power_on", "power_on"]
    assert "config.json" in " ".join(vbox.flash_ls())


@pytest.mark.parametrize("at_write", [1, 3])
def test_power_cut_at_a_flash_write_loses_no_counted_press(vbox, watcher, at_write):
    vbox.wait_for(lambda: any("broker: connected" in line for _, line in vbox.lines), 15)
    vbox.power_cut(at_write=at_write)
    vbox.press(0, seed=1)
    vbox.wait_event("reset", why="power", timeout=10)
    vbox.wait_for(lambda: vbox.boots >= 2, 15)
    # Whatever reached flash before the cut is published after the reboot, once.
    lit = [t for t, on in vbox.feedback() if on]
    if lit:  # the citizen saw "counted": the press must arrive
        assert len(watcher.wait(1, 15)) == 1
