"""presses.csv is an export a supervisor can count from: the officer's and department's codes beside
the ids, whether the reports count each press, and an `include` filter that means what it means in
the reports, so the rows it keeps add up to the report's total."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.app import create_app
from collector.auth import create_token
from collector.clock import local_day
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.reports.build import build_report
from collector.settings import Settings
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def client(registered: Any, make_press: Any, tmp_path: Path) -> TestClient:
    payloads = [make_press(seq=1, level=0), make_press(seq=2, level=1),
                make_press(seq=3, level=1, flags=["suppressed"]), make_press(seq=4, level=0, flags=["test"]),
                make_press(box="box-018", seq=1, scale="vn3", level=2)]
    now = datetime.now(UTC)
    with session_scope(registered) as session:
        store_batch(session, [check(Inbound(f"rating/{p['box']}/press", json.dumps(p).encode(), now))
                              for p in payloads], TZ)
        token = create_token(session, name="viewer", role="viewer")
    client = TestClient(create_app(Settings(data_dir=tmp_path), registered))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def rows(client: TestClient, **params: str) -> list[dict[str, str]]:
    response = client.get("/api/v1/presses.csv", params=params)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def report_total(engine: Any, include: frozenset[str] = frozenset()) -> int:
    with Session(engine) as session:
        report = build_report(session, f"{local_day(datetime.now(UTC), TZ):%Y-%m}", include=include)
    return int(report.total.figures["total"])


def test_the_csv_names_officers_and_departments_by_their_codes(client: TestClient) -> None:
    found = {(row["box"], row["seq"]): row for row in rows(client)}
    assert {key: (row["officer_code"], row["department_code"]) for key, row in found.items()} == {
        ("box-017", "1"): ("cb001", "TP"), ("box-017", "2"): ("cb001", "TP"), ("box-017", "3"): ("cb001", "TP"),
        ("box-017", "4"): ("cb001", "TP"), ("box-018", "1"): ("cb002", "XD")}
    assert all(row["officer_id"] and row["department_id"] for row in found.values())


def test_its_counted_column_and_include_filter_agree_with_the_reports(client: TestClient, registered: Any) -> None:
    everything = rows(client)
    assert len(everything) == 5  # no filter: every stored press, flagged or not
    assert {row["seq"] + row["box"]: row["counted"] for row in everything if row["flags"]} == {
        "3box-017": "False", "4box-017": "False"}
    assert sum(row["counted"] == "True" for row in everything) == report_total(registered) == 3
    assert len(rows(client, include="")) == report_total(registered)
    with_suppressed = rows(client, include="suppressed")
    assert len(with_suppressed) == report_total(registered, frozenset({"suppressed"})) == 4
    assert all(row["counted"] == "True" for row in with_suppressed)
    assert len(rows(client, include="suppressed,test")) == report_total(registered, frozenset({"suppressed", "test"}))


def test_a_bad_or_doubled_flag_filter_is_refused(client: TestClient) -> None:
    bad = client.get("/api/v1/presses.csv", params={"include": "odd"})
    assert bad.status_code == 422 and "include accepts suppressed, test" in bad.text
    both = client.get("/api/v1/presses", params={"include": "test", "flags": "none"})
    assert both.status_code == 422 and "not both" in both.text
