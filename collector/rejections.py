"""Rejected messages, in the batch's transaction: every one counted per box and reason
(rejection_count), only the newest few per box and reason kept whole for diagnosis (rejected_message),
and a retained message that the broker sends again at every subscribe recorded once (rejected_topic).
"""

from __future__ import annotations

import hashlib
from collections import Counter as Tally
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col

from collector.db import upsert
from collector.messages import REJECTED_PAYLOAD_MAX, Inbound, Rejection, topic_parts
from collector.models import RejectedMessage, RejectedTopic, RejectionCount
from collector.sequences import account_rejected

BOX_MAX = 32  # RejectedMessage.box, RejectionCount.box
# Copies kept per box and reason (Settings.rejected_kept): enough to see what a box sends wrong, and a
# flood of garbage cannot fill the disk.
KEPT_DEFAULT = 100


class RetainedInbound(Inbound):
    """A message the broker sent from its retained store because the collector subscribed, not as it
    was published (MQTT 3.1.1 sets the retain flag only then): the same one comes again at every
    subscribe."""

    __slots__ = ()


class Recorded(NamedTuple):
    reasons: Tally[str]  # of the rejections recorded now (a retained repeat is not)
    totals: dict[tuple[str, str], int]  # every rejection ever counted, per (box, reason) recorded now


def box_of(topic: str) -> str:
    """The box a topic belongs to; "" for a topic that is not a box's."""
    parts = topic_parts(topic)
    return parts[0][:BOX_MAX] if parts else ""


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def reject_row(rejection: Rejection) -> dict[str, Any]:
    inbound = rejection.inbound
    return {
        "box": box_of(inbound.topic),
        "topic": inbound.topic[:256],
        "payload": inbound.payload[:REJECTED_PAYLOAD_MAX],
        "payload_size": len(inbound.payload),
        "reason": rejection.reason,
        # PostgreSQL text cannot hold NUL, and an exception's message may quote the payload
        "detail": rejection.detail.replace("\x00", "\\x00")[:1000],
        "received_at": inbound.received_at,
    }


def _retained_repeats(session: Session, rejections: Sequence[Rejection]) -> set[int]:
    """Indexes of the retained rejections whose payload is the one last rejected on their topic."""
    retained = {i: r.inbound for i, r in enumerate(rejections) if isinstance(r.inbound, RetainedInbound)}
    if not retained:
        return set()
    topics = sorted({inbound.topic[:256] for inbound in retained.values()})
    last = dict(session.execute(
        sa.select(col(RejectedTopic.topic), col(RejectedTopic.payload_sha256))
        .where(col(RejectedTopic.topic).in_(topics))
    ).tuples().all())
    return {i for i, inbound in retained.items() if last.get(inbound.topic[:256]) == _digest(inbound.payload)}


def record_rejections(session: Session, rejections: Sequence[Rejection], kept: int) -> Recorded:
    """Count the rejections, keep copies of the newest `kept` per box and reason."""
    repeats = _retained_repeats(session, rejections)
    fresh = [r for i, r in enumerate(rejections) if i not in repeats]
    if not fresh:
        return Recorded(Tally(), {})
    rows = [reject_row(r) for r in fresh]

    # The last payload rejected on each topic: a copy queued for the collector's session may be
    # followed by the same message retained, at the next subscribe.
    last_of_topic = {row["topic"]: {"topic": row["topic"], "payload_sha256": _digest(r.inbound.payload),
                                    "received_at": row["received_at"]} for row, r in zip(rows, fresh, strict=True)}
    insert = upsert(session, RejectedTopic)
    session.execute(insert.on_conflict_do_update(index_elements=["topic"], set_={
        "payload_sha256": insert.excluded.payload_sha256, "received_at": insert.excluded.received_at,
    }), list(last_of_topic.values()))

    counts: dict[tuple[str, str], list[Any]] = {}  # (box, reason) -> [count, first, last]
    for row in rows:
        seen: datetime = row["received_at"]
        total = counts.setdefault((row["box"], row["reason"]), [0, seen, seen])
        total[0] += 1
        total[1], total[2] = min(total[1], seen), max(total[2], seen)
    insert = upsert(session, RejectionCount)
    session.execute(insert.on_conflict_do_update(index_elements=["box", "reason"], set_={
        "count": col(RejectionCount.count) + insert.excluded["count"], "last_at": insert.excluded.last_at,
    }), [{"box": box, "reason": reason, "count": n, "first_at": first, "last_at": last}
         for (box, reason), (n, first, last) in counts.items()])

    session.execute(sa.insert(RejectedMessage), rows)
    account_rejected(session, fresh)
    for box, reason in counts:
        _keep_newest(session, box, reason, kept)
    totals = rejection_totals(session, sorted({box for box, _ in counts}))
    return Recorded(Tally(r.reason for r in fresh), totals)


def _keep_newest(session: Session, box: str, reason: str, kept: int) -> None:
    """Delete the copies of (box, reason) older than the newest `kept` (their count stays)."""
    same = (col(RejectedMessage.box) == box, col(RejectedMessage.reason) == reason)
    oldest_dropped = (sa.select(col(RejectedMessage.id)).where(*same).order_by(col(RejectedMessage.id).desc())
                      .offset(kept).limit(1).scalar_subquery())
    session.execute(sa.delete(RejectedMessage).where(*same, col(RejectedMessage.id) <= oldest_dropped))


def rejection_totals(session: Session, boxes: Sequence[str] | None = None) -> dict[tuple[str, str], int]:
    """Every rejection counted, per (box, reason); only these boxes' when given."""
    query = sa.select(col(RejectionCount.box), col(RejectionCount.reason), col(RejectionCount.count))
    if boxes is not None:
        query = query.where(col(RejectionCount.box).in_(boxes))
    return {(box, reason): count for box, reason, count in session.execute(query)}
