"""Loss accounting: every seq a box numbered reached the collector, or is missing.

A box numbers its presses 1, 2, 3, ... and never reuses a number (firmware/outbox.py). The collector
accounts, per box, for the seqs it got, stored as presses or rejected with their seq (once each,
however often sent: rejected_seq), and the highest seq heard. highest - accounted is the number of
presses the box numbered and the collector never got: a gap. Both figures move in the transaction
that stores the batch; a gap's seqs are looked up only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col

from collector.db import upsert
from collector.messages import Rejection, rejected_seq
from collector.models import BoxSequence, Press, RejectedSeq

# A conflicting repeat of a stored press is rejected, but its seq is the stored one's: not new.
ALREADY_STORED = "duplicate_conflict"


@dataclass(frozen=True)
class SequenceAccount:
    box: str
    accounted: int  # distinct seqs that reached the collector
    highest: int  # the highest seq heard from the box

    @property
    def missing(self) -> int:
        return self.highest - self.accounted


def account(bind: Session | sa.Connection, keys: Iterable[tuple[str, int]]) -> None:
    """Count (box, seq) pairs that reached the collector for the first time."""
    per_box: dict[str, list[int]] = {}
    for box, seq in keys:
        per_box.setdefault(box, []).append(seq)
    if not per_box:
        return
    rows = [{"box": box, "accounted": len(seqs), "highest": max(seqs)} for box, seqs in sorted(per_box.items())]
    insert = upsert(bind, BoxSequence)
    bind.execute(insert.on_conflict_do_update(index_elements=["box"], set_={
        "accounted": col(BoxSequence.accounted) + insert.excluded.accounted,
        "highest": sa.case((insert.excluded.highest > col(BoxSequence.highest), insert.excluded.highest),
                           else_=col(BoxSequence.highest)),
    }), rows)


def account_rejected(session: Session, rejections: Sequence[Rejection]) -> None:
    """Account the seqs of rejected presses, each (box, seq) once."""
    rows: dict[tuple[str, int], dict[str, object]] = {}
    for rejection in rejections:
        key = rejected_seq(rejection)
        if key is not None and rejection.reason != ALREADY_STORED:
            rows.setdefault(key, {"box": key[0], "seq": key[1], "reason": rejection.reason})
    if not rows:
        return
    insert = upsert(session, RejectedSeq)
    new = session.execute(
        insert.on_conflict_do_nothing(index_elements=["box", "seq"])
        .returning(col(RejectedSeq.box), col(RejectedSeq.seq)), list(rows.values()),
    ).all()
    account(session, [(box, seq) for box, seq in new])


def sequence_accounts(session: Session, boxes: Sequence[str] | None = None) -> dict[str, SequenceAccount]:
    query = sa.select(col(BoxSequence.box), col(BoxSequence.accounted), col(BoxSequence.highest))
    if boxes is not None:
        query = query.where(col(BoxSequence.box).in_(boxes))
    return {box: SequenceAccount(box, accounted, highest) for box, accounted, highest in session.execute(query)}


def gaps(session: Session, box: str, limit: int = 20) -> list[tuple[int, int]]:
    """The first `limit` runs of seqs (first, last) below the box's highest that never arrived."""
    heard = sa.union(
        sa.select(col(Press.seq).label("seq")).where(col(Press.box) == box),
        sa.select(col(RejectedSeq.seq).label("seq")).where(col(RejectedSeq.box) == box),
    ).subquery()
    before = sa.func.coalesce(sa.func.lag(heard.c.seq).over(order_by=heard.c.seq), 0)
    steps = sa.select(heard.c.seq, before.label("before")).subquery()
    query = (sa.select(steps.c.before + 1, steps.c.seq - 1).where(steps.c.seq - steps.c.before > 1)
             .order_by(steps.c.seq).limit(limit))
    return [(first, last) for first, last in session.execute(query)]
