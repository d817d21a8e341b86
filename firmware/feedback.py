# Non-blocking LED and buzzer patterns, advanced by tick(now) from the poll loop.
# A counted press looks and sounds the same whatever the button: an officer watching the box
# must not learn how the citizen rated.
import time

# A pattern is a tuple of durations in ms, alternating on, off, on, off...
COUNTED = (1500,)                 # feedback LED on 1.5 s
COUNTED_BEEP = (120,)             # one short beep
SUPPRESSED = (80, 120, 80, 120, 80)  # three quick flashes: "not counted, wait"
SUPPRESSED_BEEP = ()              # silent: mashing should not be rewarded with noise
REFUSED = (700, 300, 700)         # two long flashes: "not counted", the box cannot store it
REFUSED_BEEP = (700,)             # one long beep, unlike the short "counted" one
TEST = (300, 200, 300, 200, 300)  # self-test: LED and buzzer together
TEST_BEEP = (300, 200, 300, 200, 300)

# Status LED (technician), repeated until changed.
ST_NO_WIFI = (100, 1900)          # short blip every 2 s
ST_NO_BROKER = (500, 500)         # 1 Hz blink
ST_ONLINE = (60000,)              # steady on
ST_STUCK = (100, 100, 100, 1700)  # double blip: a button is stuck

BEEP_HZ = 2700  # typical piezo resonance: loudest for the least current


def error_code_pattern(code):
    """code blinks of 250 ms then a 1.5 s pause, repeated: config error code `code`."""
    p = []
    for _ in range(code):
        p.append(250)
        p.append(250)
    p[-1] = 1500
    return tuple(p)


class Blinker:
    """Plays a pattern on one output; set_fn(on) switches it."""

    def __init__(self, set_fn):
        self._set = set_fn
        self._pattern = ()
        self._step = 0
        self._at = 0
        self._repeat = False
        self._on = False
        set_fn(False)

    def play(self, pattern, now, repeat=False):
        if repeat and pattern is self._pattern and self._repeat:
            return  # already playing: do not restart the cycle
        self._pattern = pattern
        self._repeat = repeat
        self._step = 0
        self._at = now
        self._apply(len(pattern) > 0)

    def busy(self):
        return self._step < len(self._pattern)

    def _apply(self, on):
        if on != self._on:
            self._on = on
            self._set(on)

    def tick(self, now):
        p = self._pattern
        while self._step < len(p) and time.ticks_diff(now, self._at) >= p[self._step]:
            # Steps start when seen (within one poll): simpler than exact ticks arithmetic.
            self._at = now
            self._step += 1
            if self._step == len(p) and self._repeat:
                self._step = 0
            if self._step < len(p):
                self._apply(self._step % 2 == 0)
            else:
                self._apply(False)


class Feedback:
    """The three outputs of the box: citizen LED, buzzer, technician's status LED."""

    def __init__(self, board):
        self.led = Blinker(lambda on: board.set_led(0, on))
        self.buzzer = Blinker(lambda on: board.set_buzzer(BEEP_HZ if on else 0))
        self.status = Blinker(lambda on: board.set_led(1, on))

    def counted(self, now):
        self.led.play(COUNTED, now)
        self.buzzer.play(COUNTED_BEEP, now)

    def suppressed(self, now):
        self.led.play(SUPPRESSED, now)
        self.buzzer.play(SUPPRESSED_BEEP, now)

    def refused(self, now):
        self.led.play(REFUSED, now)
        self.buzzer.play(REFUSED_BEEP, now)

    def test(self, now):
        self.led.play(TEST, now)
        self.buzzer.play(TEST_BEEP, now)

    def show_status(self, pattern, now):
        self.status.play(pattern, now, repeat=True)

    def tick(self, now):
        self.led.tick(now)
        self.buzzer.tick(now)
        self.status.tick(now)
