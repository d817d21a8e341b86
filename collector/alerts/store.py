"""The alert and delivery rows: an alert event is recorded with a delivery per channel in one
transaction, so it is delivered or visibly pending, never lost between the two."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from collector.alerts.evaluate import DeviceView, StoredPress, Transition
from collector.alerts.rules import Place
from collector.clock import utc_us
from collector.models import Alert, AlertDelivery, Counter, Department, Device, Press

MAX_BACKOFF = timedelta(minutes=10)


def record(session: Session, transitions: Sequence[Transition], channels: Sequence[str], now: datetime) -> list[Alert]:
    """Write fired alerts as new rows and cleared ones onto their row; queue a delivery of each
    event on every channel."""
    touched = []
    for transition in transitions:
        if transition.event == "fired":
            alert = Alert(rule=transition.rule, subject=transition.subject, counter=transition.place.counter,
                          box=transition.box, site=transition.place.site, message=transition.message[:500],
                          value=transition.value, fired_at=transition.at)
            session.add(alert)
            session.flush()
        else:
            found = session.exec(select(Alert).where(Alert.rule == transition.rule,
                                                     Alert.subject == transition.subject,
                                                     col(Alert.cleared_at).is_(None))).first()
            if found is None:
                continue  # cleared already (another collector, or by hand)
            alert = found
            alert.cleared_at = transition.at
            session.add(alert)
            session.flush()
        assert alert.id is not None
        for channel in channels:
            session.add(AlertDelivery(alert_id=alert.id, event=transition.event, channel=channel,
                                      next_attempt_at=now, created_at=now))
        touched.append(alert)
    return touched


def active_alerts(session: Session) -> list[tuple[str, str]]:
    """(rule, subject) of every alert not cleared: the hysteresis state a restart carries on from."""
    rows = session.exec(select(Alert.rule, Alert.subject).where(col(Alert.cleared_at).is_(None))).all()
    return [(rule, subject) for rule, subject in rows]


def recent_presses(session: Session, since: datetime, satisfied_from: dict[str, int]) -> list[StoredPress]:
    """The presses stored since a moment (test presses left out), as the evaluator takes them: what a
    restarted collector's windows and day counts start from."""
    rows = session.execute(sa.select(col(Press.counter), col(Press.pressed_at), col(Press.level), col(Press.scale),
                                     col(Press.suppressed))
                           .where(col(Press.pressed_at) >= since, col(Press.test).is_(False))
                           .order_by(col(Press.pressed_at))).all()
    return [StoredPress(counter, utc_us(pressed_at), level < satisfied_from.get(scale, 1), bool(suppressed))
            for counter, pressed_at, level, scale, suppressed in rows]


def places(session: Session) -> dict[str, Place]:
    """counter code -> its place (department code and site), from the registry."""
    rows = session.exec(select(Counter.code, Department.code, Department.site)
                        .join(Department, col(Department.id) == col(Counter.department_id))).all()
    return {counter: Place(counter, department, site) for counter, department, site in rows}


def devices(session: Session) -> list[DeviceView]:
    return [DeviceView(device.box, device.counter, device.online, device.last_seen, device.outbox,
                       device.retired_at is not None)
            for device in session.exec(select(Device)).all()]


def due_deliveries(session: Session, now: datetime, limit: int = 50) -> list[tuple[AlertDelivery, Alert]]:
    rows = session.exec(select(AlertDelivery, Alert).join(Alert, col(Alert.id) == col(AlertDelivery.alert_id))
                        .where(col(AlertDelivery.delivered_at).is_(None), col(AlertDelivery.next_attempt_at) <= now)
                        .order_by(col(AlertDelivery.id)).limit(limit)).all()
    return [(delivery, alert) for delivery, alert in rows]


def attempted(session: Session, delivery_id: int, now: datetime, error: str | None, retry_after: timedelta) -> None:
    """After an attempt: delivered, or the error and the next attempt, backing off to MAX_BACKOFF."""
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None:
        return
    delivery.attempts += 1
    if error is None:
        delivery.delivered_at = now
        delivery.last_error = None
    else:
        delivery.last_error = error[:300]
        delivery.next_attempt_at = now + min(retry_after * 2 ** (delivery.attempts - 1), MAX_BACKOFF)
    session.add(delivery)


def event_payload(alert: Alert, event: str) -> dict[str, Any]:
    """What every channel sends of an alert event (JSON-ready)."""
    return {"v": 1, "id": alert.id, "event": event, "rule": alert.rule, "subject": alert.subject,
            "counter": alert.counter, "box": alert.box, "site": alert.site, "message": alert.message,
            "value": alert.value, "fired_at": alert.fired_at.isoformat(),
            "cleared_at": alert.cleared_at.isoformat() if alert.cleared_at else None}


def pending_count(session: Session) -> int:
    return int(session.exec(select(sa.func.count()).select_from(AlertDelivery)
                            .where(col(AlertDelivery.delivered_at).is_(None))).one())
