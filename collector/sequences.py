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
from datetime import date, datetime

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


def _runs(box: str) -> sa.Subquery:
    """Every run of missing seqs of a box: (first, last), from the seqs heard (stored or rejected)."""
    heard = sa.union(
        sa.select(col(Press.seq).label("seq")).where(col(Press.box) == box),
        sa.select(col(RejectedSeq.seq).label("seq")).where(col(RejectedSeq.box) == box),
    ).subquery()
    before = sa.func.coalesce(sa.func.lag(heard.c.seq).over(order_by=heard.c.seq), 0)
    steps = sa.select(heard.c.seq, before.label("before")).subquery()
    return (sa.select((steps.c.before + 1).label("first"), (steps.c.seq - 1).label("last"))
            .where(steps.c.seq - steps.c.before > 1).subquery())


def gaps(session: Session, box: str, limit: int = 20) -> list[tuple[int, int]]:
    """The first `limit` runs of seqs (first, last) below the box's highest that never arrived."""
    runs = _runs(box)
    query = sa.select(runs.c.first, runs.c.last).order_by(runs.c.first).limit(limit)
    return [(first, last) for first, last in session.execute(query)]


@dataclass(frozen=True)
class BoxLoss:
    """What a box numbered and what of it the collector never got, for people to read."""

    box: str
    numbered: int  # the highest seq heard: the box numbered 1..numbered
    accounted: int  # of those, how many reached the collector (stored, or rejected with their seq)
    missing: int  # numbered - accounted
    gap_count: int  # runs of missing seqs
    gaps: list[tuple[int, int]]  # the first runs, (first, last)
    open_since: datetime | None  # when the collector first held a seq above the oldest gap

    @property
    def open(self) -> bool:
        return self.missing > 0


def open_since(session: Session, box: str, last: int) -> datetime | None:
    """When the collector first knew of a gap ending at `last`: the reception of the stored press
    just above it (the uq_press_box_seq index finds it). None when only rejected seqs lie above."""
    query = (sa.select(col(Press.received_at)).where(col(Press.box) == box, col(Press.seq) > last)
             .order_by(col(Press.seq)).limit(1))
    return session.execute(query).scalar()


def box_losses(session: Session, boxes: Sequence[str] | None = None, limit: int = 20) -> dict[str, BoxLoss]:
    """Loss figures of every box accounted (or of those named). Only a box with something missing costs
    a look at its seqs; the others are read from box_sequence alone."""
    found: dict[str, BoxLoss] = {}
    for box, account in sequence_accounts(session, boxes).items():
        if not account.missing:
            found[box] = BoxLoss(box, account.highest, account.accounted, 0, 0, [], None)
            continue
        runs = gaps(session, box, limit)
        count = session.execute(sa.select(sa.func.count()).select_from(_runs(box))).scalar_one()
        since = open_since(session, box, runs[0][1]) if runs else None
        found[box] = BoxLoss(box, account.highest, account.accounted, account.missing, count, runs, since)
    return found


@dataclass(frozen=True)
class PeriodLoss:
    """Of the presses the boxes numbered in a period, how many never reached the collector."""

    numbered: int
    missing: dict[str, int]  # box -> presses of the period it numbered and the collector never got (> 0)

    @property
    def total_missing(self) -> int:
        return sum(self.missing.values())


def _heard(box: str, low: int, high: int) -> sa.Subquery:
    return sa.union(
        sa.select(col(Press.seq).label("seq")).where(col(Press.box) == box, col(Press.seq) > low, col(Press.seq) <= high),
        sa.select(col(RejectedSeq.seq).label("seq")).where(col(RejectedSeq.box) == box, col(RejectedSeq.seq) > low,
                                                            col(RejectedSeq.seq) <= high),
    ).subquery()


def period_loss(session: Session, first: date, last: date, department_ids: Sequence[int] | None = None) -> PeriodLoss:
    """A box numbered in [first, last] (local days) the seqs above the last one heard before the period's
    first press and up to the period's last press: those it pressed in the period, and any lost just
    before its first one. Heard is stored or rejected (collector.sequences' accounting)."""
    query = (sa.select(col(Press.box), sa.func.min(col(Press.seq)), sa.func.max(col(Press.seq)))
             .where(col(Press.day) >= first, col(Press.day) <= last).group_by(col(Press.box)))
    if department_ids is not None:
        query = query.where(col(Press.department_id).in_(department_ids))
    numbered = 0
    missing: dict[str, int] = {}
    for box, low, high in session.execute(query).all():
        before = [session.execute(sa.select(sa.func.max(seq)).where(key == box, seq < low)).scalar() or 0
                  for key, seq in ((col(Press.box), col(Press.seq)), (col(RejectedSeq.box), col(RejectedSeq.seq)))]
        start = max(before)
        heard = session.execute(sa.select(sa.func.count()).select_from(_heard(box, start, high))).scalar_one()
        numbered += high - start
        if high - start > heard:
            missing[box] = high - start - heard
    return PeriodLoss(numbered, missing)
