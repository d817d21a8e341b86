# The technician's self-test (both end buttons held 5 s), imported by the app only when it runs.
from micropython import const

_PATTERN = const((300, 200, 300, 200, 300))  # LED and buzzer together, unlike any press pattern


def run(box, seq, now):
    """Lights and beeps, and prints the box's status; seq: the test press just stored (0 if it
    was refused)."""
    box.fb.led.play(_PATTERN, now)
    box.fb.buzzer.play(_PATTERN, now)
    box.log("self-test: seq=%d wifi=%s broker=%s outbox=%d clock=%s err=%s" % (
        seq, box.board.wifi_connected(), box.online(), box.ob.pending, box.clock.source, box.err))
