"""The HTTP side under attack, against a real uvicorn server on a port of its own (port 0): logins that
must not stall the event loop, a login limiter that cannot be fooled by X-Forwarded-For nor used to
lock someone else out, bodies refused before they are read, security headers, and a logout that
another site cannot trigger."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from collector.app import create_app
from collector.auth import LoginLimiter, create_token, create_user
from collector.db import make_engine, session_scope, upgrade
from collector.settings import Settings

PASSWORD = "correct horse battery"
WAIT_S = 20.0  # the most any step may take before the test gives up


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'collector.sqlite3'}")
    upgrade(engine)
    with session_scope(engine) as session:
        create_user(session, username="chanh", role="viewer", password=PASSWORD)
        create_user(session, username="quantri", role="admin", password=PASSWORD)
    yield engine
    engine.dispose()


@pytest.fixture
def admin_token(engine: Engine) -> str:
    with session_scope(engine) as session:
        return create_token(session, name="hardening-admin", role="admin")


@contextmanager
def running(config: uvicorn.Config) -> Iterator[str]:
    """A uvicorn server on `config` (port 0) in a thread; yields its base URL."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive(), "the server stopped before it started"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


def plain_config(app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")


def make_app(tmp_path: Path, engine: Engine, **settings: Any) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path, **settings), engine)


# --- 1. Argon2 off the event loop -----------------------------------------------------------------


def test_concurrent_logins_do_not_stall_healthz(tmp_path: Path, engine: Engine,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import collector.auth

    app = make_app(tmp_path, engine)
    app.state.login_limiter = LoginLimiter(attempts=1000)  # this test is about the loop, not the limiter
    verifying = threading.Event()

    class Hasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verifying.set()
            return super().verify(hash, password)

    monkeypatch.setattr(collector.auth, "_hasher", Hasher())
    logins = 12
    with running(plain_config(app)) as url, ThreadPoolExecutor(logins) as pool, \
            httpx.Client(base_url=url, timeout=WAIT_S) as probe:
        probe.get("/healthz")  # the probe's connection is open before the logins start

        def wrong_login(i: int) -> int:
            with httpx.Client(base_url=url, timeout=WAIT_S) as client:
                return client.post("/login", data={"username": "chanh", "password": f"wrong guess {i}"}).status_code

        futures = [pool.submit(wrong_login, i) for i in range(logins)]
        assert verifying.wait(WAIT_S), "no login reached the password check"
        latencies = []
        while not all(f.done() for f in futures):  # every probe starts while logins are being verified
            began = time.perf_counter()
            probe.get("/healthz")
            latencies.append(time.perf_counter() - began)
        assert [f.result() for f in futures] == [401] * logins
    assert latencies and max(latencies) < 1.0, \
        f"/healthz took up to {max(latencies):.2f} s while {logins} wrong logins were checked"
