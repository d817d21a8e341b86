"""Rollouts of a release to the boxes: who is targeted, and each box's state from what it reports.

A rollout starts with its canaries; more boxes (all, or a share of the rest) are added only once
every canary has run the new version for `rollout_soak_s`. A canary that fails or rolls back stops
the rollout: nothing more is sent. Only boxes not on the version are targeted, never a retired one.

A box's state comes from the version and boot count it reports (presence and status messages, kept
in the device table by the ingest): updated once it reports the version; rolled_back when, once
told, it rebooted and came back on another version, or left the version after reaching it (a new
release that crash-loops, fails at import or never hears the collector is undone by the box itself,
firmware/releases.py); failed when it is still not on the version `rollout_timeout_s` after it was
first told. A reboot for another reason (a power cut mid-download) also reads as rolled_back: the
conservative reading, which at worst stops a rollout that could have gone on.

collector/rollout_service.py runs `step` on a timer and publishes the commands it returns."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from collector.models import Device, Rollout, RolloutBox
from collector.releases import Release, version_key
from collector.settings import Settings

STATES = ("pending", "sent", "updated", "failed", "rolled_back")
WAITING = ("pending", "sent")
BAD = ("failed", "rolled_back")
CANARIES_MAX = 20


class RolloutError(ValueError):
    pass


@dataclass(frozen=True)
class Command:
    box: str
    payload: str  # schemas/cmd.schema.json


def command_payload(rollout: Rollout) -> str:
    return json.dumps({"v": 1, "cmd": "update", "version": rollout.version, "url": rollout.url,
                       "manifest_sha256": rollout.manifest_sha256}, separators=(",", ":"))


def _older(fw: str | None, version: str) -> bool:
    """Is a box reporting `fw` behind `version`? A box that never said, or says something odd, is."""
    try:
        return fw is None or version_key(fw) < version_key(version)
    except ValueError:
        return True


def find_rollout(session: Session, version: str) -> Rollout | None:
    return session.exec(select(Rollout).where(Rollout.version == version)).first()


def boxes_of(session: Session, rollout: Rollout) -> list[RolloutBox]:
    return list(session.exec(select(RolloutBox).where(RolloutBox.rollout_id == rollout.id)
                             .order_by(col(RolloutBox.box))).all())


def _target(session: Session, rollout: Rollout, device: Device, canary: bool, now: datetime) -> RolloutBox:
    assert rollout.id is not None
    on_it = device.fw == rollout.version
    row = RolloutBox(rollout_id=rollout.id, box=device.box, canary=canary, state="updated" if on_it else "pending",
                     from_fw=device.fw, changed_at=now, detail="on the version already" if on_it else None)
    session.add(row)
    return row


def start(session: Session, release: Release, url: str, canaries: list[str], by: str, now: datetime) -> Rollout:
    """A new rollout of `release`, fetched from `url`, to `canaries` first."""
    if not 1 <= len(canaries) <= CANARIES_MAX or len(set(canaries)) != len(canaries):
        raise RolloutError(f"name 1 to {CANARIES_MAX} different canary boxes")
    if find_rollout(session, release.version) is not None:
        raise RolloutError(f"a rollout of {release.version} exists already: widen it (--all, --percent) "
                           "or, if it stopped, build a new version")
    devices = {d.box: d for d in session.exec(select(Device).where(col(Device.box).in_(canaries))).all()}
    for box in canaries:
        device = devices.get(box)
        if device is None:
            raise RolloutError(f"{box} has never reported to this collector")
        if device.retired_at is not None:
            raise RolloutError(f"{box} is retired")
        if device.fw is not None and not _older(device.fw, release.version) and device.fw != release.version:
            raise RolloutError(f"{box} runs {device.fw}, newer than {release.version}: a box never goes back")
    rollout = Rollout(version=release.version, url=url, manifest_sha256=release.manifest_sha256, state="canary",
                      created_by=by, created_at=now)
    session.add(rollout)
    session.flush()
    for box in canaries:
        _target(session, rollout, devices[box], True, now)
    return rollout


def canaries_done(rows: list[RolloutBox], soak: timedelta, now: datetime) -> bool:
    canaries = [r for r in rows if r.canary]
    return bool(canaries) and all(r.state == "updated" and now - r.changed_at >= soak for r in canaries)


def widen(session: Session, rollout: Rollout, percent: int, settings: Settings, now: datetime) -> list[str]:
    """Add `percent` % (100: all) of the boxes behind the version and not in the rollout yet; the
    boxes added. Refused until every canary has run the version for rollout_soak_s."""
    if not 1 <= percent <= 100:
        raise RolloutError("percent is 1 to 100")
    if rollout.state == "stopped":
        raise RolloutError(f"the rollout of {rollout.version} stopped: {rollout.reason}")
    rows = boxes_of(session, rollout)
    if not canaries_done(rows, timedelta(seconds=settings.rollout_soak_s), now):
        waiting = [f"{r.box} ({r.state})" for r in rows if r.canary and r.state != "updated"]
        raise RolloutError("the canaries have not all run the new version for "
                           f"{settings.rollout_soak_s:g} s yet" + (f": {', '.join(waiting)}" if waiting else ""))
    taken = {r.box for r in rows}
    behind = [d for d in session.exec(select(Device).where(col(Device.retired_at).is_(None))
                                      .order_by(col(Device.box))).all()
              if d.box not in taken and _older(d.fw, rollout.version)]
    chosen = behind if percent == 100 else behind[:math.ceil(len(behind) * percent / 100)]
    for device in chosen:
        _target(session, rollout, device, False, now)
    rollout.state = "widened"
    session.add(rollout)
    return [d.box for d in chosen]


def stop(session: Session, rollout: Rollout, reason: str, now: datetime) -> None:
    if rollout.state != "stopped":
        rollout.state, rollout.reason, rollout.stopped_at = "stopped", reason[:300], now
        session.add(rollout)


def _set(row: RolloutBox, state: str, now: datetime, detail: str | None) -> None:
    row.state, row.changed_at, row.detail = state, now, detail


def step(session: Session, settings: Settings, now: datetime) -> list[Command]:
    """Bring every running rollout's boxes up to date with what they report; the commands to send
    now (to online boxes not told yet, or told more than rollout_resend_s ago)."""
    resend = timedelta(seconds=settings.rollout_resend_s)
    timeout = timedelta(seconds=settings.rollout_timeout_s)
    commands: list[Command] = []
    for rollout in session.exec(select(Rollout).where(Rollout.state != "stopped")).all():
        rows = [r for r in boxes_of(session, rollout) if r.state not in BAD]
        devices = {d.box: d for d in session.exec(select(Device).where(col(Device.box).in_([r.box for r in rows])))}
        for row in rows:
            device = devices.get(row.box)
            if device is None:
                continue
            if device.fw == rollout.version:
                if row.state != "updated":
                    _set(row, "updated", now, None)
            elif row.state == "updated":
                _set(row, "rolled_back", now, f"was on {rollout.version}, now reports {device.fw}")
            elif row.state == "sent" and row.boot_at_send is not None and device.boot is not None \
                    and device.boot > row.boot_at_send:
                _set(row, "rolled_back", now, f"rebooted and came back on {device.fw}")
            elif row.first_sent_at is not None and now - row.first_sent_at >= timeout:
                _set(row, "failed", now, f"still on {device.fw} {settings.rollout_timeout_s:g} s after the first command")
            elif device.online and device.retired_at is None and (row.sent_at is None or now - row.sent_at >= resend):
                if row.first_sent_at is None:
                    row.first_sent_at, row.boot_at_send = now, device.boot
                row.sent_at, row.attempts = now, row.attempts + 1
                if row.state != "sent":
                    _set(row, "sent", now, None)
                commands.append(Command(row.box, command_payload(rollout)))
            session.add(row)
        bad = [r for r in rows if r.canary and r.state in BAD]
        if bad:
            stop(session, rollout, "canary " + ", ".join(f"{r.box} {r.state}: {r.detail}" for r in bad), now)
            commands = [c for c in commands if c.box not in {r.box for r in rows}]
    return commands
