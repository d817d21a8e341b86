"""The dashboard in headless Chromium: it loads with no console error (its CSP forbids anything not
served by the collector), shows the numbers the API returns, escapes names, highlights offline boxes,
speaks Vietnamese and English; a screenshot of each is saved in the test's tmp dir."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select

from collector.app import create_app
from collector.auth import create_user
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.models import Counter, Device
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.browser import Browser
from tests.helpers.serving import serving_app

TZ = "Asia/Ho_Chi_Minh"
PASSWORD = "dashboard password"
EVIL = "Quầy <img src=x onerror=alert(1)>"
RANGE = {"from": "2026-02-01", "to": "2026-03-31"}
LAST_SEEN = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)  # 00:30 on 3 March at the center


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.helpers.presses import press_payload, presses_from_january_to_april
    from tests.helpers.registry import TEST_REGISTRY, registry_with_reassignments

    tmp = tmp_path_factory.mktemp("dashboard")
    engine = make_engine(f"sqlite:///{tmp / 'collector.sqlite3'}")
    upgrade(engine)
    path = tmp / "registry.json"
    path.write_text(json.dumps(registry_with_reassignments(json.loads(json.dumps(TEST_REGISTRY)))))
    payloads = presses_from_january_to_april(press_payload)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        counter = session.exec(select(Counter).where(Counter.code == "18")).one()
        counter.name = EVIL
        session.add(counter)
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), now))
                              for p in payloads], TZ)
        session.add(Device(box="box-017", counter="17", online=True, last_seen=now, outbox=0, fw="0.1.0"))
        session.add(Device(box="box-018", counter="18", online=False, last_seen=now - timedelta(days=3), outbox=4,
                           fw="0.1.0"))
        session.add(Device(box="box-019", counter="17", online=True, last_seen=LAST_SEEN, fw="0.1.0",
                           retired_at=now - timedelta(days=1)))
        create_user(session, username="giamdoc", role="viewer", password=PASSWORD)
    app = create_app(Settings(data_dir=tmp), engine)
    with serving_app(app) as url:
        yield url
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Any:
    instance = Browser()
    yield instance
    instance.close()


def api(server: str, path: str, **params: Any) -> Any:
    with httpx.Client(base_url=server) as client:
        client.post("/login", data={"username": "giamdoc", "password": PASSWORD})
        return client.get(path, params=params).json()


def log_in(browser: Browser, then: str) -> None:
    """Fill in and send the login form the browser shows; wait until it has landed on `then`. Each
    test logs in itself: a test may run alone, or on another worker than the one before it."""
    browser.evaluate(f"""document.getElementById('username').value = 'giamdoc';
        document.getElementById('password').value = {json.dumps(PASSWORD)};
        document.querySelector('form').submit(); true""")
    browser.wait_for(f"location.pathname === '{then}'")


def test_login_then_dashboard_shows_the_api_numbers(server: str, browser: Browser, tmp_path: Path) -> None:
    browser.call("Network.clearBrowserCookies")  # the module's browser may hold an earlier test's session
    browser.goto(f"{server}/dashboard")
    assert "/login" in browser.evaluate("location.pathname")
    log_in(browser, "/dashboard")
    browser.goto(f"{server}/dashboard?from={RANGE['from']}&to={RANGE['to']}")
    assert browser.wait_for("document.body.dataset.loaded") == "true"

    expected = api(server, "/api/v1/satisfaction", group="counter", **RANGE)
    assert browser.evaluate("document.getElementById('sum-total').textContent") == str(expected["total"])
    rate = f"{expected['satisfaction_rate'] * 100:.1f}".replace(".", ",") + "%"
    assert browser.evaluate("document.getElementById('sum-rate').textContent") == rate
    shown = browser.evaluate("""[...document.querySelectorAll('#counters tbody tr')].map(r =>
        [r.dataset.key, r.querySelector('.total').textContent, r.querySelector('.rate').textContent,
         r.children[1].textContent])""")
    assert [(k, int(t)) for k, t, _, _ in shown] == [(g["key"], g["total"]) for g in expected["groups"]]
    assert [r for _, _, r, _ in shown] == [f"{g['satisfaction_rate'] * 100:.1f}".replace(".", ",") + "%"
                                           for g in expected["groups"]]
    assert EVIL in [name for _, _, _, name in shown]  # shown as text...
    assert browser.evaluate("document.querySelectorAll('#counters img').length") == 0  # ...not as markup

    departments = api(server, "/api/v1/satisfaction", group="department", **RANGE)
    assert browser.evaluate("[...document.querySelectorAll('#departments tbody .total')].map(c => +c.textContent)") \
        == [g["total"] for g in departments["groups"]]
    grid = api(server, "/api/v1/satisfaction/grid", **RANGE)
    assert browser.evaluate("document.querySelectorAll('#heatmap rect[data-cell] title').length") == len(grid["cells"])
    trend = api(server, "/api/v1/satisfaction", group="none", by="day", **RANGE)
    points = [s for s in trend["series"] if s["satisfaction_rate"] is not None]
    assert browser.evaluate("document.querySelectorAll('#trend circle').length") == len(points)
    assert browser.evaluate("document.querySelector('#devices tr[data-box=\"box-018\"]').className") == "offline"
    assert browser.evaluate("getComputedStyle(document.querySelector('#devices tr.offline td')).backgroundColor") \
        == "rgb(253, 226, 226)"
    assert browser.evaluate("document.querySelector('#devices tr[data-box=\"box-019\"] .status').textContent") \
        == "đã thay thế"  # retired: replaced by the technician
    links = browser.evaluate("[...document.querySelectorAll('#reports a')].map(a => a.getAttribute('href'))")
    assert any(link.endswith("format=xlsx&lang=vi") for link in links)
    assert any(link.endswith("format=pdf&lang=vi") for link in links)  # the document to sign and send
    assert browser.evaluate("document.querySelector('h1').textContent") == "Đánh giá mức độ hài lòng"

    shot = browser.screenshot(tmp_path / "dashboard-vi.png")
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert browser.errors == []


def test_english_and_a_report_page(server: str, browser: Browser, tmp_path: Path) -> None:
    browser.goto(f"{server}/login?next=/dashboard")
    log_in(browser, "/dashboard")
    browser.goto(f"{server}/dashboard?lang=en&from={RANGE['from']}&to={RANGE['to']}")
    assert browser.wait_for("document.body.dataset.loaded") == "true"
    assert browser.evaluate("document.querySelector('h1').textContent") == "Counter satisfaction ratings"
    assert browser.evaluate("document.querySelector('#devices tr.offline .status').textContent") == "offline"
    assert browser.evaluate("document.querySelector('#devices tr[data-box=\"box-019\"] .status').textContent") \
        == "retired"
    print(f"\nscreenshot: {browser.screenshot(tmp_path / 'dashboard-en.png')}")
    browser.goto(f"{server}/api/v1/reports/2026-03?lang=vi")
    page = browser.evaluate("document.body.innerText")
    # An official document: national title, document type, and the month in its subject.
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in page and "\nBÁO CÁO\n" in page and "Tháng 3/2026" in page
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    print(f"screenshot: {browser.screenshot(tmp_path / 'report-2026-03.png', width=1123, height=794)}")
    assert browser.errors == []


def test_api_docs_render_offline(server: str, browser: Browser, tmp_path: Path) -> None:
    """/docs renders every operation from files the collector serves (no CDN) without errors."""
    browser.goto(f"{server}/login?next=/docs")
    log_in(browser, "/docs")
    browser.errors.clear()
    browser.goto(f"{server}/docs")
    operations = len(api(server, "/openapi.json")["paths"])
    assert browser.wait_for("document.querySelectorAll('.opblock-summary-path').length") >= operations
    print(f"\nscreenshot: {browser.screenshot(tmp_path / 'docs.png', height=1200)}")
    assert browser.errors == []


def test_default_dates_are_the_centers_days_whatever_the_browsers_zone(server: str, browser: Browser) -> None:
    """A browser whose calendar day is not the center's (a laptop left on UTC, after 17:00 UTC) must still
    show the center's today and its week and month, and times in the center's zone."""
    center_now = datetime.now(ZoneInfo(TZ))
    # 19 hours behind the center or 7 ahead: one of the two is on another calendar day right now
    zone = "Etc/GMT+12" if center_now.hour < 19 else "Etc/GMT-14"
    assert datetime.now(ZoneInfo(zone)).date() != center_now.date()
    browser.call("Emulation.setTimezoneOverride", timezoneId=zone)
    try:
        browser.goto(f"{server}/login?next=/dashboard")
        log_in(browser, "/dashboard")
        browser.goto(f"{server}/dashboard?lang=en")
        assert browser.wait_for("document.body.dataset.loaded") == "true"
        assert browser.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == zone
        today = datetime.now(ZoneInfo(TZ)).date()  # read again: the day may have turned meanwhile
        assert browser.evaluate("document.getElementById('to').value") == today.isoformat()
        assert browser.evaluate("document.getElementById('from').value") == (today - timedelta(days=29)).isoformat()
        links = browser.evaluate("[...document.querySelectorAll('#reports li')].map(li => li.textContent)")
        year, week, _ = today.isocalendar()
        last_month = today.replace(day=1) - timedelta(days=1)
        assert [link.split("(")[1].split(")")[0] for link in links] == [
            f"{year}-W{week:02d}", "{}-W{:02d}".format(*(today - timedelta(days=7)).isocalendar()[:2]),
            f"{today:%Y-%m}", f"{last_month:%Y-%m}"]
        seen = browser.evaluate("document.querySelector('#devices tr[data-box=\"box-019\"] td:nth-child(4)')"
                                ".textContent")
        assert seen.startswith("03/03/2026, 00:30"), seen  # en-GB, in the center's zone
        assert browser.errors == []
    finally:
        browser.call("Emulation.setTimezoneOverride", timezoneId="")
