"""LED/buzzer patterns and the non-wrapping uptime clock, under MicroPython."""

from __future__ import annotations

from fwtools import mp_json

PLAY = r"""
import json, feedback, selftest, startup
class Board:
    def __init__(self):
        self.log = []
    def set_led(self, i, on):
        self.log.append([self.now, "led%d" % i, bool(on)])
    def set_buzzer(self, f):
        self.log.append([self.now, "buzzer", f])
b = Board()
b.now = 0
fb = feedback.Feedback(b)
b.log = []
def run(action, until):
    action(b.now)
    for t in range(b.now, b.now + until, 5):
        b.now = t
        fb.tick(t)
    b.now += until
out = {}
class Box:  # what the self-test reads of the box
    def __init__(self):
        self.fb, self.board, self.err, self.lines = fb, self, None, []
        self.ob = self.clock = self
        self.pending, self.source = 0, "none"
    def wifi_connected(self):
        return True
    def online(self):
        return True
    def log(self, line):
        self.lines.append(line)
box = Box()
actions = {"counted": fb.counted, "suppressed": fb.suppressed, "test": lambda now: selftest.run(box, 7, now)}
for name in ("counted", "suppressed", "test"):
    b.log = []
    start = b.now
    run(actions[name], 3000)
    out[name] = [[t - start, what, v] for t, what, v in b.log]
out["test_lines"] = box.lines
b.log = []
start = b.now
led = feedback.Blinker(lambda on: b.set_led(1, on))  # as startup.blink_forever() drives it
led.play(startup.error_code_pattern(3), b.now, repeat=True)
for t in range(b.now, b.now + 4000, 5):
    b.now = t
    led.tick(t)
out["code3"] = [[t - start, what, v] for t, what, v in b.log if what == "led1"]
print(json.dumps(out))
"""


def test_counted_suppressed_and_test_patterns() -> None:
    out = mp_json(PLAY)
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
    blinks = mp_json(PLAY)["code3"]
    ons = [t for t, _, v in blinks if v]
    assert ons[:4] == [0, 500, 1000, 2750]  # three blinks, a 1.5 s pause, again


CLOCK = r"""
import json, clock
PERIOD = 1 << 30  # the ESP32's ticks_ms period
def esp32_diff(a, b):
    return ((a - b + (PERIOD >> 1)) & (PERIOD - 1)) - (PERIOD >> 1)
now = [PERIOD - 1000]
c = clock.Clock(lambda: now[0], esp32_diff)
ups = []
for step in range(40):  # 40 days in 6-hour steps, wrapping ticks three times
    now[0] = (now[0] + 6 * 3600 * 1000) % PERIOD
    ups.append(c.up())
before = c.utc_at(5)
c.set_anchor("sync", 1795000000000, up=1000)
second = c.set_anchor("ntp", 1, up=2)
print(json.dumps({"ups": ups, "before": before, "t": c.utc_at(61000), "src": c.source, "second": second}))
"""


def test_uptime_survives_tick_wrap_and_anchor_is_once_per_boot() -> None:
    out = mp_json(CLOCK)
    assert out["ups"] == [6 * 3600 * 1000 * (i + 1) for i in range(40)]
    assert out["before"] is None
    assert out["t"] == 1795000000000 + 60000 and out["src"] == "sync" and out["second"] is False
