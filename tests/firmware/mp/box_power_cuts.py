# A power cut at every block write of a whole box's press-publish-ack cycle, the firmware
# restarted after each cut.
# (run by tests/firmware/test_fw_box.py)
import asyncio
import json
import sys

import boxrig
import mp_helpers
import outbox
import recover

with open(sys.argv[1]) as f:
    P = json.load(f)
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
        except Exception:  # noqa: BLE001, S110 (a socket already gone is the point)
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
    runs.append(
        {
            "n": n,
            "cut": cut,
            "writes": bd.writes,
            "boot1": box.boot if box else None,
            "boot2": box2.boot,
            "shown": boxrig.shown(box) if box else [],
            "new": new,
        }
    )
    if not cut:
        break
    n += 1
print(json.dumps(runs))
