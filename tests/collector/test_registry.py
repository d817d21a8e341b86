"""Loading the registry: idempotent, and errors name the line to fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from collector.cli import app
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.models import CounterBox, Officer, Press
from collector.registry import RegistryError, load_registry
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"

YAML = """\
departments:
  - {code: TP, name: Sở Tư pháp}
counters:
  - {code: "17", name: Quầy 17, department: TP}
officers:
  - {code: cb001, name: Nguyễn Văn A, department: TP}
  - {code: cb002, name: Lê Văn C, department: TP}
boxes:
  - {box: box-017, counter: "17"}
officer_assignments:
  - {officer: cb001, counter: "17", from: 2026-03-02, to: "2026-03-02T12:00"}
  - {officer: cb002, counter: "17", from: "2026-03-02T12:00"}
"""


def load(engine: Any, path: Path) -> Any:
    with session_scope(engine) as session:
        return load_registry(session, path, TZ)


def test_yaml_load_is_idempotent_and_attributes_by_shift(engine: Any, tmp_path: Path, make_press: Any) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(YAML, encoding="utf-8")
    assert load(engine, path).created == 7
    again = load(engine, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7)
    # 11:00 and 13:00 local on 2 March: morning shift then afternoon shift
    morning = make_press(seq=1, t=int(datetime(2026, 3, 2, 4, tzinfo=UTC).timestamp() * 1000))
    afternoon = make_press(seq=2, t=int(datetime(2026, 3, 2, 6, tzinfo=UTC).timestamp() * 1000))
    with session_scope(engine) as session:
        store_batch(session, [check(Inbound("rating/box-017/press", json.dumps(p).encode(), datetime.now(UTC)))
                              for p in (morning, afternoon)], TZ)
    with Session(engine) as session:
        officers = {o.id: o.code for o in session.exec(select(Officer)).all()}
        by_seq = {p.seq: officers[p.officer_id] for p in session.exec(select(Press)).all() if p.officer_id}
    assert by_seq == {1: "cb001", 2: "cb002"}


def test_csv_errors_name_their_lines_and_change_nothing(engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_text(
        "kind,code,name,department,scale,box,counter,officer,from,to\n"
        "department,TP,Sở Tư pháp,,,,,,,\n"
        "counter,17,Quầy 17,TP,sat2,,,,,\n"
        "counter,18,Quầy 18,NOPE,sat2,,,,,\n"
        "box,,,,,box-017,17,,2026-01-01,\n"
        "box,,,,,box-017,17,,2026-02-01,\n"
        "box,,,,,BOX 9,17,,,\n"
        "counter,19,Quầy 19,TP,stars10,,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(RegistryError) as raised:
        load(engine, path)
    text = str(raised.value)
    assert "registry.csv:4: counter '18': unknown department 'NOPE'" in text
    assert ("registry.csv:6: box 'box-017' at counter '17': overlaps its other assignment at counter '17' "
            "from 2026-01-01 with no end") in text
    assert "registry.csv:7: box 'BOX 9' at counter '17': 'box': 'BOX 9' is not a box id like box-017" in text
    assert "registry.csv:8: counter '19': 'scale': 'stars10' is not a scale; use sat2, vn3, smiley4" in text
    assert [line.split(": ")[0].rsplit(":", 1)[1] for line in raised.value.problems] == ["4", "6", "7", "8"]
    with Session(engine) as session:
        assert session.exec(select(CounterBox)).all() == []


def test_cli_registry_token_and_broker_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from collector.settings import get_settings

    monkeypatch.setenv("RATING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RATING_MQTT_PORT", "18999")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        path = tmp_path / "registry.yaml"
        path.write_text(YAML, encoding="utf-8")
        result = runner.invoke(app, ["registry", "load", str(path)])
        assert result.exit_code == 0, result.output
        assert "7 created" in result.output
        bad = tmp_path / "bad.yaml"
        bad.write_text("counters:\n  - {code: '9', name: Quầy 9, department: NOPE}\n", encoding="utf-8")
        result = runner.invoke(app, ["registry", "load", str(bad)])
        assert result.exit_code == 2 and "bad.yaml:2: counter '9': unknown department 'NOPE'" in result.output
        result = runner.invoke(app, ["token", "create", "--name", "ops", "--role", "admin"])
        assert result.exit_code == 0 and result.output.startswith("rct_")
        assert runner.invoke(app, ["token", "create", "--name", "x", "--role", "root"]).exit_code == 2
        result = runner.invoke(app, ["broker", "setup"])
        assert result.exit_code == 0, result.output
        password_file = tmp_path / "data" / "secrets" / "mqtt-collector.password"
        password = password_file.read_text()
        assert password.strip() and password not in result.output
        assert "listener 18999" in (tmp_path / "data" / "broker" / "mosquitto.conf").read_text()
        assert runner.invoke(app, ["broker", "setup"]).exit_code == 0
        assert password_file.read_text() == password  # made once
        for command in ([], ["serve"], ["token", "create"], ["registry", "load"], ["broker", "setup"]):
            assert runner.invoke(app, [*command, "--help"]).exit_code == 0
    finally:
        get_settings.cache_clear()


def test_the_http_route_tells_the_same_problems(engine: Any, tmp_path: Path) -> None:
    """POST /api/v1/registry/... goes through the same loader: its 422s read as the file's messages,
    without the file and line."""
    from fastapi.testclient import TestClient

    from collector.app import create_app
    from collector.auth import create_token
    from collector.settings import Settings

    path = tmp_path / "registry.yaml"
    path.write_text(YAML, encoding="utf-8")
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
        token = create_token(session, name="admin", role="admin")
    client = TestClient(create_app(Settings(data_dir=tmp_path), engine))
    client.headers["Authorization"] = f"Bearer {token}"
    clash = client.post("/api/v1/registry/officer-assignments",
                        json={"officer": "cb001", "counter": "17", "from": "2026-03-03"})
    assert clash.status_code == 422
    assert clash.json()["detail"] == [
        ("officer 'cb001' at counter '17': counter '17' would have two officers on duty at once: "
        "cb002 (Lê Văn C) holds it from 2026-03-02 12:00 with no end; give that assignment a 'to' first")]
    bad_date = client.post("/api/v1/registry/boxes", json={"box": "box-017", "counter": "17", "from": "2026-31-12"})
    assert bad_date.status_code == 422
    assert bad_date.json()["detail"] == [
        ("box 'box-017' at counter '17': 'from': '2026-31-12' is not a date (month must be in 1..12); "
        "write YYYY-MM-DD, or YYYY-MM-DDTHH:MM for a time")]


def test_an_entry_refused_is_told_once_not_again_where_it_is_named(engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(YAML.replace("{code: cb002, name: Lê Văn C, department: TP}",
                                 "{code: cb002, name: Lê Văn C, department: NOPE}")
                    .replace("{code: \"17\", name: Quầy 17, department: TP}", "{code: \"17\", name: Quầy 17}"),
                    encoding="utf-8")
    with pytest.raises(RegistryError) as raised:
        load(engine, path)
    assert raised.value.problems == [
        f"{path}:4: counter '17': 'department' is missing (every counter needs code, name, department)",
        f"{path}:7: officer 'cb002': unknown department 'NOPE'; add it under departments first",
    ]
