"""The supervisors' API: grouped satisfaction equal to a recount of the raw presses, periods in local
time, comparison, grid, devices, CSV, registry administration, users, login and its limits."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter as Tally
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from collector.app import create_app
from collector.auth import create_token, create_user
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.models import (
    Department,
    Press,
    RollupDay,
    RollupDayTotal,
    RollupHour,
    RollupHourMonth,
    RollupMonth,
    RollupYear,
)
from collector.registry import load_registry
from collector.rollups import rebuild_rollups
from collector.settings import Settings
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One database per module and dialect, filled once (the tests below only read it, or add rows
    with codes of their own)."""
    from collector.db import make_engine, upgrade
    from tests.helpers.postgres import new_pg_database
    from tests.helpers.presses import press_payload, presses_from_january_to_april
    from tests.helpers.registry import TEST_REGISTRY, registry_with_reassignments

    tmp = tmp_path_factory.mktemp("supervisors")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'collector.sqlite3'}"
    else:
        url = new_pg_database(request.getfixturevalue("pg_server"))
    engine = make_engine(url)
    upgrade(engine)
    path = tmp / "registry.json"
    path.write_text(json.dumps(registry_with_reassignments(json.loads(json.dumps(TEST_REGISTRY)))))
    payloads = presses_from_january_to_april(press_payload)
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        for department in session.exec(select(Department)).all():
            department.site = "hcc-tinh"
            session.add(department)
        for start in range(0, len(payloads), 97):  # several batches, as ingest does
            store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(),
                                                datetime.now(UTC))) for p in payloads[start:start + 97]], TZ)
        tokens = {role: create_token(session, name=role, role=role) for role in ("viewer", "admin")}
        create_user(session, username="chanh", role="viewer", password=PASSWORD)
        create_user(session, username="quantri", role="admin", password=PASSWORD)
    yield {"engine": engine, "tokens": tokens, "tmp": tmp}
    engine.dispose()


@pytest.fixture
def env(dataset: dict[str, Any]) -> dict[str, Any]:
    """A fresh app (and login limiter) on the module's database."""
    app = create_app(Settings(data_dir=dataset["tmp"]), dataset["engine"])

    def client(role: str | None = "viewer") -> TestClient:
        c = TestClient(app)
        if role:
            c.headers["Authorization"] = f"Bearer {dataset['tokens'][role]}"
        return c

    return {"engine": dataset["engine"], "client": client, "app": app}


def recount(engine: Any, first: date, last: date, key: str, include: tuple[str, ...] = ()) -> dict[Any, Tally[Any]]:
    """The straightforward GROUP BY over the raw presses."""
    with Session(engine) as session:
        rows = session.exec(select(Press).where(Press.day >= first, Press.day <= last)).all()
    out: dict[Any, Tally[Any]] = {}
    for p in rows:
        if (p.suppressed and "suppressed" not in include) or (p.test and "test" not in include):
            continue
        out.setdefault(getattr(p, key), Tally())[(p.scale, p.level)] += 1
    return out


def expected_rate(counts: Tally[Any]) -> float | None:
    total = sum(counts.values())
    satisfied = sum(n for (scale, level), n in counts.items() if level >= 1)
    return round(satisfied / total, 4) if total else None


RANGES = [
    (date(2026, 1, 20), date(2026, 4, 10)),  # edge days + whole months + edge days
    (date(2026, 2, 1), date(2026, 2, 28)),  # exactly one month
    (date(2026, 2, 10), date(2026, 3, 5)),  # no whole month
    (date(2026, 3, 1), date(2026, 4, 30)),  # a month and a half, ends after the data
    (date(2026, 3, 14), date(2026, 3, 16)),  # across the officers' hand-over
    (date(2026, 1, 1), date(2026, 12, 31)),  # exactly a year
    (date(2025, 12, 20), date(2027, 2, 3)),  # edge days + a month + a whole year + a month + edge days
]


@pytest.mark.parametrize(("first", "last"), RANGES)
@pytest.mark.parametrize(("group", "column"), [("counter", "counter"), ("officer", "officer_id"),
                                               ("department", "department_id")])
def test_grouped_figures_equal_a_recount(env: dict[str, Any], first: date, last: date, group: str,
                                         column: str) -> None:
    body = env["client"]().get("/api/v1/satisfaction", params={"from": first.isoformat(), "to": last.isoformat(),
                                                                  "group": group}).json()
    expected = recount(env["engine"], first, last, column)
    got = {g["key"]: g for g in body["groups"]}
    codes = {1: "cb001", 2: "cb002", 3: "cb003"} if group == "officer" else {1: "TP", 2: "XD"}
    # a group of the previous period without ratings in this one is listed too, with a total of 0
    assert len([g for g in got.values() if g["total"]]) == len([k for k, v in expected.items() if v])
    for key, counts in expected.items():
        public = key if group == "counter" else codes[key]
        assert got[public]["total"] == sum(counts.values())
        assert got[public]["satisfaction_rate"] == expected_rate(counts)
    assert body["total"] == sum(sum(c.values()) for c in expected.values())


def test_series_buckets_add_up_and_follow_local_time(env: dict[str, Any]) -> None:
    client = env["client"]()
    params = {"from": "2026-01-20", "to": "2026-04-10", "group": "none"}
    whole = client.get("/api/v1/satisfaction", params=params).json()
    for by, count in (("day", 81), ("week", 12), ("month", 4), ("quarter", 2), ("year", 1)):
        body = client.get("/api/v1/satisfaction", params={**params, "by": by}).json()
        assert sum(s["total"] for s in body["series"]) == whole["total"], by
        assert len(body["series"]) <= count
    months = client.get("/api/v1/satisfaction", params={**params, "by": "month"}).json()["series"]
    assert [m["period"] for m in months] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert months[0]["from"] == "2026-01-20" and months[-1]["to"] == "2026-04-10"
    weeks = client.get("/api/v1/satisfaction", params={**params, "by": "week"}).json()["series"]
    assert weeks[0]["period"] == "2026-W04" and weeks[0]["from"] == "2026-01-20"
    # The whole center's days (rollup_day_total) equal a recount of the presses, day by day.
    days = client.get("/api/v1/satisfaction", params={**params, "by": "day"}).json()["series"]
    with Session(env["engine"]) as session:
        rows = session.exec(select(Press).where(Press.day >= date(2026, 1, 20), Press.day <= date(2026, 4, 10),
                                                Press.suppressed == False, Press.test == False)).all()
    assert {d["period"]: d["total"] for d in days if d["total"]} == dict(Tally(p.day.isoformat() for p in rows))
    # A press at 23:xx local is on that local day (16:xx UTC): the day buckets equal the press day column.
    recounted = recount(env["engine"], date(2026, 2, 2), date(2026, 2, 2), "counter")
    day = client.get("/api/v1/satisfaction", params={"from": "2026-02-02", "to": "2026-02-02", "group": "none"})
    assert day.json()["total"] == sum(sum(c.values()) for c in recounted.values())


def test_flags_previous_period_and_site(env: dict[str, Any]) -> None:
    client = env["client"]()
    base = {"from": "2026-03-01", "to": "2026-03-31", "group": "counter"}
    plain = client.get("/api/v1/satisfaction", params=base).json()
    everything = client.get("/api/v1/satisfaction", params={**base, "include": "suppressed,test"}).json()
    expected = recount(env["engine"], date(2026, 3, 1), date(2026, 3, 31), "counter", ("suppressed", "test"))
    assert everything["total"] == sum(sum(c.values()) for c in expected.values()) > plain["total"]
    # March's previous period is February, the whole month
    assert plain["previous"]["from"] == "2026-02-01" and plain["previous"]["to"] == "2026-02-28"
    feb = client.get("/api/v1/satisfaction", params={**base, "from": "2026-02-01", "to": "2026-02-28"}).json()
    assert plain["previous"]["total"] == feb["total"]
    g17 = next(g for g in plain["groups"] if g["key"] == "17")
    f17 = next(g for g in feb["groups"] if g["key"] == "17")
    assert g17["previous"]["total"] == f17["total"]
    assert g17["change"]["satisfaction_rate"] == pytest.approx(g17["satisfaction_rate"] - f17["satisfaction_rate"],
                                                               abs=1e-4)
    site = client.get("/api/v1/satisfaction", params={**base, "group": "site"}).json()
    assert [g["key"] for g in site["groups"]] == ["hcc-tinh"] and site["groups"][0]["total"] == plain["total"]
    one = client.get("/api/v1/satisfaction", params={**base, "department": "XD"}).json()
    assert [g["key"] for g in one["groups"]] == ["18"]
    levels = {lv["key"] for g in plain["groups"] for lv in g["levels"]}
    assert levels == {"very_satisfied", "satisfied", "unsatisfied"}


def test_any_two_periods_compare(env: dict[str, Any]) -> None:
    client = env["client"]()
    april = {"from": "2026-04-01", "to": "2026-04-30", "group": "department"}
    body = client.get("/api/v1/satisfaction", params={**april, "compare_from": "2026-01-05",
                                                      "compare_to": "2026-02-14"}).json()
    assert (body["previous"]["from"], body["previous"]["to"]) == ("2026-01-05", "2026-02-14")
    then = client.get("/api/v1/satisfaction", params={**april, "from": "2026-01-05", "to": "2026-02-14"}).json()
    expected = recount(env["engine"], date(2026, 1, 5), date(2026, 2, 14), "counter")
    assert body["previous"]["total"] == then["total"] == sum(sum(c.values()) for c in expected.values()) > 0
    for group in body["groups"]:
        earlier = next((g for g in then["groups"] if g["key"] == group["key"]), None)
        assert group["previous"]["total"] == (earlier["total"] if earlier else 0)
    assert body["change"]["satisfaction_rate"] == pytest.approx(
        body["satisfaction_rate"] - then["satisfaction_rate"], abs=1e-4)
    for wrong, says in (({"compare_from": "2026-01-05"}, "both"), ({"compare_to": "2026-01-05"}, "both"),
                        ({"compare_from": "2026-02-14", "compare_to": "2026-01-05"}, "reversed"),
                        ({"compare_from": "5/1/2026", "compare_to": "2026-02-14"}, "compare_from must be a date"),
                        ({"compare_from": "2026-01-05", "compare_to": "2026-02-14", "compare": "false"}, "compare=true")):
        refused = client.get("/api/v1/satisfaction", params={**april, **wrong})
        assert refused.status_code == 422 and says in refused.text, (wrong, refused.text)


def test_index_maps_levels_evenly(env: dict[str, Any]) -> None:
    body = env["client"]().get("/api/v1/satisfaction", params={"from": "2026-02-01", "to": "2026-02-28",
                                                                  "counter": "18"}).json()
    counts = recount(env["engine"], date(2026, 2, 1), date(2026, 2, 28), "counter")["18"]
    points = sum(n * 50 * level for (scale, level), n in counts.items())
    assert body["groups"][0]["index"] == round(points / sum(counts.values()), 1)


def test_hour_by_weekday_grid(env: dict[str, Any]) -> None:
    body = env["client"]().get("/api/v1/satisfaction/grid", params={"from": "2026-01-20", "to": "2026-04-10"}).json()
    with Session(env["engine"]) as session:
        rows = session.exec(select(Press).where(Press.suppressed == False, Press.test == False)).all()
    expected = Tally((p.day.isoweekday(), (p.pressed_at + timedelta(hours=7)).hour) for p in rows)
    got = {(c["weekday"], c["hour"]): c["total"] for c in body["cells"]}
    assert got == dict(expected)
    assert {h for _, h in got} <= {7, 8, 9, 10, 14, 15, 16, 23}
    # a counter's grid reads rollup_hour by day; the whole center's whole months rollup_hour_month
    one = env["client"]().get("/api/v1/satisfaction/grid", params={"from": "2026-01-20", "to": "2026-04-10",
                                                                 "counter": "17"}).json()
    assert {(c["weekday"], c["hour"]): c["total"] for c in one["cells"]} == dict(
        Tally((p.day.isoweekday(), (p.pressed_at + timedelta(hours=7)).hour) for p in rows if p.counter == "17"))


def test_rollups_equal_a_rebuild_from_the_presses(env: dict[str, Any]) -> None:
    engine = env["engine"]

    def snapshot() -> list[Any]:
        with Session(engine) as session:
            return [sorted(repr(r.model_dump()) for r in session.exec(select(table)).all())
                    for table in (RollupDay, RollupMonth, RollupYear, RollupHour, RollupHourMonth,
                                  RollupDayTotal)]

    before = snapshot()
    with engine.begin() as connection:
        rebuild_rollups(connection, TZ)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("/api/v1/satisfaction", {"counter": "99"}, "unknown counter '99'"),
        ("/api/v1/satisfaction", {"department": "NOPE"}, "unknown department"),
        ("/api/v1/satisfaction", {"officer": "x"}, "unknown officer"),
        ("/api/v1/satisfaction", {"site": "x"}, "unknown site"),
        ("/api/v1/satisfaction", {"from": "2026-03-05", "to": "2026-03-01"}, "reversed"),
        ("/api/v1/satisfaction", {"from": "05/03/2026"}, "YYYY-MM-DD"),
        ("/api/v1/satisfaction", {"group": "floor"}, "counter"),
        ("/api/v1/satisfaction", {"by": "fortnight"}, "week"),
        ("/api/v1/satisfaction", {"from": "1990-01-01", "to": "2026-01-01"}, "longer than"),
        ("/api/v1/satisfaction", {"from": "2020-01-01", "to": "2026-01-01", "by": "day"}, "by=day"),
        ("/api/v1/satisfaction/grid", {"include": "everything"}, "include accepts"),
        ("/api/v1/presses", {"officer": "nobody"}, "unknown officer"),
        ("/api/v1/presses", {"flags": "odd"}, "suppressed"),
        ("/api/v1/reports/2026-W60", {}, "not a week"),
        ("/api/v1/reports/2026-11", {"format": "docx"}, "pdf"),
        ("/api/v1/devices", {"silent_after": 0}, "greater than"),
    ],
)
def test_bad_parameters_say_what_is_wrong(env: dict[str, Any], path: str, params: dict[str, Any], words: str) -> None:
    response = env["client"]().get(path, params=params)
    assert response.status_code == 422, response.text
    assert words in response.text


def test_presses_filters_and_csv(env: dict[str, Any]) -> None:
    client = env["client"]()
    page = client.get("/api/v1/presses", params={"officer": "cb003", "flags": "suppressed", "limit": 1000}).json()
    assert page["items"] and all(p["flags"] == ["suppressed"] and p["counter"] == "17" for p in page["items"])
    assert all(p["day"] >= "2026-03-15" for p in page["items"])
    response = client.get("/api/v1/presses.csv", params={"counter": "18", "from": "2026-02-01", "to": "2026-02-28"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = recount(env["engine"], date(2026, 2, 1), date(2026, 2, 28), "counter", ("suppressed", "test"))["18"]
    assert len(rows) == sum(expected.values())
    assert {r["counter"] for r in rows} == {"18"}


def test_devices_status_and_silence(env: dict[str, Any]) -> None:
    from collector.api.routes.devices import office_minutes

    status = env["client"]().get("/api/v1/devices/status").json()
    assert {d["box"]: d["status"] for d in status["items"]} == {"box-017": "never_seen", "box-018": "never_seen"}
    assert status["silent"] == ["box-017", "box-018"]
    monday = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)  # 07:30 local
    assert office_minutes(monday, monday + timedelta(hours=4), TZ) == 240
    assert office_minutes(monday + timedelta(hours=4), monday + timedelta(hours=6), TZ) == 0  # lunch
    saturday = datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    assert office_minutes(saturday, saturday + timedelta(hours=30), TZ) == 0


# --- access ------------------------------------------------------------------------------------


def test_viewer_reads_but_cannot_change_the_registry(env: dict[str, Any]) -> None:
    viewer, admin = env["client"]("viewer"), env["client"]("admin")
    assert {"TP", "XD"} <= {d["code"] for d in viewer.get("/api/v1/registry/departments").json()}
    body = {"code": "CA", "name": "Công an tỉnh <script>alert(1)</script>", "site": "hcc-tinh"}
    assert viewer.post("/api/v1/registry/departments", json=body).status_code == 403
    assert admin.post("/api/v1/registry/departments", json=body).status_code == 201
    assert admin.post("/api/v1/registry/counters", json={"code": "20", "name": "Quầy 20", "department": "CA",
                                                          "scale": "vn3"}).status_code == 201
    assert admin.post("/api/v1/registry/officers", json={"code": "cb009", "name": "Phạm D",
                                                          "department": "CA"}).status_code == 201
    assert admin.post("/api/v1/registry/boxes", json={"box": "box-020", "counter": "20",
                                                       "from": "2026-04-01"}).status_code == 201
    assert admin.post("/api/v1/registry/officer-assignments", json={"officer": "cb009", "counter": "20",
                                                                     "from": "2026-04-01"}).status_code == 201
    # a second box at the same counter is fine; the same box at two counters at once is not
    clash = admin.post("/api/v1/registry/boxes", json={"box": "box-020", "counter": "17", "from": "2026-05-01"})
    assert clash.status_code == 422 and "two counters" in clash.text
    # closing an assignment: the same key with a 'to'
    closed = admin.post("/api/v1/registry/boxes", json={"box": "box-020", "counter": "20", "from": "2026-04-01",
                                                         "to": "2026-05-01"})
    assert closed.status_code == 201
    boxes = {(b["box"], b["counter"]): b for b in viewer.get("/api/v1/registry/boxes").json()}
    assert boxes[("box-020", "20")]["to"].startswith("2026-04-30T17:00")
    unknown = admin.post("/api/v1/registry/counters", json={"code": "21", "name": "x", "department": "ZZ"})
    assert unknown.status_code == 422 and "unknown department 'ZZ'" in unknown.text
    assert admin.post("/api/v1/registry/counters", json={"code": "bad code!", "name": "x",
                                                          "department": "CA"}).status_code == 422


def test_login_session_cookie_and_logout(env: dict[str, Any]) -> None:
    browser = env["client"](None)
    assert browser.get("/dashboard", follow_redirects=False).headers["location"].startswith("/login")
    assert browser.get("/openapi.json").status_code == 401
    assert browser.get("/docs", follow_redirects=False).status_code == 303
    wrong = browser.post("/login", data={"username": "chanh", "password": "nope"}, follow_redirects=False)
    assert wrong.status_code == 401 and "rating_session" not in wrong.headers.get("set-cookie", "")
    ok = browser.post("/login", data={"username": "chanh", "password": PASSWORD, "next": "//evil.example/x"},
                      follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard"  # no open redirect
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert browser.get("/api/v1/satisfaction").status_code == 200
    assert browser.get("/dashboard").status_code == 200
    assert browser.get("/static/dashboard.js").status_code == 200
    assert browser.get("/openapi.json").json()["info"]["title"]
    # a viewer's cookie cannot change the registry; an admin's needs the CSRF header
    body = {"code": "QQ", "name": "Q"}
    assert browser.post("/api/v1/registry/departments", json=body).status_code == 403
    admin = env["client"](None)
    admin.post("/login", data={"username": "quantri", "password": PASSWORD})
    assert admin.post("/api/v1/registry/departments", json=body).status_code == 403
    assert admin.post("/api/v1/registry/departments", json=body,
                      headers={"X-Requested-With": "dashboard"}).status_code == 201
    assert browser.post("/logout", headers={"Origin": "https://evil.example"}).status_code == 403
    assert browser.get("/api/v1/satisfaction").status_code == 200
    browser.post("/logout", headers={"Origin": "http://testserver"})  # what the dashboard's form sends
    assert browser.get("/api/v1/satisfaction").status_code == 401


def test_failed_logins_are_rate_limited(env: dict[str, Any]) -> None:
    browser = env["client"](None)
    for _ in range(5):
        assert browser.post("/login", data={"username": "chanh", "password": "guess"}).status_code == 401
    locked = browser.post("/login", data={"username": "chanh", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "rating_session" not in locked.headers.get("set-cookie", "")


def test_secrets_are_stored_hashed(env: dict[str, Any]) -> None:
    from collector.models import ApiToken, User, WebSession

    browser = env["client"](None)
    response = browser.post("/login", data={"username": "chanh", "password": PASSWORD}, follow_redirects=False)
    value = response.cookies.get("rating_session") or response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    with Session(env["engine"]) as session:
        user = session.exec(select(User).where(User.username == "chanh")).one()
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        assert all(value not in s.id_sha256 for s in session.exec(select(WebSession)).all())
        assert all(len(t.token_sha256) == 64 for t in session.exec(select(ApiToken)).all())


@pytest.mark.parametrize("path", ["/api/v1/satisfaction", "/api/v1/satisfaction/grid", "/api/v1/devices/status",
                                  "/api/v1/presses.csv", "/api/v1/registry/counters", "/api/v1/reports/2026-03",
                                  "/openapi.json", "/static/dashboard.js", "/metrics"])
def test_every_route_refuses_strangers(env: dict[str, Any], path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer rct_wrong"}, {"Cookie": "rating_session=forged"}):
        assert env["client"](None).get(path, headers=headers).status_code == 401


def test_sql_metacharacters_change_nothing(env: dict[str, Any]) -> None:
    client = env["client"]()
    for value in ("17' OR '1'='1", "17; DROP TABLE press; --", '"', "%", "_"):
        assert client.get("/api/v1/satisfaction", params={"counter": value}).status_code == 422
        assert client.get("/api/v1/presses", params={"box": value}).json()["items"] == []
    assert client.get("/api/v1/presses", params={"limit": 5}).json()["items"]


@pytest.mark.parametrize("path", ["/api/v1/presses", "/api/v1/presses.csv"])
def test_nul_and_odd_characters_are_refused_not_crashing(env: dict[str, Any], path: str) -> None:
    client = env["client"]()
    for field in ("box", "counter", "officer", "department"):
        response = client.get(path, params={field: "box\x00-017"})
        assert response.status_code in (200, 422), response.text
    assert client.get("/api/v1/reports/2026-W48", params={"site": "a\x00"}).status_code in (200, 422)
    assert client.get("/api/v1/satisfaction", params={"site": "a\x00"}).status_code == 422


def test_api_docs_work_without_internet(env: dict[str, Any]) -> None:
    viewer = env["client"]("viewer")
    page = viewer.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from a CDN
    for source in sources:
        assert viewer.get(source).status_code == 200, source
    assert env["client"](None).get("/docs/assets/swagger-ui-bundle.js").status_code == 401
    assert viewer.get("/docs/assets/..%2Fsettings.py").status_code == 404
