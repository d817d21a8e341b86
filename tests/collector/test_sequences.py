"""Loss accounting: of the seqs each box numbered, which reached the collector (stored or rejected)
and which never did, counted once however often they are sent, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from collector.clock import utc_now
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.sequences import SequenceAccount, gaps, sequence_accounts
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"


def store(engine: Any, *payloads: dict[str, Any]) -> None:
    messages = [Inbound(topic=f"rating/{p['box']}/press", payload=json.dumps(p).encode(), received_at=utc_now(),
                        mid=1, qos=1) for p in payloads]
    with session_scope(engine) as session:
        store_batch(session, [check(m) for m in messages], TZ)


def accounts(engine: Any) -> dict[str, SequenceAccount]:
    with Session(engine) as session:
        return sequence_accounts(session)


def box_gaps(engine: Any, box: str = "box-017", limit: int = 20) -> list[tuple[int, int]]:
    with Session(engine) as session:
        return gaps(session, box, limit)


def test_a_seq_never_received_is_missing_and_a_rejected_one_is_not(registered: Any, make_press: Any) -> None:
    store(registered, *(make_press(seq=seq) for seq in (1, 2, 4, 7)))
    # Seq 5 is rejected by the check (a level sat2 does not have), seq 6 by the store (another scale).
    store(registered, make_press(seq=5, level=3), make_press(seq=6, scale="vn3", level=2))
    account = accounts(registered)["box-017"]
    assert (account.highest, account.accounted, account.missing) == (7, 6, 1)
    assert box_gaps(registered) == [(3, 3)]


def test_resent_presses_are_counted_once_stored_or_rejected(registered: Any, make_press: Any) -> None:
    for _ in range(3):
        store(registered, make_press(seq=1), make_press(seq=3, level=3), make_press(seq=1, level=0))
    account = accounts(registered)["box-017"]
    # 1 stored (its conflicting copy changes nothing), 3 rejected, 2 never came.
    assert (account.highest, account.accounted, account.missing) == (3, 2, 1)
    assert box_gaps(registered) == [(2, 2)]


def test_gaps_are_runs_from_the_first_seq_and_each_box_is_its_own(registered: Any, make_press: Any) -> None:
    store(registered, *(make_press(seq=seq) for seq in (4, 5, 9, 10, 20)))
    store(registered, *(make_press(box="box-018", seq=seq) for seq in (1, 2, 3)))
    assert box_gaps(registered) == [(1, 3), (6, 8), (11, 19)]
    assert box_gaps(registered, limit=2) == [(1, 3), (6, 8)]
    found = accounts(registered)
    assert (found["box-017"].missing, found["box-018"].missing) == (15, 0)
    assert box_gaps(registered, "box-018") == []
