"""The HTTP API: satisfaction figures, paging, tokens and parameter errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.auth import create_token
from collector.clock import utc_ms
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.registry import load_registry
from collector.settings import Settings
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def api(engine: Any, test_registry: dict[str, Any], tmp_path: Path, make_press: Any) -> Any:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(test_registry))
    at = lambda h, m=0: utc_ms(datetime(2026, 3, 2, h, m, tzinfo=UTC))
    payloads = [
        # 2 March local: 3 satisfied, 1 unsatisfied, plus one suppressed and one test press
        make_press(seq=1, t=at(2), level=1), make_press(seq=2, t=at(3), level=1),
        make_press(seq=3, t=at(4), level=1), make_press(seq=4, t=at(5), level=0),
        make_press(seq=5, t=at(5, 1), level=0, flags=["suppressed"]),
        make_press(seq=6, t=at(6), level=1, flags=["test"]),
        # 18:00 UTC on 2 March is 01:00 on 3 March local: one unsatisfied
        make_press(seq=7, t=at(18), level=0),
        # counter 18 (vn3): levels 2, 1, 0
        make_press(box="box-018", seq=1, t=at(2), scale="vn3", level=2),
        make_press(box="box-018", seq=2, t=at(2), scale="vn3", level=1),
        make_press(box="box-018", seq=3, t=at(2), scale="vn3", level=0),
    ]
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(),
                                            datetime.now(UTC))) for p in payloads], TZ)
        viewer = create_token(session, name="viewer", role="viewer")
    client = TestClient(create_app(Settings(data_dir=tmp_path), engine))
    client.headers["Authorization"] = f"Bearer {viewer}"
    return client


def test_satisfaction_of_one_day(api: TestClient) -> None:
    body = api.get("/api/v1/counters/17/satisfaction", params={"from": "2026-03-02", "to": "2026-03-02"}).json()
    assert body["total"] == 4 and body["satisfied"] == 3
    assert body["satisfaction_rate"] == 0.75 and body["index"] == 75.0
    assert [(lv["key"], lv["count"]) for lv in body["levels"]] == [("unsatisfied", 1), ("satisfied", 3)]
    assert body["levels"][1]["label_vi"] == "Hài lòng"


def test_local_days_and_flagged_presses(api: TestClient) -> None:
    two_days = api.get("/api/v1/counters/17/satisfaction", params={"from": "2026-03-02", "to": "2026-03-03"}).json()
    assert two_days["total"] == 5
    everything = api.get(
        "/api/v1/counters/17/satisfaction", params={"from": "2026-03-02", "to": "2026-03-02", "include": "suppressed,test"}
    ).json()
    assert everything["total"] == 6 and everything["satisfied"] == 4


def test_three_level_scale(api: TestClient) -> None:
    body = api.get("/api/v1/counters/18/satisfaction", params={"from": "2026-03-02", "to": "2026-03-02"}).json()
    assert [lv["count"] for lv in body["levels"]] == [1, 1, 1]
    assert body["satisfaction_rate"] == 0.6667 and body["index"] == 50.0


def test_empty_period(api: TestClient) -> None:
    body = api.get("/api/v1/counters/17/satisfaction", params={"from": "2025-01-01", "to": "2025-01-31"}).json()
    assert body["total"] == 0 and body["satisfaction_rate"] is None and body["index"] is None


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/api/v1/counters/99/satisfaction", {"from": "2026-03-02"}, 404, "unknown counter"),
        ("/api/v1/counters/17/satisfaction", {"from": "2026-13-01"}, 422, "YYYY-MM-DD"),
        ("/api/v1/counters/17/satisfaction", {"from": "2026-03-05", "to": "2026-03-01"}, 422, "reversed"),
        ("/api/v1/counters/17/satisfaction", {"from": "2026-03-02", "include": "bogus"}, 422, "bogus"),
        ("/api/v1/presses", {"to": "yesterday"}, 422, "YYYY-MM-DD"),
        ("/api/v1/presses", {"limit": 0}, 422, ""),
        ("/api/v1/presses", {"cursor": "abc"}, 422, "cursor"),
    ],
)
def test_bad_parameters(api: TestClient, path: str, params: dict[str, Any], status: int, words: str) -> None:
    response = api.get(path, params=params)
    assert response.status_code == status
    assert words in json.dumps(response.json())


def test_presses_are_paged_with_a_cursor(api: TestClient) -> None:
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"counter": "17", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/api/v1/presses", params=params).json()
        seen += [(p["box"], p["seq"]) for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [("box-017", n) for n in range(1, 8)]
    day = api.get("/api/v1/presses", params={"box": "box-017", "from": "2026-03-03", "to": "2026-03-03"}).json()
    assert [p["seq"] for p in day["items"]] == [7]


@pytest.mark.parametrize("path", ["/api/v1/counters/17/satisfaction", "/api/v1/presses", "/api/v1/devices", "/metrics"])
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic dXNlcjpwdw==", "Bearer "])
def test_refused_without_a_valid_token(api: TestClient, path: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    client = TestClient(api.app)
    response = client.get(path, headers=headers)
    assert response.status_code in (401, 403)
    assert response.status_code == 401 or authorization is None


def test_healthz_needs_no_token_and_tells_the_truth(api: TestClient) -> None:
    response = TestClient(api.app).get("/healthz")
    assert response.status_code == 503  # no ingest running here: MQTT is not connected
    assert response.json()["db"] is True and response.json()["mqtt"] is False


def test_devices_and_metrics(api: TestClient) -> None:
    assert api.get("/api/v1/devices").json() == []
    assert "rating_presses_stored_total" in api.get("/metrics").text
