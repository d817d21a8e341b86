"""The dashboard's views in headless Chromium, in vi and en: the officer table (ranks by the lower end
of the rate's interval, few-ratings marks), the level breakdown, sorting and filtering the tables, the
period picker, and live updates by short polling."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.app import create_app
from collector.auth import create_user
from collector.clock import utc_ms
from collector.db import make_engine, session_scope, upgrade
from collector.messages import Inbound, check
from collector.models import Device
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import store_batch
from tests.helpers.browser import Browser
from tests.helpers.serving import serving_app

TZ = "Asia/Ho_Chi_Minh"
PASSWORD = "views password"
RANGE = {"from": "2026-02-01", "to": "2026-03-31"}


def registry() -> dict[str, Any]:
    """The tests' registry with officers moving between counters, plus counter 19 (box-019) whose officer
    cb004 has only three ratings, all satisfied: a 100% that must not outrank hundreds at a lower rate."""
    from tests.helpers.registry import TEST_REGISTRY, registry_with_reassignments

    base = registry_with_reassignments(json.loads(json.dumps(TEST_REGISTRY)))
    base["counters"].append({"code": "19", "name": "Quầy 19", "department": "TP", "scale": "sat2"})
    base["officers"].append({"code": "cb004", "name": "Phạm Thị D", "department": "TP"})
    base["boxes"].append({"box": "box-019", "counter": "19"})
    base["officer_assignments"].append({"officer": "cb004", "counter": "19", "from": "2020-01-01"})
    return base


def store(engine: Any, payloads: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), now))
                              for p in payloads], TZ)


class Site:
    def __init__(self, url: str, engine: Any) -> None:
        self.url, self.engine = url, engine


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.helpers.presses import press_payload, presses_from_january_to_april

    tmp = tmp_path_factory.mktemp("views")
    engine = make_engine(f"sqlite:///{tmp / 'collector.sqlite3'}")
    upgrade(engine)
    path = tmp / "registry.json"
    path.write_text(json.dumps(registry()))
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        create_user(session, username="truongphong", role="viewer", password=PASSWORD)
        for box, counter in (("box-017", "17"), ("box-018", "18")):
            session.add(Device(box=box, counter=counter, online=True, last_seen=datetime.now(UTC)))
    few = [press_payload(box="box-019", counter="19", seq=i + 1, level=1,
                         t=utc_ms(datetime(2026, 3, 2 + i, 2, 0, tzinfo=UTC))) for i in range(3)]
    store(engine, presses_from_january_to_april(press_payload) + few)
    app = create_app(Settings(data_dir=tmp), engine)
    with serving_app(app) as url:
        yield Site(url, engine)
    engine.dispose()


def api(site: Site, path: str, **params: Any) -> Any:
    with httpx.Client(base_url=site.url) as client:
        client.post("/login", data={"username": "truongphong", "password": PASSWORD})
        return client.get(path, params=params).json()


@pytest.fixture(scope="module")
def browser() -> Any:
    instance = Browser()
    yield instance
    instance.close()


def open_dashboard(site: Site, browser: Browser, query: str) -> None:
    """Log in through the login form (each test may run alone) and open the dashboard with `query`."""
    browser.call("Network.clearBrowserCookies")
    browser.goto(f"{site.url}/login?next=/dashboard")
    browser.evaluate(f"""document.getElementById('username').value = 'truongphong';
        document.getElementById('password').value = {json.dumps(PASSWORD)};
        document.querySelector('form').submit(); true""")
    browser.wait_for("location.pathname === '/dashboard'")
    browser.errors.clear()
    browser.goto(f"{site.url}/dashboard?{query}")
    assert browser.wait_for("document.body.dataset.loaded") == "true"


def pct(value: float, lang: str) -> str:
    text = f"{value * 100:.1f}%"
    return text.replace(".", ",") if lang == "vi" else text


ROWS = """[...document.querySelectorAll('#TABLE tbody tr')].map(r => ({key: r.dataset.key,
    cells: [...r.children].map(c => c.textContent),
    total: r.querySelector('.total').textContent, rate: r.querySelector('.rate').textContent,
    rank: r.querySelector('.rank') ? r.querySelector('.rank').textContent : null,
    interval: r.querySelector('.interval').textContent,
    few: r.querySelector('.interval .few') ? [r.querySelector('.few').textContent, r.querySelector('.few').title] : null,
    levels: Object.fromEntries([...r.querySelectorAll('td.level')].map(c => [c.dataset.level, c.textContent]))}))"""


def levels_of(row: dict[str, Any]) -> dict[str, str]:
    """The level cells a row fills: a level its counter's scale lacks shows "-"."""
    return {k: v for k, v in row["levels"].items() if v != "-"}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_officer_table_ranks_by_the_intervals_lower_end_and_marks_few_ratings(
        site: Site, browser: Browser, lang: str) -> None:
    open_dashboard(site, browser, f"lang={lang}&from={RANGE['from']}&to={RANGE['to']}")
    expected = api(site, "/api/v1/satisfaction", group="officer", **RANGE)
    ranked = sorted(expected["groups"], key=lambda g: (-(g["rate_low"] if g["rate_low"] is not None else -1),
                                                       -g["total"]))
    shown = browser.evaluate(ROWS.replace("TABLE", "officers"))
    assert [r["key"] for r in shown] == [g["key"] for g in ranked]
    assert [r["rank"] for r in shown] == [str(i + 1) for i in range(len(ranked))]
    # three ratings at 100% (cb004) rank below 40 at 67.5% (cb002) and 145 at 54.5% (cb001)
    assert [r["key"] for r in shown][:3] == ["cb002", "cb001", "cb004"]
    few_word = "ít phiếu" if lang == "vi" else "few ratings"
    for row, g in zip(shown, ranked, strict=True):
        assert row["total"] == str(g["total"])
        assert row["rate"] == pct(g["satisfaction_rate"], lang)
        low, high = round(g["rate_low"] * 100), round(g["rate_high"] * 100)
        assert row["interval"].startswith(f"({low}–{high})")
        if g["few_ratings"]:
            assert row["few"][0] == few_word and str(g["total"]) in row["few"][1]
        else:
            assert row["few"] is None
        assert levels_of(row) == {lv["key"]: f"{lv['count']} ({pct(lv['share'], lang)})" for lv in g["levels"]}
    assert any(g["few_ratings"] for g in ranked) and any(not g["few_ratings"] for g in ranked)
    headers = browser.evaluate("[...document.querySelectorAll('#officers thead th')].map(t => t.textContent)")
    assert ("Hạng" if lang == "vi" else "Rank") == headers[0]
    assert ("Rất hài lòng" if lang == "vi" else "Very satisfied") in headers

    counters = api(site, "/api/v1/satisfaction", group="counter", **RANGE)
    rows = browser.evaluate(ROWS.replace("TABLE", "counters"))
    assert [r["key"] for r in rows] == [g["key"] for g in counters["groups"]]
    for row, g in zip(rows, counters["groups"], strict=True):
        assert levels_of(row) == {lv["key"]: f"{lv['count']} ({pct(lv['share'], lang)})" for lv in g["levels"]}
        assert set(row["levels"]) == {"very_satisfied", "satisfied", "unsatisfied"}  # a column per level present
        assert (row["few"] is not None) == g["few_ratings"]
    few_counter = next(r for r in rows if r["key"] == "19")
    assert few_counter["few"][0] == few_word and few_counter["rate"] == pct(1.0, lang)  # marked, not hidden
    departments = api(site, "/api/v1/satisfaction", group="department", **RANGE)
    assert [r["total"] for r in browser.evaluate(ROWS.replace("TABLE", "departments"))] \
        == [str(g["total"]) for g in departments["groups"]]
    assert browser.errors == []


def click_header(browser: Browser, table: str, column: str) -> None:
    browser.evaluate(f"document.querySelector('#{table} th[data-col=\"{column}\"] button').click(); true")


def type_filter(browser: Browser, table: str, text: str) -> None:
    browser.evaluate(f"""(() => {{ const box = document.getElementById('filter-{table}');
        box.value = {json.dumps(text)}; box.dispatchEvent(new Event('input')); return true; }})()""")


def keys(browser: Browser, table: str) -> list[str]:
    return browser.evaluate(f"[...document.querySelectorAll('#{table} tbody tr[data-key]')].map(r => r.dataset.key)")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_tables_sort_by_a_clicked_column_and_filter_without_diacritics(
        site: Site, browser: Browser, lang: str) -> None:
    open_dashboard(site, browser, f"lang={lang}&from={RANGE['from']}&to={RANGE['to']}")
    officers = api(site, "/api/v1/satisfaction", group="officer", **RANGE)["groups"]
    by_total = [g["key"] for g in sorted(officers, key=lambda g: g["total"])]
    click_header(browser, "officers", "total")
    assert keys(browser, "officers") == by_total
    assert browser.evaluate("document.querySelector('#officers th[data-col=total]').getAttribute('aria-sort')") \
        == "ascending"
    click_header(browser, "officers", "total")  # again: reversed
    assert keys(browser, "officers") == by_total[::-1]
    assert browser.evaluate("[...document.querySelectorAll('#officers th')].map(t => t.getAttribute('aria-sort'))"
                            ".filter(s => s !== 'none')") == ["descending"]
    click_header(browser, "officers", "rate")
    assert keys(browser, "officers") == [g["key"] for g in sorted(officers, key=lambda g: g["satisfaction_rate"])]
    # ranks stay the officers' own, whatever the order shown
    ranks = dict(browser.evaluate("[...document.querySelectorAll('#officers tbody tr')].map(r => "
                                  "[r.dataset.key, r.querySelector('.rank').textContent])"))
    assert ranks == {"cb002": "1", "cb001": "2", "cb004": "3", "cb003": "4"}

    counters = api(site, "/api/v1/satisfaction", group="counter", **RANGE)["groups"]
    assert len(keys(browser, "counters")) == len(counters) == 3
    type_filter(browser, "counters", "quay 1")  # no diacritics, any case: finds "Quầy 17", "Quầy 18", ...
    assert keys(browser, "counters") == [g["key"] for g in counters]
    type_filter(browser, "counters", "QUAY 19")
    assert keys(browser, "counters") == ["19"]
    type_filter(browser, "officers", "tran")  # "Trần Thị B"
    assert keys(browser, "officers") == ["cb002"]
    type_filter(browser, "officers", "nguyễn")  # typed with its diacritics also matches
    assert keys(browser, "officers") == ["cb001"]
    type_filter(browser, "departments", "xd")  # by code
    assert keys(browser, "departments") == ["XD"]
    type_filter(browser, "departments", "zzz")
    assert keys(browser, "departments") == []
    assert browser.evaluate("document.querySelector('#departments tr.no-match').textContent") \
        == ("Không có dòng nào khớp" if lang == "vi" else "No row matches")
    type_filter(browser, "departments", "")
    assert keys(browser, "departments") == ["TP", "XD"]
    assert browser.errors == []


def current_period(today: date, kind: str) -> tuple[str, str]:
    if kind == "week":
        monday = today - timedelta(days=today.weekday())
        return monday.isoformat(), (monday + timedelta(days=6)).isoformat()
    first = {"month": today.month, "quarter": today.month - (today.month - 1) % 3, "year": 1}[kind]
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    start = date(today.year, first, 1)
    end_month = first + months
    end = date(today.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1) - timedelta(days=1)
    return start.isoformat(), end.isoformat()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_period_picker_sets_the_centers_current_period(site: Site, browser: Browser, lang: str) -> None:
    from zoneinfo import ZoneInfo

    open_dashboard(site, browser, f"lang={lang}&from={RANGE['from']}&to={RANGE['to']}")
    assert browser.evaluate("document.getElementById('period').value") == "custom"
    labels = browser.evaluate("[...document.querySelectorAll('#period option')].map(o => o.textContent)")
    assert labels == (["Tùy chọn", "Tuần này", "Tháng này", "Quý này", "Năm nay"] if lang == "vi"
                      else ["Custom", "This week", "This month", "This quarter", "This year"])
    for kind in ("week", "month", "quarter", "year"):
        browser.evaluate(f"""(() => {{ const s = document.getElementById('period'); s.value = '{kind}';
            s.dispatchEvent(new Event('change')); return true; }})()""")
        browser.wait_for(f"location.search.includes('period={kind}') && document.body.dataset.loaded === 'true'")
        today = datetime.now(ZoneInfo(TZ)).date()
        start, end = current_period(today, kind)
        assert browser.evaluate("[document.getElementById('from').value, document.getElementById('to').value, "
                                "document.getElementById('period').value]") == [start, end, kind]
        shown = api(site, "/api/v1/satisfaction", group="counter", **{"from": start, "to": end})
        # the previous period stays shown: the change column, titled with the compared dates
        title = browser.evaluate("document.querySelector('#counters th[data-col=change]').title")
        assert shown["previous"]["from"] in title and shown["previous"]["to"] in title
        assert browser.evaluate("document.documentElement.lang") == lang
    assert browser.errors == []


APRIL = {"from": "2026-04-01", "to": "2026-04-30"}  # the live test's presses land here, away from RANGE


@pytest.mark.parametrize(("lang", "seq"), [("vi", 10), ("en", 11)])
def test_live_update_redraws_keeping_sort_and_filter(site: Site, browser: Browser, lang: str, seq: int) -> None:
    from zoneinfo import ZoneInfo

    from tests.helpers.presses import press_payload

    open_dashboard(site, browser, f"lang={lang}&from={APRIL['from']}&to={APRIL['to']}&refresh=10")
    assert browser.evaluate("document.body.dataset.refresh") == "10"
    before = api(site, "/api/v1/satisfaction", group="counter", **APRIL)
    assert browser.evaluate("document.getElementById('sum-total').textContent") == str(before["total"])
    updated = browser.evaluate("document.getElementById('updated').textContent")
    word = "Cập nhật lúc " if lang == "vi" else "Updated "
    assert updated.startswith(word)
    click_header(browser, "counters", "total")
    click_header(browser, "counters", "total")  # descending
    type_filter(browser, "counters", "quay")
    draws = browser.evaluate("document.body.dataset.draws")

    store(site.engine, [press_payload(box="box-019", counter="19", seq=seq, level=1,
                                      t=utc_ms(datetime(2026, 4, 20, 2, seq, tzinfo=UTC)))])
    after = api(site, "/api/v1/satisfaction", group="counter", **APRIL)
    assert after["total"] == before["total"] + 1
    # no reload: the same document redraws within one refresh period (10 s, the minimum), awaited up to 20 s
    browser.evaluate("window.sameDocument = true")
    assert browser.wait_for(f"document.getElementById('sum-total').textContent === '{after['total']}'", timeout=20)
    assert browser.evaluate("window.sameDocument") is True
    assert int(browser.evaluate("document.body.dataset.draws")) > int(draws)
    shown = browser.evaluate("[...document.querySelectorAll('#counters tbody tr[data-key]')].map(r => "
                             "[r.dataset.key, +r.querySelector('.total').textContent])")
    expected = sorted([(g["key"], g["total"]) for g in after["groups"]], key=lambda kv: -kv[1])
    assert [tuple(r) for r in shown] == expected
    assert browser.evaluate("document.querySelector('#counters th[data-col=total]').getAttribute('aria-sort')") \
        == "descending"
    assert browser.evaluate("document.getElementById('filter-counters').value") == "quay"
    now = datetime.now(ZoneInfo(TZ))
    stamps = {f"{word}{t:%H:%M}" for t in (now - timedelta(minutes=1), now)}  # the center's clock, not the browser's
    assert browser.evaluate("document.getElementById('updated').textContent") in stamps
    assert browser.errors == []


def test_refresh_has_a_floor_of_ten_seconds(site: Site, browser: Browser) -> None:
    open_dashboard(site, browser, f"from={APRIL['from']}&to={APRIL['to']}&refresh=2")
    assert browser.evaluate("document.body.dataset.refresh") == "10"
    browser.goto(f"{site.url}/dashboard?from={APRIL['from']}&to={APRIL['to']}")
    assert browser.wait_for("document.body.dataset.refresh") == "60"
    assert browser.errors == []


def test_screenshot_of_the_vi_page(site: Site, browser: Browser, tmp_path: Path) -> None:
    open_dashboard(site, browser, f"from={RANGE['from']}&to={RANGE['to']}")
    click_header(browser, "officers", "rank")
    shot = browser.screenshot(tmp_path / "dashboard-views-vi.png", height=1600)
    print(f"\nscreenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert browser.errors == []


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_any_two_periods_compare(site: Site, browser: Browser, lang: str) -> None:
    open_dashboard(site, browser, f"lang={lang}&from=2026-03-01&to=2026-03-31")
    # as a supervisor does: the compared period typed into the form, then "show"
    browser.evaluate("""document.getElementById('cfrom').value = '2026-01-05';
        document.getElementById('cto').value = '2026-01-25';
        document.getElementById('range').requestSubmit(); true""")
    browser.wait_for("location.search.includes('cfrom=2026-01-05') && document.body.dataset.loaded === 'true'")
    assert browser.evaluate("[document.getElementById('cfrom').value, document.getElementById('cto').value]") == [
        "2026-01-05", "2026-01-25"]
    expected = api(site, "/api/v1/satisfaction", group="counter", **{"from": "2026-03-01", "to": "2026-03-31",
                   "compare_from": "2026-01-05", "compare_to": "2026-01-25"})
    assert expected["previous"]["total"] > 0
    assert browser.evaluate("document.getElementById('sum-change').textContent") == pct_points(
        expected["change"]["satisfaction_rate"], lang)
    compared = browser.evaluate("document.getElementById('compared').textContent")
    assert compared == ("So sánh với: " if lang == "vi" else "Compared with: ") + "2026-01-05 – 2026-01-25"
    change = browser.evaluate("""(() => { const i = [...document.querySelectorAll('#counters thead th')]
        .findIndex(h => h.dataset.col === 'change');
        return Object.fromEntries([...document.querySelectorAll('#counters tbody tr')]
          .map(r => [r.dataset.key, r.children[i].textContent])); })()""")
    assert change == {g["key"]: pct_points(g["change"]["satisfaction_rate"], lang) for g in expected["groups"]}


def pct_points(value: float | None, lang: str) -> str:
    """A change as the dashboard writes it: '+2,5 điểm %' / '-1.0 pp'."""
    if value is None:
        return "-"
    text = ("+" if value > 0 else "") + f"{value * 100:.1f}"
    return text.replace(".", ",") + " điểm %" if lang == "vi" else text + " pp"


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_counters_page_shows_its_officers_over_time_and_its_box(site: Site, browser: Browser, lang: str) -> None:
    open_dashboard(site, browser, f"lang={lang}&from={RANGE['from']}&to={RANGE['to']}")
    # the counters table links each code to its page: followed as a supervisor clicks it
    browser.evaluate("document.querySelector('#counters tbody tr[data-key=\"17\"] a').click(); true")
    browser.wait_for("new URLSearchParams(location.search).get('counter') === '17' && document.body.dataset.loaded")
    title = browser.evaluate("document.getElementById('counter-title').textContent")
    assert title == ("Quầy 17: " if lang == "vi" else "Counter 17: ") + "Quầy 17"
    assert browser.evaluate("document.getElementById('departments-section').hidden") is True
    assert [row["key"] for row in browser.evaluate(ROWS.replace("TABLE", "counters"))] == ["17"]
    one = api(site, "/api/v1/satisfaction", group="counter", counter="17", **RANGE)
    assert browser.evaluate("document.getElementById('sum-total').textContent") == str(one["total"])
    assert browser.evaluate("[...document.querySelectorAll('#devices tbody tr')].map(r => r.dataset.box)") == [
        "box-017"]
    # officers over time: one row per officer who staffed the counter, a column per week
    expected = api(site, "/api/v1/satisfaction", group="officer", counter="17", by="week", compare="false", **RANGE)
    assert len(expected["groups"]) >= 2  # cb001 until 15 March, then cb003 (registry_with_reassignments)
    table = browser.evaluate("""(() => { const t = document.getElementById('officer-periods');
        return {head: [...t.tHead.rows[0].cells].map(c => c.textContent).slice(1),
                rows: Object.fromEntries([...t.tBodies[0].rows].map(r => [r.dataset.key,
                      [...r.cells].slice(1).map(c => c.textContent)]))}; })()""")
    weeks = sorted({s["period"] for g in expected["groups"] for s in g["series"]})
    assert table["head"] == weeks
    for group in expected["groups"]:
        series = {s["period"]: s for s in group["series"]}
        assert table["rows"][str(group["key"])] == [
            f"{pct(series[w]['satisfaction_rate'], lang)} ({series[w]['total']})" if w in series and series[w]["total"]
            else "-" for w in weeks]
    back = browser.evaluate("document.getElementById('all-counters').getAttribute('href')")
    assert "counter=" not in back and f"from={RANGE['from']}" in back
