"""The FastAPI application factory."""

from __future__ import annotations

import atexit
from collections.abc import Awaitable, Callable
from urllib.parse import unquote_plus

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.api.limits import BodyLimits
from collector.api.routes import alerts as alert_routes
from collector.api.routes import (
    devices,
    health,
    lobby,
    metrics,
    presses,
    registry,
    reports,
    satisfaction,
    web,
)
from collector.api.routes import releases as release_routes
from collector.api.routes import rollouts as rollout_routes
from collector.auth import LoginLimiter, VerifyGate
from collector.ingest import Ingest
from collector.reports.dispatch import ReportDispatcher
from collector.rollout_service import RolloutService
from collector.settings import Settings

# For HTML that does not bring its own policy (the login page, the printable reports): no script at all,
# the page's own inline <style>, nothing from another origin, never in a frame. The dashboard and
# /docs set stricter or script-specific ones (collector.api.routes.web), which are left alone.
HTML_CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class SecurityHeaders:
    """nosniff on every response; on HTML, a CSP (unless the route set one) and X-Frame-Options: DENY.
    Pure ASGI, keyed on the response's content type, so it covers routes of every module. A route
    that fails before it answers gets its 500 here, with the headers: Starlette's own 500 page comes
    from outside every middleware, without them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                if headers.get("content-type", "").lower().startswith("text/html"):
                    headers.setdefault("content-security-policy", HTML_CSP)
                    headers.setdefault("x-frame-options", "DENY")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await send_with_headers({"type": "http.response.start", "status": 500,
                                         "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
            raise  # for the server's log


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
    # The serving collector (the one that ingests; tests' apps do not) mails the scheduled reports. Its
    # state is all in the database, so a stop mid-mail is a crash it recovers from; at exit it is let
    # finish the mail in hand (collector.reports.dispatch_store).
    app.state.report_dispatcher = ReportDispatcher.configured(settings, engine) if ingest else None
    if app.state.report_dispatcher is not None:
        atexit.register(app.state.report_dispatcher.start().stop)
    app.state.login_limiter = LoginLimiter()
    app.state.verify_gate = VerifyGate()
    # Rollouts publish update commands with the ingest's MQTT client; `serve` stops them (collector.cli).
    app.state.rollouts = RolloutService(settings, engine, ingest.client.publish).start() if ingest else None

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # PostgreSQL text cannot hold NUL: refuse it in every parameter up front, for every route.
        if "\x00" in unquote_plus(request.url.query) or "\x00" in unquote_plus(request.url.path):
            return JSONResponse({"detail": "parameters must not contain NUL characters"}, status_code=422)
        return await call_next(request)

    # Outside FastAPI's own layers: it answers before anything reads the body (collector.api.limits).
    app.add_middleware(BodyLimits, max_bytes=settings.http_body_max)
    app.add_middleware(SecurityHeaders)  # outside BodyLimits: its 401 and 413 get the headers too

    for module in (health, satisfaction, presses, devices, registry, reports, metrics, alert_routes, lobby,
                   release_routes, rollout_routes, web):
        app.include_router(module.router)
    return app
