# Uptime that does not wrap, and this boot's time anchor (uptime, UTC). Presses carry only
# uptime; their UTC time is anchor_utc + (up - anchor_up), so the box never needs a real-time clock.
import time

SRC_NONE = "none"
SRC_NTP = "ntp"
SRC_SYNC = "sync"


class Clock:
    def __init__(self, ticks_ms=time.ticks_ms, ticks_diff=time.ticks_diff):
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._last = ticks_ms()
        self._up = 0
        self.source = SRC_NONE
        self.anchor_up = 0
        self.anchor_utc = 0

    def up(self):
        """Milliseconds since boot. ticks_ms wraps at 2**30 (12.4 days); summing ticks_diff does
        not, as long as this is called at least every 6 days (the poll loop calls it constantly)."""
        now = self._ticks_ms()
        self._up += self._ticks_diff(now, self._last)
        self._last = now
        return self._up

    def anchored(self):
        return self.source != SRC_NONE

    def set_anchor(self, source, utc_ms, up=None):
        """Take the boot's anchor. Only the first one counts, so every press of a boot is timed
        against the same anchor. Returns True if this call set it."""
        if self.source != SRC_NONE:
            return False
        self.anchor_up = self.up() if up is None else up
        self.anchor_utc = utc_ms
        self.source = source
        return True

    def utc_at(self, up):
        """UTC ms of an uptime of this boot, or None before the anchor."""
        if self.source == SRC_NONE:
            return None
        return self.anchor_utc + (up - self.anchor_up)


def utc_from_anchor(anchor, up):
    """anchor: (up, utc, source) of some boot; UTC ms of uptime `up` in that boot."""
    return anchor[1] + (up - anchor[0])
