"""The lobby screen: a display token reads today's figures and nothing else, the page needs no login
and holds no data, and in headless Chromium it shows what the API says, in vi and en, with the token
taken off the address and kept across a reload."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

import collector.api.routes.lobby
from collector.app import create_app
from collector.auth import create_token, create_user
from collector.clock import utc_ms
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.models import Counter
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.browser import Browser
from tests.helpers.paths import REPO
from tests.helpers.presses import press_payload
from tests.helpers.registry import TEST_REGISTRY
from tests.helpers.serving import serving_app

TZ = "Asia/Ho_Chi_Minh"
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 on Monday 2 March at the center
EVIL = "Quầy <img src=x onerror=alert(1)>"
TODAY = {"from": "2026-03-02", "to": "2026-03-02"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("lobby")
    engine = make_engine(f"sqlite:///{tmp / 'collector.sqlite3'}")
    upgrade(engine)
    path = tmp / "registry.json"
    path.write_text(json.dumps(TEST_REGISTRY))
    at = [NOW - timedelta(minutes=m) for m in range(10, 0, -1)]
    payloads = [
        *(press_payload("box-017", seq=i + 1, t=utc_ms(at[i]), level=i % 2) for i in range(5)),
        *(press_payload("box-018", seq=i + 1, t=utc_ms(at[5 + i]), scale="vn3", level=2) for i in range(3)),
        press_payload("box-018", seq=4, t=utc_ms(at[8]), scale="vn3", level=0, flags=["suppressed"]),
        press_payload("box-017", seq=6, t=utc_ms(NOW - timedelta(days=1)), level=0),  # 1 March: the month only
    ]
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        counter = session.exec(select(Counter).where(Counter.code == "18")).one()
        counter.name = EVIL
        session.add(counter)
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), NOW))
                              for p in payloads], TZ)
        tokens = {role: create_token(session, name=f"lobby-{role}", role=role) for role in ("display", "viewer")}
        create_user(session, username="giamdoc", role="viewer", password="dashboard password")
    app = create_app(Settings(data_dir=tmp, timezone=TZ), engine)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(collector.api.routes.lobby, "utc_now", lambda: NOW)  # "today" is 2 March
        with serving_app(app) as url:
            yield {"url": url, **tokens}
    engine.dispose()


def get(server: dict[str, str], path: str, role: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {server[role]}"} if role else {}
    return httpx.get(server["url"] + path, params=params, headers=headers, timeout=10)


def test_a_display_token_reads_the_lobby_figures_and_nothing_else(server: dict[str, str]) -> None:
    body = get(server, "/api/v1/lobby", "display").json()
    day = get(server, "/api/v1/satisfaction", "viewer", group="counter", **TODAY).json()
    month = get(server, "/api/v1/satisfaction", "viewer", group="none", **{"from": "2026-03-01", "to": "2026-03-02"}).json()
    assert body["day"] == "2026-03-02" and body["timezone"] == TZ
    assert (body["today"]["total"], body["today"]["satisfaction_rate"]) == (day["total"], day["satisfaction_rate"]) == (8, 0.625)
    assert (body["month"]["total"], body["month"]["satisfaction_rate"]) == (month["total"], month["satisfaction_rate"])
    assert month["total"] == 9  # the press of 1 March counts in the month, not today
    assert [(c["code"], c["total"], c["satisfaction_rate"]) for c in body["counters"]] == \
        [(g["code"], g["total"], g["satisfaction_rate"]) for g in day["groups"]]
    assert [r["counter"] for r in body["recent"]] == ["18", "18", "18", "17", "17", "17", "17", "17"]  # newest first
    assert body["recent"][0]["at"] == "2026-03-02T09:57:00+07:00"  # the center's time
    assert "officer" not in json.dumps(body)  # a screen the public sees names no officer

    for path in ("/api/v1/satisfaction", "/api/v1/presses.csv", "/api/v1/devices", "/openapi.json",
                 "/static/dashboard.js", "/api/v1/registry/counters"):
        answer = get(server, path, "display")
        assert answer.status_code == 403, (path, answer.status_code)
        assert "lobby" in answer.json()["detail"]
    assert get(server, "/api/v1/lobby", None).status_code == 401
    assert get(server, "/api/v1/lobby", "viewer").status_code == 200  # a supervisor sees it too


def test_the_page_needs_no_login_and_holds_no_data(server: dict[str, str]) -> None:
    page = get(server, "/lobby", None)
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Quầy <img" not in page.text and "rct_" not in page.text
    assert get(server, "/lobby/lobby.js", None).status_code == 200
    assert get(server, "/lobby/dashboard.js", None).status_code == 404  # only the lobby's own files


def test_a_display_token_is_made_by_the_cli_and_a_person_cannot_have_that_role(tmp_path: Path) -> None:
    env = {"RATING_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cli = str(REPO / ".venv" / "bin" / "rating-collector")
    made = subprocess.run([cli, "token", "create", "--name", "lobby", "--role", "display"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("rct_")
    person = subprocess.run([cli, "user", "create", "lobby", "--role", "display", "--password-stdin"],
                            input="a long enough password\n", capture_output=True, text=True, env=env, timeout=60, check=False)
    assert person.returncode != 0
    assert "viewer, admin" in person.stderr


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    instance = Browser()
    yield instance
    instance.close()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_screen_shows_the_api_figures_and_keeps_its_token(server: dict[str, str], browser: Browser,
                                                              lang: str, tmp_path: Path) -> None:
    browser.goto(f"{server['url']}/lobby?lang={lang}#token={server['display']}")
    assert browser.wait_for("document.body.dataset.loaded") == "true"
    assert "token" not in browser.evaluate("location.href")  # not shown on the screen
    body = get(server, "/api/v1/lobby", "display").json()
    comma = "," if lang == "vi" else "."
    assert browser.evaluate("document.getElementById('rate-today').textContent") == f"62{comma}5%"
    assert browser.evaluate("document.getElementById('total-today').textContent") == "8"
    tiles = browser.evaluate("[...document.querySelectorAll('#counters li')].map(t => t.dataset.counter)")
    assert tiles == [c["code"] for c in body["counters"]]
    assert EVIL in browser.evaluate("document.getElementById('counters').textContent")  # as text...
    assert browser.evaluate("document.querySelectorAll('#counters img').length") == 0  # ...not markup
    assert browser.evaluate("document.querySelectorAll('#recent li').length") == len(body["recent"])
    title = {"vi": "Mức độ hài lòng của người dân hôm nay", "en": "Citizens' satisfaction today"}[lang]
    assert browser.evaluate("document.querySelector('h1').textContent") == title
    shot = browser.screenshot(tmp_path / f"lobby-{lang}.png", width=1920, height=1080)
    print(f"\nscreenshot: {shot}")

    browser.goto(f"{server['url']}/lobby?lang={lang}")  # a reload, the token no longer in the address
    assert browser.wait_for("document.body.dataset.loaded") == "true"
    assert browser.evaluate("document.getElementById('error').textContent") == ""
    assert browser.errors == [], browser.errors
