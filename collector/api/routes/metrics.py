from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlmodel import func, select

from collector import metrics
from collector.api.deps import PrincipalDep, SessionDep
from collector.models import Device

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics (token needed)", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def prometheus_metrics(session: SessionDep, _who: PrincipalDep) -> Response:
    online = session.exec(select(func.count()).select_from(Device).where(Device.online == True)).one()
    metrics.DEVICES_ONLINE.set(online)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
