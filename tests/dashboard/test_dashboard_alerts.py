"""The dashboard's alerts, ticker and phone layout in headless Chromium, in vi and en: the latest
alerts in the page's language and the center's zone, each delivery's state (a failing channel shows
its retries and error), acknowledging with a comment as an admin (stored, shown) and refused to a
viewer (said, nothing stored), today's latest ratings, and a 390 px wide page that does not scroll
sideways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.app import create_app
from collector.auth import create_user
from collector.clock import utc_ms, utc_now
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.models import Alert, AlertDelivery
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.browser import Browser
from tests.helpers.presses import press_payload
from tests.helpers.registry import TEST_REGISTRY
from tests.helpers.serving import serving_app

TZ = "Asia/Ho_Chi_Minh"
PASSWORD = "alerts password"
NOW = utc_now().replace(microsecond=0)
FIRED = NOW - timedelta(minutes=20)


@dataclass
class Site:
    url: str
    engine: Engine
    active: int  # the alert still on, unacknowledged
    cleared: int  # the alert over, acknowledged with a comment


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("alerts")
    engine = make_engine(f"sqlite:///{tmp / 'collector.sqlite3'}")
    upgrade(engine)
    path = tmp / "registry.json"
    path.write_text(json.dumps(TEST_REGISTRY))
    pressed = NOW - timedelta(minutes=2)
    payloads = [press_payload(seq=1, t=utc_ms(pressed), level=0), press_payload(seq=2, t=utc_ms(pressed), level=1)]
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        create_user(session, username="giamdoc", role="admin", password=PASSWORD)
        create_user(session, username="truongphong", role="viewer", password=PASSWORD)
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), pressed))
                              for p in payloads], TZ)
        active = Alert(rule="unhappy_window", subject="counter:17", counter="17", site="hcc-tinh", value=0.6,
                       message="Quầy 17: 3/5 đánh giá không hài lòng / Counter 17: 3 of 5 ratings unsatisfied",
                       fired_at=FIRED)
        cleared = Alert(rule="box_offline", subject="box:box-018", counter="18", box="box-018",
                        message="Thiết bị box-018 (quầy 18) mất kết nối / Box box-018 (counter 18) offline",
                        fired_at=FIRED - timedelta(hours=1), cleared_at=FIRED - timedelta(minutes=30),
                        acknowledged_at=FIRED - timedelta(minutes=50), acknowledged_by="truongphong",
                        comment="đã thay pin")
        session.add_all([active, cleared])
        session.flush()
        assert active.id is not None and cleared.id is not None
        session.add_all([
            AlertDelivery(alert_id=active.id, event="fired", channel="email", attempts=1, next_attempt_at=FIRED,
                          delivered_at=FIRED + timedelta(seconds=3), created_at=FIRED),
            AlertDelivery(alert_id=active.id, event="fired", channel="webhook", attempts=4,
                          last_error="connection refused", next_attempt_at=NOW, created_at=FIRED)])
        ids = (active.id, cleared.id)
    with serving_app(create_app(Settings(data_dir=tmp, timezone=TZ), engine)) as url:
        yield Site(url, engine, *ids)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    instance = Browser()
    yield instance
    instance.close()


def sign_in(browser: Browser, site: Site, username: str, query: str) -> None:
    browser.call("Network.clearBrowserCookies")
    browser.goto(f"{site.url}/login?next=/dashboard")
    browser.evaluate(f"""document.getElementById('username').value = {json.dumps(username)};
        document.getElementById('password').value = {json.dumps(PASSWORD)};
        document.querySelector('form').submit(); true""")
    browser.wait_for("location.pathname === '/dashboard'")
    browser.goto(f"{site.url}/dashboard?{query}")
    assert browser.wait_for("document.body.dataset.loaded") == "true"


ROWS = """Object.fromEntries([...document.querySelectorAll('#alerts tbody tr[data-alert]')].map(r =>
    [r.dataset.alert, [...r.cells].map(c => c.textContent)]))"""


def local_hhmm(moment: object) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(TZ)).strftime("%H:%M")  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_latest_alerts_show_in_the_pages_language_and_the_centers_zone(site: Site, browser: Browser,
                                                                           lang: str) -> None:
    sign_in(browser, site, "truongphong", f"lang={lang}")
    rows = browser.evaluate(ROWS)
    active, cleared = rows[str(site.active)], rows[str(site.cleared)]
    assert local_hhmm(FIRED) in active[0] and local_hhmm(FIRED - timedelta(minutes=30)) in cleared[3]
    if lang == "vi":
        assert active[1:4] == ["Quầy 17", "Quầy 17: 3/5 đánh giá không hài lòng", "đang diễn ra"]
        assert "webhook: đang gửi lại (4 lần) - connection refused" in active[5] and "email: đã gửi" in active[5]
        assert cleared[2] == "Thiết bị box-018 (quầy 18) mất kết nối" and cleared[3].startswith("đã hết")
    else:
        assert active[1:4] == ["Counter 17", "Counter 17: 3 of 5 ratings unsatisfied", "active"]
        assert "webhook: retrying (4 attempts) - connection refused" in active[5]
        assert cleared[2] == "Box box-018 (counter 18) offline" and cleared[3].startswith("cleared")
    assert "truongphong" in cleared[4] and "đã thay pin" in cleared[4]
    forms = browser.evaluate("[...document.querySelectorAll('#alerts form.ack-form')].map(f => f.closest('tr').dataset.alert)")
    assert str(site.active) in forms and str(site.cleared) not in forms  # acknowledged: no form
    on = browser.evaluate("document.querySelectorAll('#alerts tr.alert.active').length")
    summary = browser.evaluate("document.getElementById('alert-summary').textContent")
    assert summary.startswith(f"{on} ") and f"{len(forms)} {'chưa xác nhận' if lang == 'vi' else 'unacknowledged'}" in summary


def acknowledged(site: Site, alert_id: int) -> tuple[str | None, str | None]:
    with Session(site.engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert.acknowledged_by, alert.comment


def submit_comment(browser: Browser, alert_id: int, comment: str) -> None:
    browser.evaluate(f"""(() => {{ const form = document.querySelector('tr[data-alert="{alert_id}"] form.ack-form');
        form.querySelector('input').value = {json.dumps(comment)}; form.requestSubmit(); return true; }})()""")


def test_a_viewer_cannot_acknowledge_and_is_told(site: Site, browser: Browser) -> None:
    sign_in(browser, site, "truongphong", "lang=en")
    submit_comment(browser, site.active, "seen")
    assert "Only an admin" in browser.wait_for("document.getElementById('error').textContent")
    assert acknowledged(site, site.active) == (None, None)


def test_an_admin_acknowledges_with_a_comment(site: Site, browser: Browser) -> None:
    with session_scope(site.engine) as session:  # an alert of its own: the other tests keep theirs as made
        alert = Alert(rule="box_silent", subject="box:box-017", counter="17", box="box-017", value=45,
                      message="Thiết bị box-017 im lặng / Box box-017 silent", fired_at=NOW - timedelta(minutes=5))
        session.add(alert)
        session.flush()
        assert alert.id is not None
        alert_id = alert.id
    sign_in(browser, site, "giamdoc", "lang=vi")
    comment = "Đã gọi trưởng quầy <b>17</b>"
    submit_comment(browser, alert_id, comment)
    cell = browser.wait_for(f"""(() => {{ const c = document.querySelector('tr[data-alert="{alert_id}"] td.ack');
        return c && !c.querySelector('form') && c.textContent; }})()""")
    assert cell.startswith("giamdoc, ") and cell.endswith(": " + comment)  # as text, not markup
    assert acknowledged(site, alert_id) == ("giamdoc", comment)
    assert browser.evaluate("document.querySelectorAll('#alerts b').length") == 0


def test_the_ticker_shows_todays_latest_ratings(site: Site, browser: Browser) -> None:
    sign_in(browser, site, "truongphong", "lang=vi")
    items = browser.evaluate("[...document.querySelectorAll('#ticker li')].map(li => [li.className, li.textContent])")
    assert len(items) == 2
    assert {cls for cls, _ in items} == {"up", "down"}
    assert all(text.startswith(local_hhmm(NOW - timedelta(minutes=2))) and "Quầy 17" in text for _, text in items)


def test_on_a_phone_the_page_does_not_scroll_sideways(site: Site, browser: Browser) -> None:
    browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=3, mobile=True)
    try:
        sign_in(browser, site, "truongphong", "lang=vi")
        width = browser.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        cards = browser.evaluate("[...document.querySelectorAll('.card')].map(c => c.getBoundingClientRect().left)")
        assert len({round(left) for left in cards}) == 2  # two cards a row
        wide = browser.evaluate("""[...document.querySelectorAll('.scroll')].filter(s => s.scrollWidth > s.clientWidth)
            .map(s => s.firstElementChild.id)""")
        assert "officers" in wide  # the widest table scrolls inside its own box
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")
