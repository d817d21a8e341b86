# Non-blocking LED and buzzer patterns, advanced by tick(now) from the poll loop.
# A counted press looks and sounds the same whatever the button: an officer watching the box
# must not learn how the citizen rated.
import time

from micropython import const

# A pattern is a tuple of durations in ms, alternating on, off, on, off...
_COUNTED = const((1500,))                  # feedback LED on 1.5 s
_COUNTED_BEEP = const((120,))              # one short beep
_SUPPRESSED = const((80, 120, 80, 120, 80))  # three quick flashes: "not counted, wait"
_SUPPRESSED_BEEP = const(())               # silent: mashing should not be rewarded with noise
_REFUSED = const((700, 300, 700))          # two long flashes: "not counted", the box cannot store it
_REFUSED_BEEP = const((700,))              # one long beep, unlike the short "counted" one

# Status LED (technician), repeated until changed.
_ST_NO_WIFI = const((100, 1900))           # short blip every 2 s
_ST_NO_BROKER = const((500, 500))          # 1 Hz blink
_ST_ONLINE = const((60000,))               # steady on
_ST_STUCK = const((100, 100, 100, 1700))   # double blip: a button is stuck

_BEEP_HZ = const(2700)  # typical piezo resonance: loudest for the least current


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
        self.buzzer = Blinker(lambda on: board.set_buzzer(_BEEP_HZ if on else 0))
        self.status = Blinker(lambda on: board.set_led(1, on))

    def counted(self, now):
        self.led.play(_COUNTED, now)
        self.buzzer.play(_COUNTED_BEEP, now)

    def suppressed(self, now):
        self.led.play(_SUPPRESSED, now)
        self.buzzer.play(_SUPPRESSED_BEEP, now)

    def refused(self, now):
        self.led.play(_REFUSED, now)
        self.buzzer.play(_REFUSED_BEEP, now)

    def show_status(self, stuck, wifi, online, now):
        """The technician's status LED: a button stuck, else no Wi-Fi, no broker, or online."""
        p = _ST_STUCK if stuck else _ST_NO_WIFI if not wifi else _ST_NO_BROKER if not online else _ST_ONLINE
        self.status.play(p, now, repeat=True)

    def tick(self, now):
        self.led.tick(now)
        self.buzzer.tick(now)
        self.status.tick(now)
