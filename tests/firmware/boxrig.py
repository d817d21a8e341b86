# ruff: noqa: UP031 (MicroPython code)
# Whole boxes inside one MicroPython process (app.Box on an in-memory board), for tests that need
# to look inside: poll-loop timing, a clock jumping hours ahead, power cuts at a block write.
import asyncio
import time

import app
import config


class MemBoard:
    """The board as an object: tests set `mask` (raw contacts) and `wifi`, and read `changes`
    ((ticks_ms, what) of every output change) and `feeds`."""

    def __init__(self):
        self.mask = 0
        self.wifi = True
        self.leds = [False, False]
        self.buzzer = 0
        self.changes = []
        self.feeds = 0
        self.wdt_ms = None
        self.cause = "power_on"

    def init(self, pins):
        pass

    def read_buttons(self):
        return self.mask

    def set_led(self, index, on):
        if self.leds[index] != bool(on):
            self.leds[index] = bool(on)
            self.changes.append((time.ticks_ms(), "led%d %d" % (index, 1 if on else 0)))

    def set_buzzer(self, freq):
        if self.buzzer != freq:
            self.buzzer = freq
            self.changes.append((time.ticks_ms(), "buzzer %d" % freq))

    def wifi_connect(self, ssid, password):
        pass

    def wifi_connected(self):
        return self.wifi

    def wifi_rssi(self):
        return -50 if self.wifi else None

    def watchdog_start(self, ms):
        self.wdt_ms = ms

    def watchdog_feed(self):
        self.feeds += 1

    def reset_cause(self):
        return self.cause

    def reset(self):
        raise SystemExit(3)

    def unique_id(self):
        return "0a0b0c0d0e0f"


def make(cfg, root, board=None):
    """A Box on a MemBoard whose log lines are kept in box.lines (and not printed)."""
    lines = []

    def log(*args):
        lines.append(" ".join(str(a) for a in args))

    box = app.Box(config.validate(cfg), board or MemBoard(), root, log=log)
    box.lines = lines  # type: ignore[attr-defined]  # the rig's own record of the log
    return box


def has(box, needle):
    for line in box.lines:
        if needle in line:
            return True
    return False


async def until(pred, timeout_ms=10000, what="condition"):
    start = time.ticks_ms()
    while not pred():
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep_ms(5)


async def press(box, button, hold_ms=None):
    """Close a contact cleanly, wait for the box to register it, release, wait for the release."""
    t = box.t
    n = len(box.lines)
    box.board.mask = 1 << button
    await until(lambda: any("press seq=" in ln or "error:" in ln for ln in box.lines[n:]), 2000, "press")
    if hold_ms:
        await asyncio.sleep_ms(hold_ms)
    box.board.mask = 0
    rel = "release button=%d" % button
    await until(lambda: any(ln == rel for ln in box.lines[n:]), 2000, "release")
    await asyncio.sleep_ms(t["poll_ms"])
    for ln in box.lines[n:]:
        if "press seq=" in ln:
            return int(ln.split("seq=")[1].split()[0])
    return 0


def shown(box):
    """seqs of the presses this box told the citizen it stored (counted or suppressed)."""
    return [int(ln.split("seq=")[1].split()[0]) for ln in box.lines if ln.startswith("press seq=")]
