# Feeds each timeline (a list of [time_ms, mask] edges, the cases in sys.argv[1]) to a fresh
# Debouncer, polling every 5 ms, and reports the events with their poll times. Times start near
# the 2**30 tick wrap on purpose.
# (run by tests/firmware/test_fw_buttons.py)
import json
import sys

import buttons

with open(sys.argv[1]) as f:
    cases = json.load(f)
START = (1 << 30) - 700  # ticks_ms wraps at 2**30 on the ESP32: cross it mid-press


def esp32_ticks_diff(a, b):
    return ((a - b + (1 << 29)) & ((1 << 30) - 1)) - (1 << 29)


buttons.ticks_diff = esp32_ticks_diff
out = []
for c in cases:
    d = buttons.Debouncer(c["n"], c.get("debounce", 50), c.get("stuck", 10000), c.get("gesture", 5000))
    edges = c["edges"]
    k = 0
    mask = 0
    events = []
    for t in range(0, c["end"], c.get("poll", 5)):
        while k < len(edges) and edges[k][0] <= t:
            mask = edges[k][1]
            k += 1
        d.update(mask, (START + t) & ((1 << 30) - 1))
        ev = d.event()
        while ev != buttons.EV_NONE:
            events.append([t, ev & buttons.KIND_MASK, ev & buttons.INDEX_MASK])
            ev = d.event()
    out.append(events)
print(json.dumps(out))
