"""Box downtime: the spans a box was offline or silent, so that a counter without ratings can be told
from a counter whose box was down.

The device table keeps only a box's last status and presence; this keeps the history. On each tick
of the alerts thread (RATING_ALERT_TICK_S) `observe` opens a span for a box that is offline, or has
sent nothing for DOWN_AFTER, starting when it was last heard from, and closes it at the first tick
that sees the box back (so an end is late by at most one tick). What counts is the office hours
inside the spans (collector.office_hours): a box switched off at night is not down."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlmodel import Session, col, select

from collector.models import BoxDowntime, Counter, CounterBox
from collector.office_hours import OfficeHours, office_minutes

# A box sends a status every heartbeat_s (60 s, firmware/config.py): five missed is silence.
DOWN_AFTER = timedelta(minutes=5)


class BoxState(Protocol):
    """What the device table says of a box (as collector.alerts.evaluate.DeviceView holds it)."""

    @property
    def box(self) -> str: ...
    @property
    def online(self) -> bool: ...
    @property
    def last_seen(self) -> datetime: ...
    @property
    def retired(self) -> bool: ...


def observe(session: Session, devices: Iterable[BoxState], now: datetime) -> None:
    """Open a span for each box now down, close the span of each box now back (or retired)."""
    open_spans = {span.box: span for span in session.exec(select(BoxDowntime).where(col(BoxDowntime.ended_at).is_(None)))}
    for device in devices:
        span = open_spans.get(device.box)
        silent = now - device.last_seen >= DOWN_AFTER
        down = not device.retired and (not device.online or silent)
        if down and span is None:
            session.add(BoxDowntime(box=device.box, cause="silent" if device.online else "offline",
                                    started_at=min(device.last_seen, now)))
        elif not down and span is not None:
            span.ended_at = max(span.started_at, now)
            session.add(span)


def spans(session: Session, since: datetime, until: datetime) -> list[tuple[str, datetime, datetime | None]]:
    """(box, start, end or None) of the spans that overlap [since, until)."""
    query = select(BoxDowntime.box, BoxDowntime.started_at, BoxDowntime.ended_at).where(
        col(BoxDowntime.started_at) < until,
        sa.or_(col(BoxDowntime.ended_at).is_(None), col(BoxDowntime.ended_at) > since))
    return [(box, start, end) for box, start, end in session.exec(query).all()]


def box_downtime(session: Session, since: datetime, until: datetime, now: datetime, tz_name: str,
                 office: OfficeHours) -> dict[str, int]:
    """box -> office minutes it was down in [since, until) (a span still open lasts until now)."""
    found: dict[str, int] = {}
    for box, start, end in spans(session, since, until):
        lo, hi = max(start, since), min(end or now, until, now)
        if hi > lo:
            found[box] = found.get(box, 0) + office_minutes(lo, hi, tz_name, office, lookback_days=None)
    return found


def counter_downtime(session: Session, since: datetime, until: datetime, now: datetime, tz_name: str,
                     office: OfficeHours) -> dict[str, int]:
    """counter code -> office minutes its box was down in [since, until): each span counts at the
    counter the box was installed at then (counter_box)."""
    installed: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for box, code, valid_from, valid_to in session.exec(
            select(CounterBox.box, Counter.code, CounterBox.valid_from, CounterBox.valid_to)
            .join(Counter, col(Counter.id) == col(CounterBox.counter_id))).all():
        installed.setdefault(box, []).append((code, valid_from, valid_to))
    found: dict[str, int] = {}
    for box, start, end in spans(session, since, until):
        for code, valid_from, valid_to in installed.get(box, []):
            lo = max(start, since, valid_from)
            hi = min(end or now, until, now, valid_to or until)
            if hi > lo:
                found[code] = found.get(code, 0) + office_minutes(lo, hi, tz_name, office, lookback_days=None)
    return found
