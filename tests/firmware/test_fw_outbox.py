"""The durable press queue on LittleFS (vfs.VfsLfs2 on a RAM block device), under MicroPython."""

from __future__ import annotations

from fwtools import mp_json

PRELUDE = r"""
import json, os, sys
import mp_helpers, outbox, recover
data = json.load(open(sys.argv[1]))


def done(ob, seq):
    # what happens to a press that goes well: the broker's PUBACK, then the collector's confirmation
    ob.sent(seq)
    ob.confirm([seq])


def drain(ob):
    # every pending record, oldest first, delivered as the sender and the collector would
    out = []
    r = ob.peek()
    while r:
        out.append(list(r))
        done(ob, r[0])
        r = ob.peek()
    return out
"""


def test_append_ack_order_and_reboot() -> None:
    res = mp_json(
        PRELUDE
        + r"""
bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
boots = [recover.next_boot(outbox, root) for _ in range(3)]
ob = recover.open_outbox(outbox, root)
seqs = [ob.append(3, 1000 + i, i % 2, i % 3) for i in range(5)]
head = list(ob.peek())
done(ob, seqs[0]); done(ob, seqs[1])
done(ob, 99)  # not the head: ignored
ob._save_mark()  # persist the mark now, as MARK_EVERY confirmations or a drained queue would
root = mp_helpers.mount(bd)  # reboot
ob2 = recover.open_outbox(outbox, root)
big = 2 ** 40 + 5  # uptime past 32 bits (box up for 35 years) survives
s6 = ob2.append(4, big, 1, 0)
print(json.dumps({"boots": boots, "seqs": seqs, "head": head, "pending": ob2.pending,
                  "left": drain(ob2), "s6": s6, "after": recover.open_outbox(outbox, root).pending}))
"""
    )
    assert res["boots"] == [1, 2, 3]
    assert res["seqs"] == [1, 2, 3, 4, 5]
    assert res["head"] == [1, 3, 1000, 0, 0]
    assert res["pending"] == 4
    assert res["left"] == [
        [3, 3, 1002, 0, 2],
        [4, 3, 1003, 1, 0],
        [5, 3, 1004, 0, 1],
        [6, 4, 2**40 + 5, 1, 0],
    ]
    assert res["s6"] == 6
    assert res["after"] == 0


def test_unsaved_acks_are_resent_not_lost_and_seq_never_repeats() -> None:
    # The mark is saved every MARK_EVERY acks or when the queue drains; between, a reboot resends
    # acknowledged presses (the collector dedups on (box, seq)) but never reuses their seq.
    res = mp_json(
        PRELUDE
        + r"""
bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
for i in range(5):
    ob.append(1, i, 0, 0)
done(ob, 1); done(ob, 2)
root = mp_helpers.mount(bd)
ob = recover.open_outbox(outbox, root)
print(json.dumps({"resent": [r[0] for r in drain(ob)], "next": ob.append(2, 0, 0, 0)}))
"""
    )
    assert res == {"resent": [1, 2, 3, 4, 5], "next": 6}


def test_a_press_stays_until_the_collector_confirms_it() -> None:
    # PUBACKed presses are held, not dropped: a rewind (new connection) sends again every one the
    # collector has not confirmed, a reboot keeps them, and a confirmation that skips one is a gap.
    res = mp_json(
        PRELUDE
        + r"""
bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
for i in range(6):
    ob.append(1, i, 0, 0)
for seq in (1, 2, 3, 4):
    ob.sent(seq)
after_puback = [ob.pending, ob.held, ob.peek()[0]]
gap = ob.confirm([1, 3])            # 3 stored, 2 not: 2 was lost after its PUBACK
mark = ob.acked
ob.rewind()
resend = [r[0] for r in drain(ob)]
early = recover.open_outbox(outbox, root)         # a confirmation for a press not sent yet waits for its PUBACK
early.append(1, 8, 0, 0)
early.append(1, 9, 0, 0)
no_gap = early.confirm([8])
early_mark = early.acked
early.sent(7); early.confirm([7])
mark_7 = early.acked
early.sent(8)                       # its PUBACK: now 8's earlier confirmation applies
ob2 = recover.open_outbox(outbox, root)
ob2.append(1, 10, 0, 0)
ob2.sent(ob2.peek()[0])
root = mp_helpers.mount(bd)         # reboot with it sent and not confirmed
kept = [r[0] for r in drain(recover.open_outbox(outbox, root))]
print(json.dumps({"after_puback": after_puback, "gap": gap, "mark": mark, "resend": resend, "no_gap": no_gap,
                  "early_mark": early_mark, "mark_7": mark_7, "late_mark": early.acked, "kept": kept}))
"""
    )
    assert res["after_puback"] == [6, 4, 5]  # all six still owed; four of them sent; next to send: 5
    assert res["gap"] is True and res["mark"] == 1
    assert res["resend"] == [2, 3, 4, 5, 6]  # 3 again too: its confirmation was forgotten at the rewind
    assert res["no_gap"] is False and res["early_mark"] == 6
    assert res["mark_7"] == 7 and res["late_mark"] == 8
    assert res["kept"] == [9]


def test_capacity_10000_presses_in_256_kb() -> None:
    res = mp_json(
        PRELUDE
        + r"""
bd = mp_helpers.RAMBlockDev(blocks=64)  # 64 x 4 KB = 256 KB, the box's LittleFS partition size
root = mp_helpers.mount(bd, fresh=True)
with open(root + "config.json", "w") as f:
    f.write("x" * 1500)  # the config shares the partition
recover.next_boot(outbox, root)
ob = recover.open_outbox(outbox, root)
for i in range(10000):
    ob.append(1, i * 10, i % 2, 0)
st = os.statvfs(root[:-1])
root = mp_helpers.mount(bd)
ob = recover.open_outbox(outbox, root)
count, ordered = 0, True
r = ob.peek()
while r:
    count += 1
    ordered = ordered and r[0] == count
    done(ob, r[0])
    r = ob.peek()
print(json.dumps({"pending": count, "ordered": ordered, "free_blocks": st[3],
                  "refused": ob.refused, "files": sorted(os.listdir(root + "ob"))}))
""",
        timeout=120,
    )
    assert res["pending"] == 10000 and res["ordered"] and res["refused"] == 0
    assert res["free_blocks"] >= 8, res  # room left for LittleFS's copy-on-write
    assert "s0000009985" in res["files"] and len(res["files"]) <= 4  # acked segments deleted


def test_full_outbox_refuses_new_presses_and_keeps_every_stored_one() -> None:
    res = mp_json(
        PRELUDE
        + r"""
outbox.SEG_RECORDS = 4
outbox.MAX_SEGMENTS = 3
bd = mp_helpers.RAMBlockDev(blocks=32)
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
refused = []
for i in range(14):
    try:
        ob.append(1, i, 0, 0)
    except outbox.OutboxFull:
        refused.append(i)
full = [ob.refused, ob.pending, ob.next_seq]
first = ob.peek()[0]
done(ob, first)
done(ob, 2); done(ob, 3); done(ob, 4)   # the oldest segment is acknowledged: room again
after = ob.append(1, 99, 1, 0)
print(json.dumps({"refused": refused, "full": full, "after": after, "seqs": [r[0] for r in drain(ob)]}))
"""
    )
    # 3 segments of 4 hold 12; presses 13 and 14 are refused, nothing stored is dropped
    assert res["refused"] == [12, 13]
    assert res["full"] == [2, 12, 13]
    assert res["after"] == 13  # a refused press uses no seq
    assert res["seqs"] == list(range(5, 14))


def test_flash_full_refuses_the_press_and_keeps_the_rest() -> None:
    res = mp_json(
        PRELUDE
        + r"""
outbox.SEG_RECORDS = 64  # 1 KB files: too big to be inlined in LittleFS metadata
bd = mp_helpers.RAMBlockDev(blocks=8)  # 32 KB: full long before MAX_SEGMENTS
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
stored, refused = [], 0
for i in range(800):
    try:
        stored.append(ob.append(1, i, 0, 0))
    except outbox.OutboxFull:
        refused += 1
root = mp_helpers.mount(mp_helpers.RAMBlockDev(data=bd.data))
print(json.dumps({"stored": stored, "refused": refused, "count": ob.refused,
                  "after_reboot": [r[0] for r in drain(recover.open_outbox(outbox, root))]}))
"""
    )
    assert res["refused"] > 0 and res["count"] == res["refused"]
    assert res["stored"] == list(range(1, len(res["stored"]) + 1))
    assert res["after_reboot"] == res["stored"]


def test_damaged_record_is_skipped() -> None:
    res = mp_json(
        PRELUDE
        + r"""
bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
for i in range(3):
    ob.append(1, i, 0, 0)
path = root + "ob/s0000000001"
raw = bytearray(open(path, "rb").read())
raw[16 + 5] ^= 0xFF  # flip bits in record 2
with open(path, "wb") as f:
    f.write(raw)
ob = recover.open_outbox(outbox, root)
print(json.dumps({"seqs": [r[0] for r in drain(ob)], "next": ob.next_seq}))
"""
    )
    assert res == {"seqs": [1, 3], "next": 4}


def test_anchors_and_boot_counter_persist() -> None:
    res = mp_json(
        PRELUDE
        + r"""
bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
recover.next_boot(outbox, root)
a = recover.load_anchors(root)
for boot in range(1, 12):
    outbox.save_anchor(root, a, boot, 100 * boot, 1700000000000 + boot, "sync")
root = mp_helpers.mount(bd)
b = recover.load_anchors(root)
print(json.dumps({"boots": sorted(b), "b11": list(b[11]), "boot": recover.next_boot(outbox, root)}))
"""
    )
    assert res["boots"] == list(range(4, 12))
    assert res["b11"] == [1100, 1700000000011, "sync"]
    assert res["boot"] == 2


SWEEP = (
    PRELUDE
    + r"""
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
        log["appended"].append(seq)   # feedback shown: this press exists
        if k == 2:
            outbox.save_anchor(root, anchors, boot, 5, 1700000000000, "sync")
        if k % 3 != 2:                # leave some unsent at times
            sent = []
            r = ob.peek()
            while r:
                ob.sent(r[0])         # PUBACK received: the broker has it, which is not enough
                sent.append(r[0])
                r = ob.peek()
            if k % 4 != 1:            # and some sent but not confirmed
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
    log = {"appended": [], "acked": [], "boot": None}
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
    results.append({
        "n": n, "cut": cut,
        "lost": [s for s in unacked if s not in left],
        "ordered": left == sorted(left) and len(set(left)) == len(left),
        "reused": new <= max(log["appended"] + [0]),
        "boot_reused": log["boot"] is not None and recover.next_boot(outbox, root) <= log["boot"],
    })
    if not cut:
        break
    n += 1
print(json.dumps(results))
"""
)


def test_power_cut_at_every_write_loses_nothing_and_reuses_no_seq() -> None:
    results = mp_json(SWEEP, timeout=120)
    assert len(results) > 30, "the cycle should take many block writes"
    assert not results[-1]["cut"]
    for r in results:
        assert r["lost"] == [], r
        assert r["ordered"], r
        assert not r["reused"], r
        assert not r["boot_reused"], r
