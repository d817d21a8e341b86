# LED/buzzer patterns played on a recording board.
# (run by tests/firmware/test_fw_feedback.py)
import json

import feedback
import selftest
import startup


class Board:
    def __init__(self):
        self.log = []
        self.now = 0

    def set_led(self, i, on):
        self.log.append([self.now, f"led{i}", bool(on)])

    def set_buzzer(self, f):
        self.log.append([self.now, "buzzer", f])


b = Board()
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
