"""Edge values of every day and period parameter get a 422 that says why, never a 500: the first and
last days `date` holds (0001-01-01, 9999-12-31), their weeks, months and years, and digits of other
scripts ("²", "１") that Python's isdigit() and int() accept."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.auth import create_token
from collector.db import make_engine, session_scope, upgrade
from collector.registry import load_registry
from collector.settings import Settings
from tests.helpers.registry import TEST_REGISTRY

TZ = "Asia/Ho_Chi_Minh"
EDGE_DAYS = ["0001-01-01", "0001-01-07", "1969-12-31", "3000-01-01", "9999-12-25", "9999-12-31"]
EDGE_PERIODS = ["0001-W01", "9999-W52", "0001-01", "9999-12", "0001-Q1", "9999-Q4", "0001", "9999",
                "9999-12-31", "²⁰²⁶-11", "２０２６", "2026-W４８"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One SQLite database for the module: these answers are decided before any query."""
    tmp = tmp_path_factory.mktemp("edges")
    path = tmp / "registry.json"
    path.write_text(json.dumps(TEST_REGISTRY))
    engine = make_engine(f"sqlite:///{tmp / 'collector.sqlite3'}")
    upgrade(engine)
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        viewer = create_token(session, name="viewer", role="viewer")
    client = TestClient(create_app(Settings(data_dir=tmp), engine), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {viewer}"
    yield client
    engine.dispose()


@pytest.mark.parametrize("path", ["/api/v1/satisfaction", "/api/v1/satisfaction/grid",
                                  "/api/v1/counters/17/satisfaction", "/api/v1/presses"])
def test_a_day_outside_the_centers_days_is_a_422(api: TestClient, path: str) -> None:
    buckets = ({}, {"by": "week"}, {"by": "month"}, {"by": "year"}) if path == "/api/v1/satisfaction" else ({},)
    for day in EDGE_DAYS:
        for params in ({"from": day, "to": day}, {"from": day}, {"to": day}):
            for by in buckets:
                answer = api.get(path, params={**params, **by})
                assert answer.status_code == 422, (path, params, by, answer.text)
                assert "1970-01-01 to 2999-12-31" in answer.json()["detail"]


def test_the_first_and_last_days_allowed_answer(api: TestClient) -> None:
    for day in ("1970-01-01", "2999-12-31"):
        for by in ("day", "week", "month", "quarter", "year"):
            answer = api.get("/api/v1/satisfaction", params={"from": day, "to": day, "by": by})
            assert answer.status_code == 200, (day, by, answer.text)
        assert api.get("/api/v1/counters/17/satisfaction", params={"from": day, "to": day}).status_code == 200


def test_a_report_of_an_edge_period_is_a_422(api: TestClient) -> None:
    for period in EDGE_PERIODS:
        answer = api.get(f"/api/v1/reports/{period}")
        assert answer.status_code == 422, (period, answer.text)
        assert "period" in answer.json()["detail"] or "outside" in answer.json()["detail"]


def test_a_cursor_of_other_digits_is_a_422(api: TestClient) -> None:
    for cursor in ["²", "１", "٣", "-1", "1.0", "9" * 19]:
        answer = api.get("/api/v1/presses", params={"cursor": cursor})
        assert answer.status_code == 422, (cursor, answer.text)
        assert answer.json()["detail"] == "cursor must be a next_cursor value"


def test_the_report_command_refuses_an_edge_week_in_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "RATING_DATA_DIR": str(tmp_path)}
    done = subprocess.run([str(Path(sys.executable).parent / "rating-collector"), "report", "--week", "9999-W52"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert "9999" in done.stderr, done.stderr
