"""The dashboard's devices page in headless Chromium, in vi and en: each box's lost presses (numbered,
never stored), flagged while a gap is open, with the missing seqs and since when in its title."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from collector.app import create_app
from collector.auth import create_user
from collector.clock import utc_ms
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.models import Device, Rollout, RolloutBox
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.browser import Browser
from tests.helpers.presses import press_payload
from tests.helpers.registry import TEST_REGISTRY
from tests.helpers.serving import serving_app

TZ = "Asia/Ho_Chi_Minh"
PASSWORD = "devices password"
SINCE = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 local


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """box-017 numbered 1..6 and 3 and 4 never came; box-018 lost nothing."""
    tmp = tmp_path_factory.mktemp("devices")
    engine = make_engine(f"sqlite:///{tmp / 'collector.sqlite3'}")
    upgrade(engine)
    path = tmp / "registry.json"
    path.write_text(json.dumps(TEST_REGISTRY))
    payloads = [press_payload(seq=seq, t=utc_ms(SINCE)) for seq in (1, 2, 5, 6)]
    payloads += [press_payload(box="box-018", seq=1, scale="vn3", level=2, t=utc_ms(SINCE))]
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        create_user(session, username="truongphong", role="viewer", password=PASSWORD)
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), SINCE))
                              for p in payloads], TZ)
        # box-017 crashed (watchdog) 10 minutes ago and holds a backlog; box-018 took release 0.2.0
        session.add(Device(box="box-017", counter="17", online=True, last_seen=SINCE + timedelta(minutes=1),
                           rssi=-61, heap_free=51200, reset_cause="watchdog", boot=41, up=600_000, outbox=12))
        session.add(Device(box="box-018", counter="18", online=True, last_seen=SINCE + timedelta(minutes=1),
                           rssi=-70, heap_free=50000, reset_cause="power_on", boot=3, up=90_000_000, outbox=0,
                           fw="0.2.0"))
        rollout = Rollout(version="0.2.0", url="http://collector/releases/0.2.0/", manifest_sha256="0" * 64,
                          state="widened", created_by="giamdoc", created_at=SINCE)
        session.add(rollout)
        session.flush()
        assert rollout.id is not None
        session.add(RolloutBox(rollout_id=rollout.id, box="box-018", canary=True, state="updated", changed_at=SINCE))
    app = create_app(Settings(data_dir=tmp), engine)
    with serving_app(app) as url:
        yield url
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    instance = Browser()
    yield instance
    instance.close()


CELLS = """Object.fromEntries([...document.querySelectorAll('#devices tbody tr')].map(r => [r.dataset.box,
    {lost: r.querySelector('td.lost').textContent, open: r.querySelector('td.lost').classList.contains('gap-open'),
     title: r.querySelector('td.lost').title}]))"""
HEADERS = "[...document.querySelectorAll('#devices thead th')].map(h => h.textContent)"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_devices_table_flags_a_box_with_lost_presses(site: str, browser: Browser, lang: str) -> None:
    browser.call("Network.clearBrowserCookies")
    browser.goto(f"{site}/login?next=/dashboard")
    browser.evaluate(f"""document.getElementById('username').value = 'truongphong';
        document.getElementById('password').value = {json.dumps(PASSWORD)};
        document.querySelector('form').submit(); true""")
    browser.wait_for("location.pathname === '/dashboard'")
    browser.goto(f"{site}/dashboard?lang={lang}")
    assert browser.wait_for("document.body.dataset.loaded") == "true"
    assert ("Lượt bấm thất lạc" if lang == "vi" else "Presses lost") in browser.evaluate(HEADERS)
    cells = browser.evaluate(CELLS)
    assert cells["box-018"] == {"lost": "0", "open": False, "title": ""}
    lost = cells["box-017"]
    assert (lost["lost"], lost["open"]) == ("2", True)
    assert "3-4" in lost["title"] and ("09:00" in lost["title"] or "9:00" in lost["title"])
    assert ("chưa nhận" if lang == "vi" else "never got") in lost["title"]


FLEET = """Object.fromEntries([...document.querySelectorAll('#devices tbody tr')].map(r => [r.dataset.box,
    Object.fromEntries([...r.cells].map((c, i) => [document.querySelectorAll('#devices thead th')[i].textContent,
                                                   c.textContent]))]))"""


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_devices_table_shows_each_boxs_health_rollout_and_flags(site: str, browser: Browser, lang: str) -> None:
    browser.call("Network.clearBrowserCookies")
    browser.goto(f"{site}/login?next=/dashboard")
    browser.evaluate(f"""document.getElementById('username').value = 'truongphong';
        document.getElementById('password').value = {json.dumps(PASSWORD)};
        document.querySelector('form').submit(); true""")
    browser.wait_for("location.pathname === '/dashboard'")
    browser.goto(f"{site}/dashboard?lang={lang}")
    assert browser.wait_for("document.body.dataset.loaded") == "true"
    rows = browser.evaluate(FLEET)
    vi = lang == "vi"
    crashed, updated = rows["box-017"], rows["box-018"]
    assert crashed["Sóng Wi-Fi" if vi else "Wi-Fi signal"] == "-61 dBm"
    assert crashed["RAM trống" if vi else "Free RAM"] == "50 KB"
    assert crashed["Khởi động lại do" if vi else "Last reset"] == "watchdog"
    assert crashed["Số lần khởi động" if vi else "Boots"] == "41"
    assert crashed["Cần xem" if vi else "Needs a look"] == ("khởi động lại, tồn phiếu" if vi else "reboots, outbox")
    assert updated["Cần xem" if vi else "Needs a look"] == ""
    assert updated["Cập nhật" if vi else "Update"] == ("0.2.0: đã cập nhật" if vi else "0.2.0: updated")
    assert crashed["Cập nhật" if vi else "Update"] == "-"
    assert browser.evaluate("document.querySelector('#devices tbody tr[data-box=\"box-017\"] td.flags')"
                            ".classList.contains('flagged')") is True
    rules = browser.evaluate("[...document.querySelectorAll('#devices thead th')].find(h => h.title.startsWith('reboots'))"
                             ".title")
    assert "watchdog" in rules and "10 or more" in rules
