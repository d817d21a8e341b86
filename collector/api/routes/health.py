from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from collector.api.models import HealthPublic
from collector.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: database, broker connection, and ingest flowing (no token needed)",
            response_model=HealthPublic, responses={503: {"model": HealthPublic, "description": "degraded"}})
def healthz(request: Request) -> JSONResponse:
    db_ok = ping(request.app.state.engine)
    ingest = request.app.state.ingest
    mqtt_ok = bool(ingest and ingest.connected.is_set())
    # A database that answers a ping can still refuse every commit (locked, full, a lost write lock):
    # messages that wait with nothing committed say so.
    stalled_s = ingest.stalled_for() if ingest else 0.0
    ingest_ok = stalled_s <= request.app.state.settings.ingest_stall_s
    healthy = db_ok and mqtt_ok and ingest_ok
    body = HealthPublic(status="ok" if healthy else "degraded", db=db_ok, mqtt=mqtt_ok, ingest=ingest_ok,
                        stalled_s=round(stalled_s, 1), queue_depth=ingest.queue.qsize() if ingest else None)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)
