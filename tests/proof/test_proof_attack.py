"""Attacks on the running system (real Mosquitto, real collector process) that the part suites do
not already cover. Already covered elsewhere, and not repeated here:

- MQTT: no or wrong credentials, a box publishing under another box's topics or reading others'
  traffic, the collector account publishing presses: tests/collector/test_broker.py.
- A box claiming another counter (box_not_at_counter), every bad-input class one by one:
  tests/collector/test_ingest_faults.py. The payload check fuzzed: tests/proof/test_payload_fuzz.py.
- Schemathesis over the OpenAPI spec, no server error: tests/collector/test_api_fuzz.py.
- Login, cookie, CSRF, rate limit, hashed secrets, viewer vs admin on the registry, a fixed list of
  routes refusing strangers, SQL metacharacters in `counter` and `box`: tests/collector/test_api_supervisors.py.
- A counter name with markup shown as text on the dashboard: tests/dashboard/test_dashboard.py.

Here: every route the application has (read from the app, not from a list) and every method
refuses strangers, and every change refuses a viewer; SQL metacharacters in every query
parameter of every GET operation of the OpenAPI spec; markup and spreadsheet formulas in every
kind of registry name, through the HTTP reports in every format; the collector's memory under a
flood of hostile messages (with 1 MB ones the broker must refuse) while valid traffic goes on.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import paho.mqtt.client as mqtt

from tests.helpers.presses import press_payload
from tests.helpers.proof import rss_kb

PATH_VALUES = {"counter": "17", "period": "2026-W48", "name": "dashboard.js"}
PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/"),
          ("GET", "/releases/x/dashboard.js"),  # as _routes() fills them; boxes fetch signed releases without a login
          ("GET", "/lobby"), ("GET", "/lobby/dashboard.js")}  # the lobby screen's page: its data needs a token
PAGES = {"/dashboard", "/docs"}  # a stranger is sent to the login page, with nothing of the page
STRANGERS = [{}, {"Authorization": "Bearer rct_wrong"}, {"Authorization": "Bearer"},
             {"Authorization": "Basic dXNlcjpwdw=="}, {"Cookie": "rating_session=forged"},
             {"Authorization": "bearer " + "A" * 5000}]
SQL = ["17' OR '1'='1", "17; DROP TABLE press; --", "' UNION SELECT * FROM api_token --", "%", "_", "\\"]


def _routes() -> list[tuple[str, str]]:
    """(method, path) of every route the collector's application has, with or without the spec."""
    from collector.app import create_app
    from collector.db import make_engine
    from collector.settings import Settings

    def flatten(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
        found = []
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI >= 0.16x includes routers lazily
            if inner is not None:
                found += flatten(inner.routes, prefix + route.include_context.prefix)
            elif hasattr(route, "routes") and not hasattr(route, "methods"):
                found += flatten(route.routes, prefix + getattr(route, "path", ""))
            else:
                found += [(m, prefix + route.path) for m in sorted(getattr(route, "methods", None) or [])]
        return found

    app = create_app(Settings(), make_engine("sqlite://"))
    out = []
    for method, path in flatten(list(app.routes)):
        if method == "HEAD":
            continue
        out.append((method, re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)))
    return sorted(set(out))


def _registry_snapshot(collector: Any) -> dict[str, Any]:
    kinds = ("departments", "counters", "officers", "officer-assignments", "boxes")
    return {k: collector.get(f"/api/v1/registry/{k}", role="admin").json() for k in kinds}


def _stored(collector: Any) -> int:
    year = time.gmtime().tm_year
    r = collector.get("/api/v1/satisfaction", role="admin", group="none", include="suppressed,test",
                      **{"from": f"{year - 1}-01-01", "to": f"{year + 1}-12-31"})
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def _publish_presses(broker: Any, box: str, seqs: range, **fields: Any) -> None:
    client = broker.client(box, broker.add_box(box, f"{box}-pw"))
    for seq in seqs:
        broker.publish(client, f"rating/{box}/press", press_payload(box=box, seq=seq, **fields))


def test_every_route_and_method_refuses_strangers_and_every_change_refuses_viewers(
        broker: Any, collector_process: Any) -> None:
    collector = collector_process()
    routes = _routes()
    assert len(routes) >= 25 and ("POST", "/api/v1/registry/boxes") in routes, routes
    before = _registry_snapshot(collector)
    refused = 0
    with httpx.Client(base_url=collector.url, timeout=10) as http:
        for method, path in routes:
            if (method, path) in PUBLIC:
                continue
            for headers in STRANGERS:
                body = {"code": "ZZ", "name": "intruder"} if method == "POST" else None
                r = http.request(method, path, headers=headers, json=body, follow_redirects=False)
                if path in PAGES:
                    assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path, r)
                    assert len(r.content) < 200
                else:
                    assert r.status_code == 401, (method, path, headers, r.status_code, r.text[:200])
                refused += 1
        viewer = {"Authorization": f"Bearer {collector.token('viewer')}"}
        writes = [(m, p) for m, p in routes if m != "GET" and (m, p) not in PUBLIC]
        assert len(writes) >= 5, writes
        for method, path in writes:
            for body in ({"code": "ZZ", "name": "viewer was here", "department": "TP", "scale": "sat2"},
                         {"box": "box-017", "counter": "18", "from": "2020-01-01"},
                         {"officer": "cb001", "counter": "18", "from": "2020-01-01"}):
                r = http.request(method, path, headers=viewer, json=body)
                assert r.status_code == 403, (method, path, r.status_code, r.text[:200])
    assert _registry_snapshot(collector) == before
    print(f"\n{len(routes)} routes, {refused} stranger requests refused, {len(writes)} writes refused to a viewer")


def test_sql_metacharacters_in_every_query_parameter_change_nothing(broker: Any, collector_process: Any,
                                                                     wait_for: Any) -> None:
    collector = collector_process()
    _publish_presses(broker, "box-017", range(1, 6))
    wait_for(lambda: _stored(collector) == 5, timeout=20, what="5 presses stored")
    spec = collector.get("/openapi.json", role="admin").json()
    registry = _registry_snapshot(collector)
    baseline = collector.get("/api/v1/presses", role="admin").json()
    queries: list[tuple[str, str]] = []  # (url, the query parameter tried, or "" for a path parameter)
    for path, item in spec["paths"].items():
        if "get" not in item:
            continue
        params = [p for p in item["get"].get("parameters", []) if p["in"] == "query"]
        filled = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)
        for param in params:
            for value in SQL:
                queries.append((filled + "?" + urlencode({param["name"]: value}), param["name"]))
        if "{" in path:  # path parameters too
            for value in SQL:
                queries.append((re.sub(r"\{\w+\}", quote(value, safe="").replace("\\", "\\\\"), path), ""))

    # Several at once, as browsers and scripts send them: the collector's answers must not depend
    # on one request at a time (and the hundreds of requests take a quarter of the time).
    with httpx.Client(base_url=collector.url, timeout=30,
                      headers={"Authorization": f"Bearer {collector.token('viewer')}"}) as client, \
            ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda query: client.get(query[0]), queries))
    for (url, name), r in zip(queries, answers):
        if not name:
            assert r.status_code in (404, 422), (url, r.status_code)
            continue
        assert r.status_code in (200, 404, 422), (url, r.status_code, r.text[:300])
        if r.status_code == 200 and r.headers.get("content-type", "").startswith("application/json"):
            body = r.json()
            # A filter holding SQL matches nothing: it never widens to every row.
            if name in ("box", "counter", "officer", "department", "site") and "items" in body:
                assert body["items"] == [], (url, name)
            if name in ("counter", "officer", "department", "site") and "total" in body:
                assert body["total"] == 0, (url, name)
    tried = sum(1 for _, name in queries if name)
    assert tried > 60, tried
    assert _registry_snapshot(collector) == registry
    assert collector.get("/api/v1/presses", role="admin").json() == baseline
    assert _stored(collector) == 5
    print(f"\n{tried} query parameter values with SQL metacharacters: no error, nothing changed")


EVIL = {
    "department": "Sở <script>alert('d')</script>",
    "counter": 'Quầy "><img src=x onerror=alert(1)>',
    "officer": "=HYPERLINK(\"http://evil.example\",\"Nguyễn <b>A</b>\")",
}


def test_markup_and_formulas_in_registry_names_stay_data_in_every_report(broker: Any, collector_process: Any,
                                                                          wait_for: Any) -> None:
    import openpyxl

    collector = collector_process()
    admin = {"Authorization": f"Bearer {collector.token('admin')}"}
    now = time.gmtime()
    start = f"{now.tm_year - 1}-01-01"
    with httpx.Client(base_url=collector.url, headers=admin, timeout=10) as http:
        for path, body in (
            ("departments", {"code": "EV", "name": EVIL["department"]}),
            ("counters", {"code": "66", "name": EVIL["counter"], "department": "EV", "scale": "sat2"}),
            ("officers", {"code": "cb066", "name": EVIL["officer"], "department": "EV"}),
            ("boxes", {"box": "box-066", "counter": "66", "from": start}),
            ("officer-assignments", {"officer": "cb066", "counter": "66", "from": start}),
        ):
            r = http.post(f"/api/v1/registry/{path}", json=body)
            assert r.status_code == 201, (path, r.text)
        stored = {d["code"]: d["name"] for d in http.get("/api/v1/registry/departments").json()}
        assert stored["EV"] == EVIL["department"]  # kept verbatim: data, not markup
    _publish_presses(broker, "box-066", range(1, 4), counter="66")
    wait_for(lambda: _stored(collector) == 3, timeout=20, what="3 presses stored")
    month = time.strftime("%Y-%m", now)
    for lang in ("vi", "en"):
        r = collector.get(f"/api/v1/reports/{month}", role="viewer", format="html", lang=lang)
        assert r.status_code == 200, r.text[:300]
        html = r.text
        assert "Nguy" in html and "alert" in html, "the names are in the report"
        for raw in ("<script>alert", "<img src=x", "<b>A</b>"):
            assert raw not in html, (lang, raw)
        assert "&lt;script&gt;alert" in html, html[-3000:]
    csv_text = collector.get(f"/api/v1/reports/{month}", role="viewer", format="csv").text
    cells = [c for line in csv_text.splitlines() if line for c in _split_csv(line)]
    formula_cells = [c for c in cells if "HYPERLINK" in c]
    assert formula_cells and all(not c.startswith(("=", "+", "-", "@")) for c in formula_cells), formula_cells
    xlsx = collector.get(f"/api/v1/reports/{month}", role="viewer", format="xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    found = [c for ws in book.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert found and all(c.data_type == "s" for c in found), [(c.coordinate, c.data_type) for c in found]
    # The dashboard page itself carries no registry data (it fetches JSON and sets text), under a CSP.
    page = collector.get("/dashboard", role="viewer")
    assert page.status_code == 200 and "alert(" not in page.text and "Nguy" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def _split_csv(line: str) -> list[str]:
    import csv

    return next(csv.reader([line]))


# --- hostile MQTT traffic against the collector's memory ------------------------------------------

VALID_PRESS = press_payload()


def _hostile(i: int) -> bytes:
    """One of a rotation of hostile payloads, each under Mosquitto's max_packet_size (64 KB)."""
    kind = i % 8
    if kind == 0:
        return b"[" * 20000 + b"]" * 20000  # 40 KB of nesting
    if kind == 1:
        return json.dumps({**VALID_PRESS, "seq": 10 ** 4000 + i}).encode()[:60000]
    if kind == 2:
        return json.dumps({**VALID_PRESS, "box": "x" * 60000}).encode()
    if kind == 3:
        return b'{"box": "\xff\xfe' + bytes([i % 256]) * 30000 + b'"}'
    if kind == 4:
        return json.dumps({**VALID_PRESS, "seq": str(i), "flags": {"a": [1] * 5000}}).encode()
    if kind == 5:
        return json.dumps({f"k{j}": j for j in range(3000)}).encode()
    if kind == 6:
        return b'{"v": 1e999, "seq": NaN, "level": -Infinity}'
    return json.dumps([{"v": 1, "box": "box-017", "seq": i}] * 1000).encode()


def test_collector_memory_stays_flat_under_hostile_messages_and_valid_traffic_continues(
        broker: Any, collector_process: Any, wait_for: Any) -> None:
    collector = collector_process()
    pid = collector.process.pid
    password = broker.add_box("box-017", "box-017-pw")
    box = broker.client("box-017", password)
    def rejected() -> float:
        return float(collector.metric("rating_messages_rejected_total"))

    valid_seq = 0

    def flood(count: int, first: int) -> int:
        nonlocal valid_seq
        infos = []
        for i in range(first, first + count):
            infos.append(box.publish("rating/box-017/press", _hostile(i), qos=1))
            if i % 10 == 0:  # valid presses go on meanwhile
                valid_seq += 1
                infos.append(box.publish("rating/box-017/press", json.dumps(press_payload(seq=valid_seq)), qos=1))
        for info in infos:
            info.wait_for_publish(30)
        return count

    # Sizes: a collector that kept each rejected message (10-60 kB) would grow by far more than the
    # 15 MB bound over the flood below.
    warm = flood(500, 0)
    wait_for(lambda: rejected() >= warm, timeout=60, what="warm-up rejected")
    time.sleep(1.0)
    before = rss_kb(pid)

    # 1 MB payloads: Mosquitto (max_packet_size 65536) cuts the sender off; nothing reaches the collector.
    cut_off = 0
    # Another box's account, connecting as its own box id (the only one it may use): box-017's id
    # is held by `box` above, which must stay connected for the flood below.
    big_password = broker.add_box("box-018", "box-018-pw")
    for _ in range(10):
        raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="box-018")
        raw.username_pw_set("box-018", big_password)
        gone = threading.Event()
        raw.on_disconnect = lambda *a, gone=gone: gone.set()
        raw.connect(broker.host, broker.port)
        raw.loop_start()
        raw.publish("rating/box-018/press", json.dumps({**VALID_PRESS, "box": "x" * 1_000_000}), qos=0)
        cut_off += gone.wait(10)
        raw.loop_stop()
    assert cut_off == 10, "the broker must disconnect a client sending a packet over max_packet_size"

    sent = flood(1000, 500)
    wait_for(lambda: rejected() >= warm + sent, timeout=120, what=f"{warm + sent} hostile messages rejected")
    wait_for(lambda: _stored(collector) == valid_seq, timeout=30, what=f"{valid_seq} valid presses stored")
    time.sleep(1.0)
    after = rss_kb(pid)
    growth_mb = (after - before) / 1024
    print(f"\ncollector RSS {before / 1024:.1f} MB before, {after / 1024:.1f} MB after {sent} hostile messages "
          f"and 10 refused 1 MB ones ({growth_mb:+.1f} MB); {valid_seq} valid presses stored alongside")
    assert rejected() == warm + sent  # every one rejected and recorded, none dropped, none stored
    assert growth_mb < 15, f"collector memory grew {growth_mb:.1f} MB under hostile traffic"
    # still serving: a fresh valid press goes through at once
    valid_seq += 1
    broker.publish(box, "rating/box-017/press", press_payload(seq=valid_seq))
    wait_for(lambda: _stored(collector) == valid_seq, timeout=10, what="a valid press after the flood")
    assert collector.healthy()
