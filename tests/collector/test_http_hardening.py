"""The HTTP side under attack, against a real uvicorn server on a port of its own (port 0): logins that
must not stall the event loop, a login limiter that cannot be fooled by X-Forwarded-For nor used to
lock someone else out, bodies refused before they are read, security headers, and a logout that
another site cannot trigger."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
from collector.cli import http_config
from collector.db import make_engine, session_scope, upgrade
from collector.settings import Settings
from tests.helpers.serving import serving

PASSWORD = "correct horse battery"
WAIT_S = 20.0  # the most any step may take before the test gives up
PROBE_S = 5.0  # /healthz answers within this, however busy the login checks keep their threads


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


def plain_config(app: FastAPI) -> uvicorn.Config:
    return uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")


def make_app(tmp_path: Path, engine: Engine, **settings: Any) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path, **settings), engine)


def serve_config(app: FastAPI) -> uvicorn.Config:
    """What `rating-collector serve` runs, on port 0."""
    config = http_config(app.state.settings.model_copy(update={"http_port": 0}), app)
    config.log_level = "warning"
    return config


def login(client: httpx.Client, username: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post("/login", data={"username": username, "password": password}, headers=headers).status_code


# --- 1. Argon2 off the event loop -----------------------------------------------------------------


def test_concurrent_logins_do_not_stall_healthz(tmp_path: Path, engine: Engine,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import collector.auth

    app = make_app(tmp_path, engine)
    app.state.login_limiter = LoginLimiter(attempts=1000)  # this test is about the loop, not the limiter
    verifying = threading.Event()
    release = threading.Event()

    class Hasher(PasswordHasher):
        """Holds every check until the probe has its answer: a check run on the event loop would
        hold the probe too, so the test fails by a timeout, whatever the machine's load."""

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verifying.set()
            release.wait(WAIT_S)
            return super().verify(hash, password)

    monkeypatch.setattr(collector.auth, "_hasher", Hasher())
    logins = 12
    with serving(plain_config(app)) as url, ThreadPoolExecutor(logins) as pool, \
            httpx.Client(base_url=url, timeout=WAIT_S) as probe:
        probe.get("/healthz")  # the probe's connection is open before the logins start

        def wrong_login(i: int) -> int:
            with httpx.Client(base_url=url, timeout=WAIT_S) as client:
                return client.post("/login", data={"username": "chanh", "password": f"wrong guess {i}"}).status_code

        futures = [pool.submit(wrong_login, i) for i in range(logins)]
        try:
            assert verifying.wait(WAIT_S), "no login reached the password check"
            answer = probe.get("/healthz", timeout=PROBE_S)  # while the checks are held
        finally:
            release.set()
        assert [f.result() for f in futures] == [401] * logins
    assert answer.json()["db"] is True, answer.text  # an answer, degraded or not: this app has no broker



def test_verifications_beyond_the_bound_wait_and_beyond_the_queue_are_refused() -> None:
    import anyio

    from collector.auth import VerifyBusy, VerifyGate

    gate = VerifyGate(concurrency=1, waiting_max=1)
    release, running_now = threading.Event(), threading.Event()
    done: list[str] = []

    def hold() -> str:
        running_now.set()
        assert release.wait(WAIT_S)
        return "first"

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            async def run(work: Callable[[], str]) -> None:
                done.append(await gate.run(work))

            tasks.start_soon(run, hold)
            with anyio.fail_after(WAIT_S):
                while not running_now.is_set():
                    await anyio.sleep(0.005)
            tasks.start_soon(run, lambda: "second")  # waits for the slot
            with anyio.fail_after(WAIT_S):
                while gate._limiter().statistics().tasks_waiting < 1:
                    await anyio.sleep(0.005)
            with pytest.raises(VerifyBusy):
                await gate.run(lambda: "third")  # the queue is full: refused at once
            release.set()

    anyio.run(main)
    assert done == ["first", "second"]


# --- 2. whose address the login limiter counts --------------------------------------------------


def test_a_forged_forwarded_for_does_not_choose_the_limited_address(tmp_path: Path, engine: Engine) -> None:
    app = make_app(tmp_path, engine)  # RATING_TRUSTED_PROXIES empty: nobody's X-Forwarded-For counts
    app.state.login_limiter = LoginLimiter(attempts=3, address_attempts=4)
    with serving(serve_config(app)) as url, httpx.Client(base_url=url, timeout=WAIT_S) as client:
        for i in range(4):  # four names, four made-up addresses: all of it from 127.0.0.1
            assert login(client, f"nobody{i}", "wrong guess", forwarded_for=f"203.0.113.{i + 1}") == 401
        assert login(client, "chanh", PASSWORD, forwarded_for="198.51.100.9") == 429
        assert login(client, "chanh", PASSWORD) == 429


def test_forwarded_for_counts_from_a_trusted_proxy_only(tmp_path: Path, engine: Engine) -> None:
    app = make_app(tmp_path, engine, trusted_proxies="10.9.0.0/16, 127.0.0.1")
    app.state.login_limiter = LoginLimiter(attempts=3, address_attempts=4)
    with serving(serve_config(app)) as url, httpx.Client(base_url=url, timeout=WAIT_S) as client:
        for i in range(4):
            assert login(client, f"nobody{i}", "wrong guess", forwarded_for="203.0.113.7") == 401
        assert login(client, "chanh", PASSWORD, forwarded_for="203.0.113.7") == 429
        assert login(client, "chanh", PASSWORD, forwarded_for="198.51.100.9") == 303


def test_an_attacker_cannot_lock_a_user_out_for_other_addresses(tmp_path: Path, engine: Engine) -> None:
    app = make_app(tmp_path, engine, trusted_proxies="127.0.0.1")  # the proxy says who is who
    app.state.login_limiter = LoginLimiter(attempts=3)
    with serving(serve_config(app)) as url, httpx.Client(base_url=url, timeout=WAIT_S) as client:
        attacker, supervisor = "203.0.113.66", "198.51.100.17"
        assert [login(client, "chanh", "wrong guess", attacker) for _ in range(4)] == [401, 401, 401, 429]
        assert login(client, "chanh", PASSWORD, attacker) == 429  # throttled, even with the right password
        assert login(client, "chanh", PASSWORD, supervisor) == 303
        assert login(client, "quantri", PASSWORD, attacker) == 303  # other names from there are not locked


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        Settings(data_dir=tmp_path, trusted_proxies="127.0.0.1, proxy.example")
    assert Settings(data_dir=tmp_path, trusted_proxies=" 10.0.0.0/8,::1 ").trusted_proxy_list == ["10.0.0.0/8", "::1"]


# --- 3. bodies refused before they are read -----------------------------------------------------

REGISTRY_POST = "/api/v1/registry/departments"


def raw_exchange(url: str, head: str, chunks: list[bytes] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send a request head (and then, chunked, `chunks`) on a raw socket; read the whole answer. A
    server that waits for a body it was promised but not sent makes this time out (WAIT_S)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        sock.sendall(head.encode("latin-1"))
        for chunk in chunks or []:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        if chunks is not None:
            sock.sendall(b"0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            assert more, f"the server closed the connection without an answer: {data!r}"
            data += more
        top, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        while len(body) < int(headers.get("content-length", "0")):
            more = sock.recv(65536)
            assert more, "the answer was cut short"
            body += more
    return int(status_line.split()[1]), headers, body


def post_head(path: str, headers: dict[str, str]) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    return "\r\n".join(lines + [f"{k}: {v}" for k, v in headers.items()]) + "\r\n\r\n"


def test_a_body_without_credentials_is_refused_unread(tmp_path: Path, engine: Engine) -> None:
    with serving(serve_config(make_app(tmp_path, engine))) as url:
        # 60 MB promised, not one byte sent: only an answer that reads nothing can come back
        status, headers, body = raw_exchange(url, post_head(REGISTRY_POST, {"Content-Length": "60000000"}))
        assert status == 401 and headers["www-authenticate"] == "Bearer" and headers["connection"] == "close"
        assert json.loads(body)["detail"] == "missing bearer token or login"
        status, _, _ = raw_exchange(url, post_head(REGISTRY_POST, {"Transfer-Encoding": "chunked"}), [b"{}"])
        assert status == 401
        for forged in ({"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer "}):
            assert raw_exchange(url, post_head(REGISTRY_POST, {"Content-Length": "60000000", **forged}))[0] == 401
        # some credentials (even a forged cookie) let the route judge them, but not with 60 MB
        cookie = {"Cookie": "rating_session=forged", "Content-Length": "60000000"}
        assert raw_exchange(url, post_head(REGISTRY_POST, cookie))[0] == 413


def test_an_oversized_body_gets_413_whether_announced_or_streamed(tmp_path: Path, engine: Engine,
                                                                   admin_token: str) -> None:
    cap = 64 * 1024
    with serving(serve_config(make_app(tmp_path, engine, http_body_max=cap))) as url:
        auth = {"Authorization": f"Bearer {admin_token}"}
        status, headers, _ = raw_exchange(url, post_head(REGISTRY_POST, {**auth, "Content-Length": str(cap + 1)}))
        assert status == 413 and headers["connection"] == "close"
        # chunked: no length up front; refused once the bytes read pass the cap (the last chunk does)
        chunks = [b" " * 4096] * (cap // 4096) + [b"{}"]
        status, _, body = raw_exchange(url, post_head(REGISTRY_POST, {**auth, "Transfer-Encoding": "chunked"}),
                                       chunks)
        assert status == 413 and f"larger than {cap} bytes" in json.loads(body)["detail"]
        # the login form gets far less than the API
        assert raw_exchange(url, post_head("/login", {"Content-Length": "100000"}))[0] == 413
        # under the cap, streamed or not, everything works as before
        status, _, _ = raw_exchange(url, post_head(REGISTRY_POST, {**auth, "Transfer-Encoding": "chunked"}),
                                    [b" " * 4096] * 4 + [b'{"code": "QQ", "name": "Q"}'])
        assert status == 201
        with httpx.Client(base_url=url, timeout=WAIT_S) as client:
            assert client.post(REGISTRY_POST, json={"code": "QR", "name": "R"}, headers=auth).status_code == 201
            assert client.post(REGISTRY_POST, json={"code": "QS", "name": "S"}).status_code == 401
            assert client.get("/api/v1/registry/departments", headers=auth).status_code == 200
            assert login(client, "chanh", PASSWORD) == 303


# --- 4. security headers ------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_response(tmp_path: Path, engine: Engine, admin_token: str) -> None:
    import base64
    import hashlib
    import re

    from fastapi.testclient import TestClient

    from collector.api.routes.web import CSP as DASHBOARD_CSP
    from collector.app import HTML_CSP

    app = make_app(tmp_path, engine)
    stranger = TestClient(app, follow_redirects=False)
    client = TestClient(app, headers={"Authorization": f"Bearer {admin_token}"}, follow_redirects=False)
    assert login(client, "chanh", PASSWORD) == 303  # the cookie too, for the dashboard

    pages = {
        "/login": stranger.get("/login"),
        "/docs": client.get("/docs"),
        "report": client.get("/api/v1/reports/2026-W48", params={"format": "html"}),
        "/dashboard": client.get("/dashboard"),
    }
    for name, page in pages.items():
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), name
        assert page.headers["x-content-type-options"] == "nosniff", name
        assert page.headers["x-frame-options"] == "DENY", name
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"], name
    assert pages["/login"].headers["content-security-policy"] == HTML_CSP
    assert pages["report"].headers["content-security-policy"] == HTML_CSP
    assert "script-src" not in HTML_CSP and "default-src 'none'" in HTML_CSP  # no script on those pages
    assert pages["/dashboard"].headers["content-security-policy"] == DASHBOARD_CSP  # the route's own is kept
    # /docs: the bundle from here, and its one inline script by hash (not 'unsafe-inline')
    docs_csp = pages["/docs"].headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", pages["/docs"].text, re.DOTALL)
    assert len(inline) == 1 and "'unsafe-inline'" not in docs_csp.split("script-src")[1].split(";")[0]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in docs_csp

    others = [stranger.get("/healthz"), stranger.get("/api/v1/satisfaction"), client.get("/api/v1/devices"),
              client.get("/static/dashboard.js"), client.get("/docs/assets/swagger-ui.css"),
              stranger.post(REGISTRY_POST, json={"code": "QQ", "name": "Q"}), client.get("/nowhere")]
    for response in others:
        assert response.headers["x-content-type-options"] == "nosniff", (response.request.url, response.headers)
        assert "text/html" in response.headers.get("content-type", "") or \
            "x-frame-options" not in response.headers


def test_a_route_that_fails_answers_500_with_the_security_headers(tmp_path: Path, engine: Engine) -> None:
    """Starlette answers an unhandled error from outside every middleware; the 500 must still carry
    nosniff, and no traceback."""
    app = make_app(tmp_path, engine)

    def fails() -> None:
        raise RuntimeError("a secret in the traceback")

    app.add_api_route("/fails", fails)
    with serving(plain_config(app)) as url:
        response = httpx.get(f"{url}/fails", timeout=WAIT_S)
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff", response.headers
    assert "secret" not in response.text and "Traceback" not in response.text


# --- 5. logout only from this site --------------------------------------------------------------


def sessions_open(engine: Engine) -> int:
    from sqlmodel import Session, select

    from collector.models import WebSession

    with Session(engine) as session:
        return len(session.exec(select(WebSession)).all())


def test_another_site_cannot_log_a_user_out(tmp_path: Path, engine: Engine) -> None:
    with serving(serve_config(make_app(tmp_path, engine))) as url, \
            httpx.Client(base_url=url, timeout=WAIT_S) as browser:
        assert login(browser, "chanh", PASSWORD) == 303
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        refused = [
            {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            {"Origin": "https://evil.example"},  # a browser without Fetch Metadata
            {"Sec-Fetch-Site": "same-site", "Origin": "http://other.127.0.0.1.nip.io"},  # a sibling is not us
            {"Origin": "null"},  # a sandboxed frame or a data: page
            {"Origin": url, "Sec-Fetch-Site": "cross-site"},  # the browser's word wins over the header
            {},  # nothing to tell where it comes from
        ]
        for headers in refused:
            response = browser.post("/logout", headers={**form, **headers})
            assert response.status_code == 403, headers
            assert "rating_session" not in response.headers.get("set-cookie", ""), headers
            assert browser.get("/api/v1/satisfaction").status_code == 200, headers  # still logged in
        assert sessions_open(engine) == 1
        # this site's form: the browser sends its Origin, and Sec-Fetch-Site when it has Fetch Metadata
        for headers in ({"Origin": url, "Sec-Fetch-Site": "same-origin"}, {"Origin": url},
                        {"X-Requested-With": "dashboard"}):
            out = browser.post("/logout", headers={**form, **headers})
            assert out.status_code == 303 and out.headers["location"] == "/login", headers
            assert browser.get("/api/v1/satisfaction").status_code == 401, headers
            assert sessions_open(engine) == 0, headers
            assert login(browser, "chanh", PASSWORD) == 303  # for the next way


def test_the_dashboards_sign_out_button_still_logs_out(tmp_path: Path, engine: Engine) -> None:
    """In Chromium, as a supervisor does: sign in, open the dashboard, press its sign-out button."""
    from tests.helpers.browser import Browser

    with serving(serve_config(make_app(tmp_path, engine))) as url:
        browser = Browser()
        try:
            browser.goto(f"{url}/login?next=/dashboard")
            browser.evaluate(f"""document.getElementById('username').value = 'chanh';
                document.getElementById('password').value = {json.dumps(PASSWORD)};
                document.querySelector('form').submit(); true""")
            # The new URL shows before the page has its elements: wait for the button itself.
            browser.wait_for("location.pathname === '/dashboard' && !!document.querySelector('#logout button')")
            assert sessions_open(engine) == 1
            browser.evaluate("document.querySelector('#logout button').click(); true")
            browser.wait_for("location.pathname === '/login'")
        finally:
            browser.close()
    assert sessions_open(engine) == 0
