"""Whole boxes inside one MicroPython process (app.Box on an in-memory board, LittleFS on a RAM
block device) against a real Mosquitto: hours of buffering placed by the box's own ticks, and a
power cut at every block write of a press-publish-ack cycle with the firmware restarted after
each cut."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from fwtools import BOX_PASSWORDS, Listener, SntpServer, box_config, mp_json

from schemas.contract import schema_errors

HOURS = r"""
import asyncio, json, sys, time
import boxrig, clock, mp_helpers, mqtt
P = json.load(open(sys.argv[1]))
PERIOD = 1 << 30  # the ESP32's ticks_ms wraps here
off = [0]
def ticks():
    return (time.ticks_ms() + off[0]) % PERIOD
def diff(a, b):
    return ((a - b + PERIOD // 2) % PERIOD) - PERIOD // 2
def wall():
    return time.time_ns() // 1000000

root = mp_helpers.mount(mp_helpers.RAMBlockDev(), fresh=True)
box = boxrig.make(P["cfg"], root)
off[0] = PERIOD - 1500 - time.ticks_ms() % PERIOD  # the box's ticks wrap 1.5 s from now
box.clock = clock.Clock(ticks, diff)
HOURS_MS = P["hours"] * 3600000
pressed = []

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
"""


def test_presses_buffered_for_hours_are_placed_within_2_s(mosquitto, listener: Listener) -> None:
    cfg = box_config(mosquitto.port, timings={"lockout_ms": 0, "debounce_ms": 10, "poll_ms": 2})
    res = mp_json(
        HOURS,
        data={
            "cfg": cfg,
            "port": mosquitto.port,
            "password": BOX_PASSWORDS["collector"],
            "hours": 8,
            "debounce": 10,
        },
    )
    presses = listener.presses(3)
    assert [p["seq"] for p in presses] == [1, 2, 3]
    assert res["up"] > 8 * 3600000
    for p, truth in zip(presses, res["pressed"], strict=True):
        assert schema_errors("press", p) == [] and p["clock"] == "sync"
        assert abs(p["t"] - truth) < 2000, (p["t"] - truth, p)
        assert abs(p["t"] - truth) < 100  # what it actually is on loopback


SWEEP = r"""
import asyncio, json, sys, time
import boxrig, mp_helpers, outbox, recover
P = json.load(open(sys.argv[1]))
# Small segments and frequent marks so a short cycle crosses every kind of write: boot counter,
# segment create/append, anchor, mark rename, segment delete.
outbox.SEG_RECORDS = 3
outbox.MARK_EVERY = 2
cfg = P["cfg"]


async def cycle(box):
    box.start()
    await boxrig.until(lambda: box.online() and box.clock.anchored(), 5000, "online")
    for k in range(5):
        await boxrig.press(box, k % 2)
        if k % 2:  # let the presses so far be published and acknowledged
            await boxrig.until(lambda: box.ob.pending == 0, 5000, "acked")
    await boxrig.until(lambda: box.ob.pending == 0, 5000, "acked")
    box.stop()


async def after(box):
    # power back: the firmware starts again, sends what is left, and takes one new press
    box.start()
    await boxrig.until(lambda: box.online() and box.ob.pending == 0, 10000, "drained")
    seq = await boxrig.press(box, 0)
    await boxrig.until(lambda: box.ob.pending == 0, 5000, "new press sent")
    box.stop()
    await asyncio.sleep_ms(10)
    return seq


def drop(box):
    # what a power cut does to the TCP connection: it is gone (the broker sends the will)
    c = box and box.client
    if c and c._writer is not None:
        try:
            c._writer.close()
        except Exception:
            pass


base = mp_helpers.RAMBlockDev(blocks=32)
root = mp_helpers.mount(base, fresh=True)
recover.next_boot(outbox, root)
image = bytes(base.data)
runs = []
n = 0
while n <= P["max_runs"]:
    bd = mp_helpers.RAMBlockDev(data=bytearray(image))
    root = mp_helpers.mount(bd)
    outbox.write_atomic(root + "ob/boot", str(1000 * (n + 1)))  # run n's boots: 1000(n+1) + 1, + 2
    bd.writes = 0
    bd.writes_left = n
    box = None
    cut = False
    try:
        box = boxrig.make(cfg, root)
        asyncio.run(cycle(box))
    except mp_helpers.PowerCut:
        cut = True
    asyncio.new_event_loop()
    drop(box)
    root = mp_helpers.mount(mp_helpers.RAMBlockDev(data=bd.data))
    box2 = boxrig.make(cfg, root)
    new = asyncio.run(after(box2))
    asyncio.new_event_loop()
    runs.append({"n": n, "cut": cut, "writes": bd.writes, "boot1": box.boot if box else None,
                 "boot2": box2.boot, "shown": boxrig.shown(box) if box else [], "new": new})
    if not cut:
        break
    n += 1
print(json.dumps(runs))
"""


def test_power_cut_at_every_block_write_of_a_whole_box(
    mosquitto, listener: Listener, sntp: SntpServer
) -> None:
    cfg = box_config(
        mosquitto.port,
        ntp=sntp.address,
        timings={"lockout_ms": 0, "debounce_ms": 5, "poll_ms": 1, "keepalive_s": 30},
    )
    runs = mp_json(SWEEP, data={"cfg": cfg, "max_runs": 400}, timeout=600)
    assert not runs[-1]["cut"], "the sweep ended before the cycle ran through"
    assert len(runs) > 20, "a cycle should take many block writes"
    time.sleep(1)  # the last messages
    by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
    while not listener.messages.empty():
        topic, payload, _ = listener.messages.get()
        if topic.endswith("/press"):
            assert schema_errors("press", payload) == [], payload
            by_run[payload["boot"] // 1000 - 1].append(payload)
    for run in runs:
        sent = by_run[run["n"]]
        seqs = {p["seq"] for p in sent}
        # every press the citizen was told about reached the broker (before the cut or after)
        assert set(run["shown"]) <= seqs, run
        # one seq, one press (a resend repeats it); one press, one seq
        ident: dict[int, tuple[int, int, int]] = {}
        for p in sent:
            key = (p["boot"], p["up"], p["level"])
            assert ident.setdefault(p["seq"], key) == key, (run, p)
        assert len(set(ident.values())) == len(ident), run
        # seq and boot never handed out twice
        before = {p["seq"] for p in sent if p["boot"] != run["boot2"]}
        assert run["new"] > max([*before, *run["shown"], 0]), run
        assert next(p["boot"] for p in sent if p["seq"] == run["new"]) == run["boot2"]
        if run["boot1"] is not None:
            assert run["boot2"] > run["boot1"], run
