"""Alerts for supervisors: the history (newest first, with each delivery's state) and acknowledging
one with a comment. Reading needs any login; acknowledging needs the admin role (the supervisor's)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session, col, select

from collector.alerts.rules import RULES
from collector.api.deps import AdminDep, PrincipalDep, SessionDep
from collector.clock import utc_now
from collector.models import Alert, AlertDelivery

# An alert's id: an integer the database can hold (a larger one would overflow SQLite's, not be a 404).
AlertId = Annotated[int, Path(ge=1, le=2**31 - 1)]

router = APIRouter(prefix="/api/v1", tags=["alerts"])

LIMIT_MAX = 500


class DeliveryPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(description="email | webhook | mqtt")
    event: str = Field(description="fired | cleared")
    attempts: int
    last_error: str | None = Field(description="why the last attempt failed; null once delivered")
    next_attempt_at: datetime
    delivered_at: datetime | None


class AlertPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    rule: str = Field(description=", ".join(RULES))
    subject: str = Field(description="counter:<code> or box:<id>")
    counter: str | None
    box: str | None
    site: str | None
    message: str = Field(description="Vietnamese / English")
    value: float | None = Field(description="the figure that set it off: a share, a rate, minutes or a count")
    fired_at: datetime
    cleared_at: datetime | None
    active: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    comment: str | None
    deliveries: list[DeliveryPublic]


class AlertPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[AlertPublic]
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null at the end")


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=1000)

    @field_validator("comment")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(not ch.isprintable() and ch not in "\n\t" for ch in value):
            raise ValueError("must not contain control characters (other than new lines and tabs)")
        return value.strip()


def _public(alert: Alert, deliveries: list[AlertDelivery]) -> AlertPublic:
    assert alert.id is not None
    return AlertPublic(
        id=alert.id, rule=alert.rule, subject=alert.subject, counter=alert.counter, box=alert.box, site=alert.site,
        message=alert.message, value=alert.value, fired_at=alert.fired_at, cleared_at=alert.cleared_at,
        active=alert.cleared_at is None, acknowledged_at=alert.acknowledged_at, acknowledged_by=alert.acknowledged_by,
        comment=alert.comment,
        deliveries=[DeliveryPublic(channel=d.channel, event=d.event, attempts=d.attempts, last_error=d.last_error,
                                   next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at)
                    for d in deliveries])


def _deliveries(session: Session, alert_ids: list[int]) -> dict[int, list[AlertDelivery]]:
    found: dict[int, list[AlertDelivery]] = {}
    if alert_ids:
        rows = session.exec(select(AlertDelivery).where(col(AlertDelivery.alert_id).in_(alert_ids))
                            .order_by(col(AlertDelivery.id))).all()
        for delivery in rows:
            found.setdefault(delivery.alert_id, []).append(delivery)
    return found


@router.get("/alerts", summary="Alert history, newest first", response_model=AlertPage)
def list_alerts(
    session: SessionDep,
    _who: PrincipalDep,
    state: Annotated[Literal["all", "active", "cleared", "unacknowledged"], Query()] = "all",
    counter: Annotated[str | None, Query(max_length=16)] = None,
    rule: Annotated[Literal[RULES] | None, Query()] = None,  # type: ignore[valid-type]
    before: Annotated[int | None, Query(ge=1, description="only alerts older than this id (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 100,
) -> AlertPage:
    query = select(Alert)
    if state == "active":
        query = query.where(col(Alert.cleared_at).is_(None))
    elif state == "cleared":
        query = query.where(col(Alert.cleared_at).is_not(None))
    elif state == "unacknowledged":
        query = query.where(col(Alert.acknowledged_at).is_(None))
    if counter:
        query = query.where(Alert.counter == counter)
    if rule:
        query = query.where(Alert.rule == rule)
    if before:
        query = query.where(col(Alert.id) < before)
    alerts = list(session.exec(query.order_by(col(Alert.id).desc()).limit(limit + 1)).all())
    more = len(alerts) > limit
    alerts = alerts[:limit]
    deliveries = _deliveries(session, [a.id for a in alerts if a.id is not None])
    return AlertPage(items=[_public(a, deliveries.get(a.id or 0, [])) for a in alerts],
                     next_before=alerts[-1].id if more and alerts else None)


@router.get("/alerts/{alert_id}", summary="One alert, with its deliveries", response_model=AlertPublic)
def get_alert(alert_id: AlertId, session: SessionDep, _who: PrincipalDep) -> AlertPublic:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    return _public(alert, _deliveries(session, [alert_id]).get(alert_id, []))


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert, with a comment (admin)",
             response_model=AlertPublic)
def acknowledge_alert(alert_id: AlertId, body: AcknowledgeIn, session: SessionDep, who: AdminDep) -> AlertPublic:
    """Acknowledging again replaces the comment and who acknowledged; the first time is kept."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    alert.acknowledged_at = alert.acknowledged_at or utc_now()
    alert.acknowledged_by = who.name[:100]
    alert.comment = body.comment or None
    session.add(alert)
    session.commit()
    session.refresh(alert)
    return _public(alert, _deliveries(session, [alert_id]).get(alert_id, []))
