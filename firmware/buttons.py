# Button logic, no hardware: feed the raw contact mask and a ticks_ms time, read events.
# Polling with a stability window is the proven cure for bouncing contacts (interrupts fire
# 8-10 times on one release). Steady state allocates nothing: state is small ints in
# preallocated lists, events are small ints in a ring.
import time

from micropython import const

EV_NONE = const(-1)
# An event is KIND | button index.
EV_PRESS = const(0x100)    # a lone button settled closed: a rating
EV_CHORD = const(0x200)    # a button settled closed while another was down: no rating
EV_STUCK = const(0x300)    # a button has been held longer than stuck_ms (once per hold)
EV_RELEASE = const(0x400)  # a button settled open
EV_GESTURE = const(0x500)  # both end buttons held GESTURE_MS: technician self-test (index 0)
KIND_MASK = const(0xF00)
INDEX_MASK = const(0xFF)

GESTURE_MS = 5000
# Tests replace this with the ESP32's 2**30-period arithmetic (the unix port's period is larger).
ticks_diff = time.ticks_diff
_RING = const(16)  # events waiting to be read; the app reads them every poll


class Debouncer:
    def __init__(self, n, debounce_ms=50, stuck_ms=10000, gesture_ms=GESTURE_MS):
        self.n = n
        self.debounce_ms = debounce_ms
        self.stuck_ms = stuck_ms
        self.gesture_ms = gesture_ms
        self.raw = 0            # last raw mask seen
        self.stable = 0         # debounced mask
        self._changed = [0] * n  # ticks of each button's last raw edge
        self._down_at = [0] * n  # ticks when each button settled closed
        self._stuck_told = 0     # mask of buttons already reported stuck this hold
        self._chorded = False    # a chord happened: nothing counts until all are released
        self._gesture_mask = (1 << 0) | (1 << (n - 1))
        self._gesture_told = False
        self._ring = [0] * _RING
        self._head = 0
        self._count = 0
        self._started = False

    def _emit(self, ev):
        if self._count < _RING:  # a full ring drops: cannot happen when read every poll
            self._ring[(self._head + self._count) % _RING] = ev
            self._count += 1

    def event(self):
        """Next event, or EV_NONE."""
        if not self._count:
            return EV_NONE
        ev = self._ring[self._head]
        self._head = (self._head + 1) % _RING
        self._count -= 1
        return ev

    def update(self, mask, now):
        """mask: raw contacts, bit i = button i closed. now: time.ticks_ms()."""
        if not self._started:
            # Buttons already closed at boot (stuck, or a technician) must not count as presses.
            self._started = True
            self.raw = self.stable = mask
            for i in range(self.n):
                self._changed[i] = now
                self._down_at[i] = now
            self._chorded = mask != 0
            return
        diff = ticks_diff
        changed = mask ^ self.raw
        if changed:
            for i in range(self.n):
                if changed & (1 << i):
                    self._changed[i] = now
            self.raw = mask
        # Releases first, so that A up and B down settling in the same poll is not a chord.
        for closing in (0, 1):
            for i in range(self.n):
                bit = 1 << i
                if (self.stable ^ mask) & bit and bool(mask & bit) == bool(closing) \
                        and diff(now, self._changed[i]) >= self.debounce_ms:
                    self._settle(i, bit, closing, now)
                elif closing and self.stable & bit and not self._stuck_told & bit \
                        and diff(now, self._down_at[i]) >= self.stuck_ms:
                    self._stuck_told |= bit
                    self._emit(EV_STUCK | i)
        g = self._gesture_mask
        if self.stable & g == g and self.n > 1:
            if not self._gesture_told and diff(now, self._gesture_since()) >= self.gesture_ms:
                self._gesture_told = True
                self._emit(EV_GESTURE)
        else:
            self._gesture_told = False

    def _gesture_since(self):
        a = self._down_at[0]
        b = self._down_at[self.n - 1]
        return b if ticks_diff(b, a) > 0 else a

    def _settle(self, i, bit, closed, now):
        if closed:
            others = (self.stable | self.raw) & ~bit
            self.stable |= bit
            self._down_at[i] = now
            if others or self._chorded:
                self._chorded = True
                self._emit(EV_CHORD | i)
            else:
                self._emit(EV_PRESS | i)
        else:
            self.stable &= ~bit
            self._stuck_told &= ~bit
            if not self.stable:
                self._chorded = False
            self._emit(EV_RELEASE | i)


class Lockout:
    """After a counted press, presses within lockout_ms are suppressed (mashing, or an officer
    pressing after the citizen). Suppressed presses do not extend the lockout."""

    def __init__(self, lockout_ms):
        self.lockout_ms = lockout_ms
        self._last = None

    def counts(self, up):
        """up: uptime ms of the press. True if it counts, False if suppressed."""
        if self._last is not None and up - self._last < self.lockout_ms:
            return False
        self._last = up
        return True
