from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from collector.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: database and broker connection (no token needed)")
def healthz(request: Request) -> JSONResponse:
    db_ok = ping(request.app.state.engine)
    ingest = request.app.state.ingest
    mqtt_ok = bool(ingest and ingest.connected.is_set())
    body = {
        "status": "ok" if db_ok and mqtt_ok else "degraded",
        "db": db_ok,
        "mqtt": mqtt_ok,
        "queue_depth": ingest.queue.qsize() if ingest else None,
    }
    return JSONResponse(body, status_code=200 if db_ok and mqtt_ok else 503)
