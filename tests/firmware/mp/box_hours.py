# Presses buffered for hours across the ESP32's ticks wrap, placed by the collector's beacon.
# (run by tests/firmware/test_fw_box.py)
import asyncio
import json
import sys
import time

import boxrig
import clock
import mp_helpers
import mqtt

with open(sys.argv[1]) as f:
    P = json.load(f)
PERIOD = 1 << 30  # the ESP32's ticks_ms wraps here
off = [0]


def ticks():
    return (time.ticks_ms() + off[0]) % PERIOD  # type: ignore[operator]  # an ESP32 tick


def diff(a, b):
    return ((a - b + PERIOD // 2) % PERIOD) - PERIOD // 2


def wall():
    return time.time_ns() // 1000000


root = mp_helpers.mount(mp_helpers.RAMBlockDev(), fresh=True)
box = boxrig.make(P["cfg"], root)
# The box's ticks wrap 1.5 s from now.
off[0] = PERIOD - 1500 - time.ticks_ms() % PERIOD  # type: ignore[operator]
box.clock = clock.Clock(ticks, diff)
HOURS_MS = P["hours"] * 3600000
pressed = []  # type: list


async def main():
    box.start()
    await boxrig.until(box.online, 5000, "online")
    for b in (0, 1):
        pressed.append(wall() + P["debounce"])  # the contact settles now; registered debounce later
        await boxrig.press(box, b)
        await asyncio.sleep_ms(1000)
    off[0] += HOURS_MS  # hours go by with the presses in the outbox and no clock anywhere
    await asyncio.sleep_ms(100)
    pressed.append(wall() + P["debounce"] + HOURS_MS)
    await boxrig.press(box, 0)
    # then the collector's beacon arrives, in a world that is now HOURS later than the host clock
    c = mqtt.Client("test-beacon", "127.0.0.1", P["port"], "collector", P["password"])
    await c.connect()
    await c.publish("rating/clock", json.dumps({"v": 1, "t": wall() + HOURS_MS}), 1)
    await mp_helpers.disconnect(c)
    await boxrig.until(lambda: box.ob.pending == 0, 5000, "sent")
    box.stop()


asyncio.run(main())
print(json.dumps({"pressed": pressed, "up": box.clock.up()}))
