"""The durable press queue on LittleFS (vfs.VfsLfs2 on a RAM block device), under MicroPython."""

from __future__ import annotations

from tests.helpers.firmware import mp_json


def test_append_ack_order_and_reboot() -> None:
    res = mp_json("outbox_reboot.py")
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
    res = mp_json("outbox_unsaved_acks.py")
    assert res == {"resent": [1, 2, 3, 4, 5], "next": 6}


def test_a_press_stays_until_the_collector_confirms_it() -> None:
    # PUBACKed presses are held, not dropped: a rewind (new connection) sends again every one the
    # collector has not confirmed, a reboot keeps them, and a confirmation that skips one is a gap.
    res = mp_json("outbox_confirm.py")
    assert res["after_puback"] == [6, 4, 5]  # all six still owed; four of them sent; next to send: 5
    assert res["gap"] is True and res["mark"] == 1
    assert res["resend"] == [2, 3, 4, 5, 6]  # 3 again too: its confirmation was forgotten at the rewind
    assert res["no_gap"] is False and res["early_mark"] == 6
    assert res["mark_7"] == 7 and res["late_mark"] == 8
    assert res["kept"] == [9]


def test_capacity_10000_presses_in_256_kb() -> None:
    res = mp_json("outbox_capacity.py", timeout=120)
    assert res["pending"] == 10000 and res["ordered"] and res["refused"] == 0
    assert res["free_blocks"] >= 8, res  # room left for LittleFS's copy-on-write
    assert "s0000009985" in res["files"] and len(res["files"]) <= 4  # acked segments deleted


def test_full_outbox_refuses_new_presses_and_keeps_every_stored_one() -> None:
    res = mp_json("outbox_full.py")
    # 3 segments of 4 hold 12; presses 13 and 14 are refused, nothing stored is dropped
    assert res["refused"] == [12, 13]
    assert res["full"] == [2, 12, 13]
    assert res["after"] == 13  # a refused press uses no seq
    assert res["seqs"] == list(range(5, 14))


def test_flash_full_refuses_the_press_and_keeps_the_rest() -> None:
    res = mp_json("outbox_flash_full.py")
    assert res["refused"] > 0 and res["count"] == res["refused"]
    assert res["stored"] == list(range(1, len(res["stored"]) + 1))
    assert res["after_reboot"] == res["stored"]


def test_damaged_record_is_skipped() -> None:
    res = mp_json("outbox_damaged.py")
    assert res == {"seqs": [1, 3], "next": 4}


def test_anchors_and_boot_counter_persist() -> None:
    res = mp_json("outbox_anchors.py")
    assert res["boots"] == list(range(4, 12))
    assert res["b11"] == [1100, 1700000000011, "sync"]
    assert res["boot"] == 2




def test_power_cut_at_every_write_loses_nothing_and_reuses_no_seq() -> None:
    results = mp_json("outbox_power_cuts.py", timeout=120)
    assert len(results) > 30, "the cycle should take many block writes"
    assert not results[-1]["cut"]
    for r in results:
        assert r["lost"] == [], r
        assert r["ordered"], r
        assert not r["reused"], r
        assert not r["boot_reused"], r
