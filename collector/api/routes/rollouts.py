"""Rollouts of a firmware release (collector/rollouts.py): start one with its canaries, widen it to
all or a share of the fleet once the canaries run it, stop it; and each box's state. Reading needs
any login, changing the admin role (`rating-tech ota` uses an admin token)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session, col, select

from collector.api.deps import AdminDep, PrincipalDep, SessionDep, SettingsDep, unprocessable
from collector.clock import utc_now
from collector.models import Device, Rollout
from collector.releases import VERSION, find_release
from collector.rollouts import STATES, boxes_of, find_rollout, start, stop, widen

router = APIRouter(prefix="/api/v1", tags=["rollouts"])

Version = Annotated[str, Path(pattern=VERSION.pattern, max_length=14)]
BoxId = Annotated[str, Field(pattern=r"^box-[a-z0-9][a-z0-9-]{0,27}$", max_length=32)]  # schemas/defs.schema.json
# schemas/cmd.schema.json "url": what a box can fetch from (plain HTTP, a host name or address).
BOX_URL = re.compile(r"^http://[A-Za-z0-9.-]+(:[0-9]{1,5})?/([A-Za-z0-9._~-]+/)*$")


class RolloutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=VERSION.pattern, max_length=14)
    canary: list[BoxId] | None = Field(default=None, max_length=20, description="start: these boxes first")
    all: bool = Field(default=False, description="widen to every box behind the version")
    percent: int | None = Field(default=None, ge=1, le=100, description="widen to this share of the boxes left")

    @model_validator(mode="after")
    def _one_stage(self) -> RolloutIn:
        if sum((self.canary is not None, self.all, self.percent is not None)) != 1:
            raise ValueError("give exactly one of canary, all or percent")
        return self


class RolloutBoxPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    box: str
    canary: bool
    state: str = Field(description=" | ".join(STATES))
    from_fw: str | None = Field(description="what it ran when it was targeted")
    fw: str | None = Field(description="what it reports now")
    attempts: int = Field(description="update commands sent")
    sent_at: datetime | None
    changed_at: datetime
    detail: str | None


class RolloutPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    state: str = Field(description="canary | widened | stopped")
    reason: str | None = Field(description="why it stopped")
    url: str
    created_by: str
    created_at: datetime
    stopped_at: datetime | None
    counts: dict[str, int] = Field(description="boxes per state")
    boxes: list[RolloutBoxPublic]


class RolloutsPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[RolloutPublic]


def _public(session: Session, rollout: Rollout) -> RolloutPublic:
    rows = boxes_of(session, rollout)
    fw = dict(session.exec(select(Device.box, Device.fw).where(col(Device.box).in_([r.box for r in rows]))).all())
    counts = {state: sum(r.state == state for r in rows) for state in STATES}
    return RolloutPublic(
        version=rollout.version, state=rollout.state, reason=rollout.reason, url=rollout.url,
        created_by=rollout.created_by, created_at=rollout.created_at, stopped_at=rollout.stopped_at, counts=counts,
        boxes=[RolloutBoxPublic(box=r.box, canary=r.canary, state=r.state, from_fw=r.from_fw, fw=fw.get(r.box),
                                attempts=r.attempts, sent_at=r.sent_at, changed_at=r.changed_at, detail=r.detail)
               for r in rows])


def _releases_url(request: Request, base: str) -> str:
    return (base or f"{str(request.base_url).rstrip('/')}/releases/").rstrip("/") + "/"


@router.get("/rollouts", response_model=RolloutsPublic)
def rollouts_list(_who: PrincipalDep, session: SessionDep) -> RolloutsPublic:
    """Every rollout, the newest first, with each box's state."""
    rollouts = session.exec(select(Rollout).order_by(col(Rollout.id).desc())).all()
    return RolloutsPublic(items=[_public(session, r) for r in rollouts])


@router.get("/rollouts/{version}", response_model=RolloutPublic)
def rollout_get(version: Version, _who: PrincipalDep, session: SessionDep) -> RolloutPublic:
    rollout = find_rollout(session, version)
    if rollout is None:
        raise HTTPException(404, f"no rollout of {version}")
    return _public(session, rollout)


@router.post("/rollouts", response_model=RolloutPublic)
def rollout_post(body: RolloutIn, request: Request, who: AdminDep, session: SessionDep,
                 settings: SettingsDep) -> RolloutPublic:
    """Start a rollout with its canaries (`canary`), or widen one whose canaries all run the version
    (`all`, `percent`). The boxes are told within rollout_tick_s."""
    now = utc_now()
    with unprocessable():
        if body.canary is not None:
            assert settings.releases_dir is not None
            release = find_release(settings.releases_dir, body.version)
            if release is None:
                raise ValueError(f"no release {body.version} here: add it with `rating-collector releases add`")
            url = _releases_url(request, settings.releases_url) + body.version + "/"
            if not BOX_URL.match(url) or len(url) > 200:
                raise ValueError(f"boxes cannot fetch from {url[:80]!r} (plain http://host:port/...): "
                                 "set RATING_RELEASES_URL")
            rollout = start(session, release, url, body.canary, who.name, now)
        else:
            found = find_rollout(session, body.version)
            if found is None:
                raise ValueError(f"no rollout of {body.version}: start it with its canaries")
            rollout = found
            widen(session, rollout, 100 if body.all else body.percent or 0, settings, now)
    session.commit()
    return _public(session, rollout)


@router.post("/rollouts/{version}/stop", response_model=RolloutPublic)
def rollout_stop(version: Version, who: AdminDep, session: SessionDep) -> RolloutPublic:
    """Send nothing more for this rollout (boxes already updated stay so)."""
    rollout = find_rollout(session, version)
    if rollout is None:
        raise HTTPException(404, f"no rollout of {version}")
    stop(session, rollout, f"stopped by {who.name}", utc_now())
    session.commit()
    return _public(session, rollout)
