"""`rating-tech retire BOX` (the installed console script) against a real collector and Mosquitto:
the account is revoked (a connected box is cut off, a new connection refused), the assignment
closed, the device retired, its history kept; again, nothing changes; clear errors otherwise."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.helpers.collector_stack import Stack, collector_stack
from tests.helpers.technician import Tech
from tests.helpers.waiting import wait_until

REGISTRY: dict[str, Any] = {
    "departments": [{"code": "TP", "name": "Sở Tư pháp"}],
    "counters": [{"code": "21", "name": "Quầy 21", "department": "TP"},
                 {"code": "22", "name": "Quầy 22", "department": "TP"}],
    "boxes": [{"box": "box-021", "counter": "21", "from": "2026-01-05"},
              {"box": "box-022", "counter": "22", "from": "2026-01-05"}],
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from collector.db import make_engine, session_scope
    from collector.models import Device

    with collector_stack(REGISTRY) as made:
        made.broker.add_box("box-021", "box-021-password")
        engine = make_engine(made.collector.db_url)
        with session_scope(engine) as session:  # box-021 has reported; box-022 never has
            session.add(Device(box="box-021", counter="21", online=True, fw="0.1.0",
                               last_seen=datetime.now(UTC) - timedelta(minutes=2)))
        engine.dispose()
        yield made


@pytest.fixture(scope="module")
def tech(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Tech:
    return Tech({"RATING_DATA_DIR": str(stack.data_dir), "RATING_DATABASE_URL": stack.collector.db_url,
                 "RATING_TECH_SETTINGS": str(stack.data_dir / "no-such.env"),
                 "RATING_TECH_COLLECTOR_URL": stack.collector.url,
                 "RATING_TECH_TOKEN_FILE": str(stack.token_file("admin"))}, tmp_path_factory.mktemp("tech"))


def _connects(stack: Stack, box: str, password: str) -> bool:
    """Whether a fresh connection with this box's account is taken (False: refused)."""
    answered = threading.Event()
    reasons: list[Any] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=box)
    client.username_pw_set(box, password)

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        reasons.append(reason)
        answered.set()

    client.on_connect = on_connect
    client.connect(stack.broker.host, stack.broker.port)
    client.loop_start()
    try:
        assert answered.wait(10), "the broker did not answer CONNECT"
    finally:
        client.disconnect()
        client.loop_stop()
    return not reasons[0].is_failure


def test_retire_cuts_the_box_off_closes_its_assignment_and_keeps_its_history(stack: Stack, tech: Tech) -> None:
    connected = stack.broker.client("box-021", "box-021-password")
    cut_off = threading.Event()
    connected.on_disconnect = lambda *args: cut_off.set()

    ran = tech("retire", "box-021")
    assert ran.exit_code == 0, ran.output
    assert "box-021: broker account revoked: the broker re-read its accounts, the box is cut off" in ran.stdout
    assert "its assignment to counter 21 closed at" in ran.stdout and "(Asia/Ho_Chi_Minh)" in ran.stdout
    assert "marked retired since" in ran.stdout and ran.stderr == ""
    assert cut_off.wait(10), "the connected box was not cut off"
    assert wait_until(lambda: not _connects(stack, "box-021", "box-021-password"), timeout=10,
                      what="the revoked account refused")
    boxes = [b for b in stack.collector.get("/api/v1/registry/boxes").json() if b["box"] == "box-021"]
    assert len(boxes) == 1 and boxes[0]["from"].startswith("2026-01-0") and boxes[0]["to"] is not None
    devices = {d["box"]: d for d in stack.collector.get("/api/v1/devices/status").json()["items"]}
    assert devices["box-021"]["status"] == "retired" and devices["box-021"]["fw"] == "0.1.0"

    again = tech("retire", "box-021")
    assert again.exit_code == 0, again.output
    assert "box-021 was already retired: nothing changed" in again.stdout
    assert [b for b in stack.collector.get("/api/v1/registry/boxes").json() if b["box"] == "box-021"] == boxes


def test_a_box_never_heard_from_has_its_assignment_closed_and_no_account_said(stack: Stack, tech: Tech) -> None:
    ran = tech("retire", "box-022")
    assert ran.exit_code == 0, ran.output
    assert "its assignment to counter 22 closed" in ran.stdout
    assert "no account for box-022" in ran.stderr and "rating-collector broker remove-box box-022" in ran.stderr
    assert "box-022" not in {d["box"] for d in stack.collector.get("/api/v1/devices/status").json()["items"]}


def test_unknown_and_malformed_boxes_and_a_viewer_are_refused(stack: Stack, tech: Tech) -> None:
    ran = tech("retire", "box-999")
    assert ran.exit_code == 1 and "box-999 is not in the registry and the collector never heard from it" in ran.stderr
    ran = tech("retire", "Box_1")
    assert ran.exit_code == 2 and "is not a box id" in ran.stderr
    ran = tech("retire", "box-021", RATING_TECH_TOKEN_FILE=str(stack.token_file("viewer")))
    assert ran.exit_code == 1 and "this needs the admin role" in ran.stderr
