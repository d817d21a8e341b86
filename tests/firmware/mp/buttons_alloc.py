# The debouncer allocates nothing in steady state.
# (run by tests/firmware/test_fw_buttons.py)
import gc

import buttons
import feedback
import micropython


class Board:
    def set_led(self, i, on):
        pass

    def set_buzzer(self, f):
        pass


fb = feedback.Feedback(Board())
fb.show_status(0, True, False, 0)  # no broker: 1 Hz blink
d = buttons.Debouncer(4, 50, 10000)
for t in range(0, 2000, 5):
    d.update(1 if 100 <= t < 600 else 0, t)
    while d.event() != buttons.EV_NONE:
        pass
gc.collect()
before = gc.mem_alloc()
micropython.heap_lock()
try:
    for t in range(2000, 6000, 5):
        d.update(2 if 3000 <= t < 3400 else 0, t)
        fb.tick(t)  # the status LED blinks throughout
        while d.event() != buttons.EV_NONE:
            pass
finally:
    micropython.heap_unlock()
print('{"ok": true}')
