"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from collector.api.routes import devices, health, metrics, presses, satisfaction
from collector.ingest import Ingest
from collector.settings import Settings


def create_app(settings: Settings, engine: Engine, ingest: Ingest | None = None) -> FastAPI:
    app = FastAPI(
        title="Counter rating collector",
        summary="Button presses from the counters, stored once, and the satisfaction they add up to.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.ingest = ingest
    for module in (health, satisfaction, presses, devices, metrics):
        app.include_router(module.router)
    return app
