"""Boxes: online/offline, last seen, outbox depth, firmware, which have gone silent in office hours, and
what each numbered that the collector never got (loss accounting)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlmodel import Session, col, select

from collector.api.deps import PrincipalDep, SessionDep, SettingsDep, check_range, parse_day
from collector.api.models import DevicePublic, DeviceStatusPublic
from collector.clock import local_day, local_midnight_utc, utc_now
from collector.device_flags import FLAG_RULES, flags
from collector.downtime import box_downtime
from collector.models import Counter, CounterBox, Device, Rollout, RolloutBox
from collector.office_hours import OfficeHours, office_minutes
from collector.sequences import BoxLoss, box_losses

router = APIRouter(prefix="/api/v1", tags=["devices"])

SILENT_AFTER_MIN = 30


def _current_boxes(session: Session, now: datetime) -> dict[str, str]:
    """box -> counter code, for boxes assigned to a counter now."""
    rows = session.exec(select(CounterBox, Counter).join(Counter)).all()
    return {
        box.box: counter.code
        for box, counter in rows
        if box.valid_from <= now and (box.valid_to is None or now < box.valid_to)
    }


def loss_public(loss: BoxLoss) -> dict[str, Any]:
    return {
        "numbered": loss.numbered, "accounted": loss.accounted, "missing": loss.missing,
        "gap_count": loss.gap_count, "gaps": [list(run) for run in loss.gaps],
        "open_since": loss.open_since.isoformat() if loss.open_since else None,
    }


def down_range(first: str | None, last: str | None, tz_name: str) -> tuple[date, date]:
    """The local days whose downtime is counted: from..to, by default the month so far."""
    today = local_day(utc_now(), tz_name)
    to = parse_day(last, "to") or today
    since = parse_day(first, "from") or to.replace(day=1)
    check_range(since, to, max_days=3700)  # ten years: each span costs a step per day it covers
    return since, to


def latest_rollouts(session: Session) -> dict[str, dict[str, str]]:
    """box -> {version, state} of the newest rollout that targeted it."""
    found: dict[str, dict[str, str]] = {}
    for box, version, state in session.exec(
            select(RolloutBox.box, Rollout.version, RolloutBox.state)
            .join(Rollout, col(Rollout.id) == col(RolloutBox.rollout_id)).order_by(col(Rollout.id))).all():
        found[box] = {"version": version, "state": state}  # a later rollout replaces an earlier one
    return found


def device_status(session: Session, tz_name: str, hours: OfficeHours, silent_after: int,
                  with_registered: bool, days: tuple[date, date]) -> list[dict[str, Any]]:
    now = utc_now()
    rows: dict[str, dict[str, Any]] = {}
    losses = box_losses(session)
    rollouts = latest_rollouts(session)
    down = box_downtime(session, local_midnight_utc(days[0], tz_name),
                        local_midnight_utc(days[1] + timedelta(days=1), tz_name), now, tz_name, hours)
    for device in session.exec(select(Device).order_by(col(Device.box))).all():
        silent_for = office_minutes(device.last_seen, now, tz_name, hours)
        retired = device.retired_at is not None  # replaced: out of service, expected to be silent
        rows[device.box] = {
            **device.model_dump(mode="json"),
            "online": device.online and not retired,
            "status": "retired" if retired else "online" if device.online else "offline",
            "silent_office_minutes": silent_for,
            "silent": not retired and silent_for >= silent_after,
            "down_office_minutes": down.get(device.box, 0),
        }
        if device.box in losses:
            rows[device.box]["loss"] = loss_public(losses[device.box])
        if device.box in rollouts:
            rows[device.box]["rollout"] = rollouts[device.box]
        rows[device.box]["flags"] = flags(rows[device.box])
    if with_registered:
        for box, counter in _current_boxes(session, now).items():
            rows.setdefault(box, {"box": box, "counter": counter, "online": False, "status": "never_seen",
                                  "last_seen": None, "outbox": None, "fw": None, "silent_office_minutes": None,
                                  "silent": True, "down_office_minutes": down.get(box, 0), "flags": []})
    return [rows[box] for box in sorted(rows)]


SilentQuery = Annotated[int, Query(ge=1, le=100_000, description="office-hour minutes without a message")]
FromQuery = Annotated[str | None, Query(alias="from", description="first local day of the downtime counted, "
                                                                  "YYYY-MM-DD (default: the 1st of to's month)")]
ToQuery = Annotated[str | None, Query(description="last local day of the downtime counted (default: today)")]


@router.get("/devices", summary="Every box that has reported, with its last status",
            response_model=list[DevicePublic], response_model_exclude_unset=True)
def list_devices(
    session: SessionDep, settings: SettingsDep, _who: PrincipalDep, silent_after: SilentQuery = SILENT_AFTER_MIN,
    from_: FromQuery = None, to: ToQuery = None,
) -> list[dict[str, Any]]:
    """Last status/presence of each box, plus `status` (online/offline/retired), `silent_office_minutes`
    (office-hour minutes since it was last heard from), `silent` (that is >= silent_after) and
    `down_office_minutes` (office minutes it was offline or silent from..to)."""
    return device_status(session, settings.timezone, settings.office_schedule, silent_after,
                         with_registered=False, days=down_range(from_, to, settings.timezone))


@router.get("/devices/status", summary="Every box in the registry or heard from, and the silent ones",
            response_model=DeviceStatusPublic, response_model_exclude_unset=True)
def devices_status(
    session: SessionDep, settings: SettingsDep, _who: PrincipalDep, silent_after: SilentQuery = SILENT_AFTER_MIN,
    from_: FromQuery = None, to: ToQuery = None,
) -> dict[str, Any]:
    """Boxes assigned to a counter now or that have reported; `silent` lists boxes not heard from for
    `silent_after` minutes of office hours (Mon-Fri 7:30-11:30, 13:30-17:00 local) or never heard from.
    A box the technician replaced is `retired` (with `retired_at`): neither online, offline nor silent.
    `loss` accounts for the seqs a box numbered (missing ones, their first runs, the oldest open since);
    `gaps_open` lists the boxes missing some. `down_office_minutes`: office minutes each box was offline
    or silent (collector.downtime) in the local days down_from..down_to."""
    days = down_range(from_, to, settings.timezone)
    items = device_status(session, settings.timezone, settings.office_schedule, silent_after,
                          with_registered=True, days=days)
    return {
        "silent_after_minutes": silent_after,
        "flag_rules": FLAG_RULES,
        "down_from": days[0].isoformat(),
        "down_to": days[1].isoformat(),
        "office_hours": [f"{a:%H:%M}-{b:%H:%M}" for a, b in settings.office_schedule.periods],
        "online": sum(1 for item in items if item["online"]),
        "offline": sum(1 for item in items if not item["online"] and item["status"] != "retired"),
        "retired": sum(1 for item in items if item["status"] == "retired"),
        "silent": [item["box"] for item in items if item["silent"]],
        "gaps_open": [item["box"] for item in items if item.get("loss") and item["loss"]["missing"]],
        "items": items,
    }
