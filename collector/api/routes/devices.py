from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import col, select

from collector.api.deps import SessionDep, TokenDep
from collector.models import Device

router = APIRouter(prefix="/api/v1", tags=["devices"])


@router.get("/devices", summary="Every box that has reported, with its last status")
def list_devices(session: SessionDep, _token: TokenDep) -> list[dict[str, Any]]:
    devices = session.exec(select(Device).order_by(col(Device.box))).all()
    return [
        device.model_dump(mode="json")
        for device in devices
    ]
