# A power cut at every block write loses nothing and reuses no seq.
# (run by tests/firmware/test_fw_outbox.py::test_power_cut_at_every_write_loses_nothing_and_reuses_no_seq)
import json

import mp_helpers
import outbox
import recover
from outbox_steps import drain

# Small segments and frequent marks so a short cycle crosses every kind of write:
# segment create/append, mark rename, segment delete, boot counter, anchors.
outbox.SEG_RECORDS = 3
outbox.MARK_EVERY = 2


def cycle(root, log):
    boot = recover.next_boot(outbox, root)
    log["boot"] = boot
    ob = recover.open_outbox(outbox, root)
    anchors = recover.load_anchors(root)
    for k in range(15):
        seq = ob.append(boot, 100 * k, k % 2, 0)
        log["appended"].append(seq)  # feedback shown: this press exists
        if k == 2:
            outbox.save_anchor(root, anchors, boot, 5, 1700000000000, "sync")
        if k % 3 != 2:  # leave some unsent at times
            sent = []
            r = ob.peek()
            while r:
                ob.sent(r[0])  # PUBACK received: the broker has it, which is not enough
                sent.append(r[0])
                r = ob.peek()
            if k % 4 != 1:  # and some sent but not confirmed
                log["acked"].extend(sent)  # the collector has stored them
                ob.confirm(sent)


# Some history first, never cut.
base = mp_helpers.RAMBlockDev(blocks=32)
root = mp_helpers.mount(base, fresh=True)
cycle(root, {"appended": [], "acked": []})
image = bytes(base.data)

results = []
n = 0
while True:
    bd = mp_helpers.RAMBlockDev(data=bytearray(image))
    root = mp_helpers.mount(bd)
    bd.writes_left = n
    log = {"appended": [], "acked": [], "boot": None}  # type: dict
    try:
        cycle(root, log)
        cut = False
    except (mp_helpers.PowerCut, OSError):
        cut = True
    # power back: mount what reached the flash
    root = mp_helpers.mount(mp_helpers.RAMBlockDev(data=bd.data))
    ob = recover.open_outbox(outbox, root)
    left = [r[0] for r in drain(ob)]
    new = ob.append(99, 0, 0, 0)
    unacked = [s for s in log["appended"] if s not in log["acked"]]
    results.append(
        {
            "n": n,
            "cut": cut,
            "lost": [s for s in unacked if s not in left],
            "ordered": left == sorted(left) and len(set(left)) == len(left),
            "reused": new <= max(log["appended"] + [0]),
            "boot_reused": log["boot"] is not None and recover.next_boot(outbox, root) <= log["boot"],
        }
    )
    if not cut:
        break
    n += 1
print(json.dumps(results))
