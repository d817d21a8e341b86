"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote_plus

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from collector.api.limits import BodyLimits
from collector.api.routes import devices, health, metrics, presses, registry, reports, satisfaction, web
from collector.auth import LoginLimiter, VerifyGate
from collector.ingest import Ingest
from collector.settings import Settings


def create_app(settings: Settings, engine: Engine, ingest: Ingest | None = None) -> FastAPI:
    app = FastAPI(
        title="Counter rating collector",
        summary="Button presses from the counters, stored once, and the satisfaction they add up to.",
        version="0.1.0",
        # Served by collector.api.routes.web, behind login like everything but /healthz.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.ingest = ingest
    app.state.login_limiter = LoginLimiter()
    app.state.verify_gate = VerifyGate()

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # PostgreSQL text cannot hold NUL: refuse it in every parameter up front, for every route.
        if "\x00" in unquote_plus(request.url.query) or "\x00" in unquote_plus(request.url.path):
            return JSONResponse({"detail": "parameters must not contain NUL characters"}, status_code=422)
        return await call_next(request)

    # Outside FastAPI's own layers: it answers before anything reads the body (collector.api.limits).
    app.add_middleware(BodyLimits, max_bytes=settings.http_body_max)

    for module in (health, satisfaction, presses, devices, registry, reports, metrics, web):
        app.include_router(module.router)
    return app
