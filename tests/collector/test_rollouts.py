"""Rollouts (collector/rollouts.py): who is told, and each box's state from what it reports, on
SQLite and PostgreSQL, with a clock the test sets; the admin API; and the service publishing the
update commands through a real Mosquitto to a box account, as the ACL allows."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from collector.app import create_app
from collector.auth import create_token
from collector.db import session_scope
from collector.models import Device
from collector.releases import add_release, find_release
from collector.rollout_service import RolloutService
from collector.rollouts import RolloutError, boxes_of, find_rollout, start, step, widen
from collector.settings import Settings
from schemas.contract import schema_errors
from tests.helpers.releases import make_release

T0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
URL = "http://10.0.0.5:8000/releases/0.2.0/"
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rest runs on both
BOXES = ("box-001", "box-002", "box-003", "box-004", "box-005")


def settings_for(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, rollout_resend_s=60, rollout_timeout_s=300, rollout_soak_s=30)


def report(engine: Any, box: str, fw: str, boot: int, online: bool = True, retired: bool = False) -> None:
    """What the ingest keeps of a box's presence and status messages."""
    with session_scope(engine) as session:
        device = session.get(Device, box) or Device(box=box, counter="17", last_seen=T0)
        device.fw, device.boot, device.online = fw, boot, online
        device.retired_at = T0 if retired else None
        session.add(device)


@pytest.fixture
def fleet(engine: Any, tmp_path: Path) -> dict[str, Any]:
    settings = settings_for(tmp_path)
    assert settings.releases_dir is not None
    add_release(settings.releases_dir, make_release(tmp_path / "built"))
    for n, box in enumerate(BOXES):
        report(engine, box, "0.1.0", 10 + n)
    release = find_release(settings.releases_dir, "0.2.0")
    assert release is not None
    return {"engine": engine, "settings": settings, "release": release}


def tick(fleet: dict[str, Any], at: datetime) -> list[str]:
    """One step at `at`; the boxes told, each command checked against schemas/cmd.schema.json."""
    with session_scope(fleet["engine"]) as session:
        commands = step(session, fleet["settings"], at)
    for command in commands:
        assert schema_errors("cmd", json.loads(command.payload)) == []
    return [c.box for c in commands]


def states(fleet: dict[str, Any]) -> dict[str, str]:
    with Session(fleet["engine"]) as session:
        rollout = find_rollout(session, "0.2.0")
        assert rollout is not None
        return {row.box: row.state for row in boxes_of(session, rollout)} | {"rollout": rollout.state}


def begin(fleet: dict[str, Any], canaries: list[str]) -> None:
    with session_scope(fleet["engine"]) as session:
        start(session, fleet["release"], URL, canaries, "tech", T0)


def test_canaries_first_then_the_rest_of_the_fleet_behind_the_version(fleet: dict[str, Any]) -> None:
    engine = fleet["engine"]
    report(engine, "box-004", "0.2.0", 20)  # on the version already: never told
    report(engine, "box-005", "0.1.0", 20, retired=True)  # out of service: never told
    begin(fleet, ["box-001", "box-002"])
    assert tick(fleet, T0) == ["box-001", "box-002"]
    assert tick(fleet, T0 + timedelta(seconds=5)) == []  # told already, not again so soon
    report(engine, "box-001", "0.2.0", 11)
    with session_scope(engine) as session, pytest.raises(RolloutError, match=r"box-002 \(sent\)"):
        widen(session, find_rollout(session, "0.2.0"), 100, fleet["settings"], T0)  # type: ignore[arg-type]
    assert tick(fleet, T0 + timedelta(seconds=61)) == ["box-002"]  # it has not moved: told again
    report(engine, "box-002", "0.2.0", 12)
    assert tick(fleet, T0 + timedelta(seconds=62)) == []
    assert states(fleet) == {"box-001": "updated", "box-002": "updated", "rollout": "canary"}
    with session_scope(engine) as session, pytest.raises(RolloutError, match="for 30 s yet"):
        widen(session, find_rollout(session, "0.2.0"), 100, fleet["settings"], T0 + timedelta(seconds=70))  # type: ignore[arg-type]
    with session_scope(engine) as session:
        added = widen(session, find_rollout(session, "0.2.0"), 100, fleet["settings"], T0 + timedelta(seconds=95))  # type: ignore[arg-type]
    assert added == ["box-003"]
    assert tick(fleet, T0 + timedelta(seconds=96)) == ["box-003"]
    assert states(fleet)["rollout"] == "widened"


def test_a_canary_that_never_moves_fails_and_stops_the_rollout(fleet: dict[str, Any]) -> None:
    begin(fleet, ["box-001", "box-002"])
    assert tick(fleet, T0) == ["box-001", "box-002"]
    report(fleet["engine"], "box-002", "0.2.0", 11)
    told = [tick(fleet, T0 + timedelta(seconds=s)) for s in (61, 122, 183, 244)]
    assert told == [["box-001"]] * 4
    assert tick(fleet, T0 + timedelta(seconds=300)) == []  # the timeout: failed
    assert states(fleet) == {"box-001": "failed", "box-002": "updated", "rollout": "stopped"}
    assert tick(fleet, T0 + timedelta(seconds=900)) == []  # a stopped rollout tells nobody anything
    with session_scope(fleet["engine"]) as session:
        rollout = find_rollout(session, "0.2.0")
        assert rollout is not None and rollout.reason is not None and "box-001 failed" in rollout.reason
        with pytest.raises(RolloutError, match="stopped"):
            widen(session, rollout, 10, fleet["settings"], T0 + timedelta(seconds=900))


@SQLITE_ONLY
def test_an_offline_canary_is_told_once_it_is_back(fleet: dict[str, Any]) -> None:
    report(fleet["engine"], "box-001", "0.1.0", 10, online=False)
    begin(fleet, ["box-001"])
    assert tick(fleet, T0) == []
    assert tick(fleet, T0 + timedelta(seconds=600)) == []  # never told: not timed out either
    report(fleet["engine"], "box-001", "0.1.0", 11)
    assert tick(fleet, T0 + timedelta(seconds=601)) == ["box-001"]


@SQLITE_ONLY
@pytest.mark.parametrize("reports, detail", [
    ([("0.1.0", 11)], "rebooted and came back on 0.1.0"),  # e.g. the new release failed at import
    ([("0.2.0", 11), ("0.1.0", 12)], "was on 0.2.0, now reports 0.1.0"),  # on trial, never heard the collector
])
def test_a_canary_that_comes_back_on_the_old_version_is_rolled_back(fleet: dict[str, Any], reports: list[Any],
                                                                    detail: str) -> None:
    begin(fleet, ["box-001", "box-002"])
    tick(fleet, T0)
    for n, (fw, boot) in enumerate(reports):
        report(fleet["engine"], "box-001", fw, boot)
        tick(fleet, T0 + timedelta(seconds=1 + n))
    assert states(fleet) == {"box-001": "rolled_back", "box-002": "sent", "rollout": "stopped"}
    with Session(fleet["engine"]) as session:
        rollout = find_rollout(session, "0.2.0")
        assert rollout is not None and rollout.reason and detail in rollout.reason


@SQLITE_ONLY
def test_percent_takes_a_share_of_the_boxes_left(fleet: dict[str, Any]) -> None:
    begin(fleet, ["box-001"])
    report(fleet["engine"], "box-001", "0.2.0", 11)
    tick(fleet, T0)
    with session_scope(fleet["engine"]) as session:
        rollout = find_rollout(session, "0.2.0")
        assert rollout is not None
        assert widen(session, rollout, 40, fleet["settings"], T0 + timedelta(seconds=31)) == ["box-002", "box-003"]
        assert widen(session, rollout, 100, fleet["settings"], T0 + timedelta(seconds=31)) == ["box-004", "box-005"]


@SQLITE_ONLY
@pytest.mark.parametrize("canaries, reason", [
    (["box-009"], "box-009 has never reported"), ([], "1 to 20"), (["box-001", "box-001"], "1 to 20"),
])
def test_a_wrong_start_is_refused(fleet: dict[str, Any], canaries: list[str], reason: str) -> None:
    with pytest.raises(RolloutError, match=reason):
        begin(fleet, canaries)


@SQLITE_ONLY
def test_a_box_newer_than_the_release_is_refused(fleet: dict[str, Any]) -> None:
    report(fleet["engine"], "box-001", "0.10.0", 11)
    with pytest.raises(RolloutError, match="newer than 0.2.0"):
        begin(fleet, ["box-001"])


# --- the API ---------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_the_api_starts_widens_and_shows_a_rollout(fleet: dict[str, Any]) -> None:
    with session_scope(fleet["engine"]) as session:
        admin, viewer = (create_token(session, name=n, role=n) for n in ("admin", "viewer"))
    client = TestClient(create_app(fleet["settings"], fleet["engine"]), base_url="http://10.0.0.5:8000")
    auth = lambda token: {"Authorization": f"Bearer {token}"}
    body = {"version": "0.2.0", "canary": ["box-001"]}
    assert client.post("/api/v1/rollouts", json=body, headers=auth(viewer)).status_code == 403
    assert client.post("/api/v1/rollouts", json=body).status_code == 401
    answer = client.post("/api/v1/rollouts", json=body, headers=auth(admin))
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == URL and answer.json()["boxes"][0]["state"] == "pending"
    again = client.post("/api/v1/rollouts", json=body, headers=auth(admin))
    assert again.status_code == 422 and "exists already" in again.text
    refused = client.post("/api/v1/rollouts", json={"version": "0.2.0", "all": True}, headers=auth(admin))
    assert refused.status_code == 422 and "box-001 (pending)" in refused.text
    for wrong in ({"version": "0.2.0"}, {"version": "0.2.0", "all": True, "percent": 5},
                  {"version": "0.3.0", "canary": ["box-001"]}, {"version": "0.2", "canary": ["box-001"]},
                  {"version": "0.2.0", "canary": ["../etc"]}):
        assert client.post("/api/v1/rollouts", json=wrong, headers=auth(admin)).status_code == 422, wrong
    listed = client.get("/api/v1/rollouts", headers=auth(viewer)).json()["items"]
    assert [(r["version"], r["state"], r["counts"]["pending"]) for r in listed] == [("0.2.0", "canary", 1)]
    stopped = client.post("/api/v1/rollouts/0.2.0/stop", headers=auth(admin)).json()
    assert stopped["state"] == "stopped" and stopped["reason"] == "stopped by admin"
    assert client.get("/api/v1/rollouts/0.9.0", headers=auth(viewer)).status_code == 404


@SQLITE_ONLY
def test_boxes_are_told_where_they_can_fetch_from(fleet: dict[str, Any], tmp_path: Path) -> None:
    with session_scope(fleet["engine"]) as session:
        admin = create_token(session, name="admin", role="admin")
    headers = {"Authorization": f"Bearer {admin}"}
    body = {"version": "0.2.0", "canary": ["box-001"]}
    behind_https = TestClient(create_app(fleet["settings"], fleet["engine"]), base_url="https://rating.example")
    refused = behind_https.post("/api/v1/rollouts", json=body, headers=headers)
    assert refused.status_code == 422 and "RATING_RELEASES_URL" in refused.text
    settings = settings_for(tmp_path).model_copy(update={"releases_url": "http://192.168.1.2:8000/releases"})
    told = TestClient(create_app(settings, fleet["engine"]), base_url="https://rating.example")
    assert told.post("/api/v1/rollouts", json=body, headers=headers).json()["url"] == \
        "http://192.168.1.2:8000/releases/0.2.0/"


# --- the service, through the broker --------------------------------------------------------------


@SQLITE_ONLY
def test_the_service_publishes_the_command_to_the_box(fleet: dict[str, Any], broker: Any) -> None:
    """The collector's account may write rating/<box>/cmd, and the box reads its own."""
    broker.add_box("box-001", "pw-001")
    box = broker.client("box-001", "pw-001")
    got: queue.Queue[bytes] = queue.Queue()
    box.on_message = lambda _c, _u, message: got.put(bytes(message.payload))
    box.subscribe("rating/box-001/cmd")
    collector = broker.client("collector", broker.collector_password, client_id="collector-1")
    begin(fleet, ["box-001"])
    now = [T0]
    service = RolloutService(fleet["settings"], fleet["engine"], collector.publish, clock=lambda: now[0])
    for _ in range(20):  # QoS 0: the box's subscription may not be in place for the first command
        service.tick()
        try:
            command = json.loads(got.get(timeout=0.5))
            break
        except queue.Empty:
            now[0] += timedelta(seconds=fleet["settings"].rollout_resend_s)  # it is sent again then
    else:
        pytest.fail("no update command reached the box")
    assert command == {"v": 1, "cmd": "update", "version": "0.2.0", "url": URL,
                       "manifest_sha256": fleet["release"].manifest_sha256}
