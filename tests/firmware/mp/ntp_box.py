# A box anchored by NTP while its poll loop keeps its pace.
# (run by tests/firmware/test_fw_ntp.py)
import asyncio
import json
import sys
import time

import boxrig
import mp_helpers

with open(sys.argv[1]) as f:
    P = json.load(f)
root = mp_helpers.mount(mp_helpers.RAMBlockDev(), fresh=True)
box = boxrig.make(P["cfg"], root)
gaps = []  # type: list


async def main():
    box.start()
    last = time.ticks_ms()
    end = time.ticks_add(last, P["ms"])
    while time.ticks_diff(end, time.ticks_ms()) > 0:
        await asyncio.sleep_ms(0)
        seen = box.alive[0]
        if seen != last:
            gaps.append(time.ticks_diff(seen, last))
            last = seen
    box.stop()


asyncio.run(main())
print(
    json.dumps(
        {
            "max_gap": max(gaps),
            "polls": len(gaps),
            "source": box.clock.source,
            "lines": [ln for ln in box.lines if "ntp" in ln],
        }
    )
)
