# The non-wrapping uptime clock.
# (run by tests/firmware/test_fw_feedback.py)
import json

import clock

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
