"""The rows of the scheduled reports (report_schedule, report_dispatch), and how a report is claimed
so that it goes out once: made unique before anything is sent, claimed by one process in one UPDATE
(the database decides between two collectors), marked sent after the relay has taken it.

A crash (or a kill) between the relay's "250 OK" and the commit of "sent" leaves a row "sending".
Such a claim is taken as not sent once it is older than CLAIM_LEASE, and sent again: the other
choice, never again, would lose every report whose sender died while rendering or connecting (seconds
wide) to spare a duplicate in a window of milliseconds. The mail's Message-ID is the same at every
attempt, so a mail client that keeps one message per Message-ID shows the duplicate once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from collector.db import upsert
from collector.models import ReportDispatch, ReportSchedule
from collector.report_schedule import DueReport

# Longer than the longest attempt: rendering a month (seconds) and the SMTP steps (20 s each at most).
CLAIM_LEASE = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)


def began_at(session: Session, groups: Sequence[str], now: datetime) -> dict[str, datetime]:
    """When each group was first seen (now, for a new one: it is not sent older reports)."""
    for group in groups:
        session.execute(upsert(session, ReportSchedule).values(recipients=group, began_at=now)
                        .on_conflict_do_nothing(index_elements=["recipients"]))
    rows = session.exec(select(ReportSchedule).where(col(ReportSchedule.recipients).in_(list(groups)))).all()
    return {row.recipients: row.began_at for row in rows}


def recorded(session: Session, group: str) -> set[tuple[str, str]]:
    """(kind, period) of the group's reports with a row, sent or not: they are not due again."""
    rows = session.exec(select(ReportDispatch.kind, ReportDispatch.period)
                        .where(ReportDispatch.recipients == group)).all()
    return {(kind, period) for kind, period in rows}


def enqueue(session: Session, group: str, due: Sequence[DueReport], now: datetime) -> None:
    """A pending row per due report; one another collector made already stands."""
    for report in due:
        session.execute(upsert(session, ReportDispatch).values(
            kind=report.kind, period=report.period, recipients=group, status="pending", due_at=report.send_from,
            attempts=0, next_attempt_at=now, created_at=now,
        ).on_conflict_do_nothing(index_elements=["kind", "period", "recipients"]))


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    pending = sa.and_(col(ReportDispatch.status) == "pending", col(ReportDispatch.next_attempt_at) <= now)
    abandoned = sa.and_(col(ReportDispatch.status) == "sending", col(ReportDispatch.claimed_at) < now - CLAIM_LEASE)
    return sa.or_(pending, abandoned)


def claimable_ids(session: Session, now: datetime, limit: int = 20) -> list[int]:
    rows = session.exec(select(ReportDispatch.id).where(_claimable(now))
                        .order_by(col(ReportDispatch.due_at), col(ReportDispatch.id)).limit(limit)).all()
    return [row for row in rows if row is not None]


def claim(session: Session, dispatch_id: int, now: datetime, worker: str) -> ReportDispatch | None:
    """The row, now this worker's to send, or None when another took it first. The condition is
    checked again by the UPDATE itself: of two collectors, one changes the row, the other none."""
    taken = session.execute(sa.update(ReportDispatch).where(col(ReportDispatch.id) == dispatch_id, _claimable(now))
                            .values(status="sending", claimed_at=now, claimed_by=worker[:64],
                                    attempts=ReportDispatch.attempts + 1))  # type: ignore[operator]
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(ReportDispatch, dispatch_id, populate_existing=True)


def mark_sent(session: Session, dispatch_id: int, now: datetime, addresses: Sequence[str], message_id: str) -> None:
    session.execute(sa.update(ReportDispatch).where(col(ReportDispatch.id) == dispatch_id).values(
        status="sent", sent_at=now, last_error=None, addresses=", ".join(addresses)[:2000], message_id=message_id))


def mark_failed(session: Session, dispatch_id: int, now: datetime, error: str, retry_after: timedelta) -> None:
    """Back to pending, with the error and the next attempt, backing off to MAX_BACKOFF."""
    row = session.get(ReportDispatch, dispatch_id)
    if row is None:
        return
    row.status = "pending"
    row.last_error = error[:300]
    row.next_attempt_at = now + min(retry_after * 2 ** max(row.attempts - 1, 0), MAX_BACKOFF)
    session.add(row)


def unsent_count(session: Session) -> int:
    return int(session.exec(select(sa.func.count()).select_from(ReportDispatch)
                            .where(col(ReportDispatch.status) != "sent")).one())


def latest(session: Session, limit: int, status: str | None = None) -> list[ReportDispatch]:
    """The newest rows first (by when they became due)."""
    query = select(ReportDispatch)
    if status is not None:
        query = query.where(ReportDispatch.status == status)
    return list(session.exec(query.order_by(col(ReportDispatch.due_at).desc(), col(ReportDispatch.id).desc())
                             .limit(limit)).all())
