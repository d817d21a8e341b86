"""A new box takes over a counter: the old credentials stop working, the registry shows who
served the counter when."""

from __future__ import annotations

import json
import time
from typing import Any

import paho.mqtt.client as mqtt
from sqlmodel import select

from collector.broker import list_accounts
from collector.db import make_engine, session_scope
from collector.models import Counter, CounterBox, Device
from tests.helpers.technician import port_of, presence_of


def refused(broker: Any, username: str, password: str) -> bool:
    """Does the broker refuse these credentials (a fresh connection, as a box would make: with its
    box id as client id, the only one its account may use)?"""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=username)
    client.username_pw_set(username, password)
    result: list[Any] = []
    client.on_connect = lambda c, u, f, rc, p: result.append(rc)
    client.connect(broker.host, broker.port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
    assert result, "no CONNACK"
    return bool(result[0].is_failure)


def test_replace_revokes_the_old_box_and_records_the_new_assignment(
    tech: Any, blank_box: Any, broker: Any, registry_url: str
) -> None:
    old_box = blank_box("old")
    assert tech("provision", port_of(old_box), "--counter", "17").exit_code == 0
    old_password = json.loads(old_box.flash_read("config.json"))["broker"]["password"]
    assert not refused(broker, "box-017", old_password)

    new_box = blank_box("new")
    # box-017 is in use: a second device may not take its identity (seqs would collide).
    clash = tech("provision", port_of(new_box), "--counter", "17")
    assert clash.exit_code == 1
    assert "already in use" in clash.output and "replace --counter 17" in clash.output
    assert "/config.json" not in new_box.flash_ls()

    before = time.time()
    result = tech("replace", port_of(new_box), "--counter", "17")
    assert result.exit_code == 0, result.output
    assert "box-017-2 is online at counter 17 replacing box-017" in result.output

    assert refused(broker, "box-017", old_password)
    accounts = list_accounts(broker.broker.broker_dir)
    assert "box-017" not in accounts and {"box-017-2", "collector"} <= set(accounts)

    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        rows = session.exec(select(CounterBox).join(Counter).where(Counter.code == "17")).all()
    engine.dispose()
    by_box = {row.box: row for row in rows}
    assert set(by_box) == {"box-017", "box-017-2"}
    switch = by_box["box-017-2"].valid_from
    assert by_box["box-017"].valid_to == switch and by_box["box-017-2"].valid_to is None
    assert before - 1 <= switch.timestamp() <= time.time()


def test_a_replaced_box_shows_as_retired_and_stays_retired(
    tech: Any, blank_box: Any, broker: Any, collector_process: Any, wait_for: Any, registry_url: str
) -> None:
    collector = collector_process(registry=None)  # the registry is in the database already (registry_url)

    def device(box: str) -> dict[str, Any] | None:
        items = collector.get("/api/v1/devices/status").json()["items"]
        return next((item for item in items if item["box"] == box), None)

    old_box = blank_box("old")
    assert tech("provision", port_of(old_box), "--counter", "17").exit_code == 0
    wait_for(lambda: (device("box-017") or {}).get("status") == "online", timeout=20, what="box-017 online")

    result = tech("replace", port_of(blank_box("new")), "--counter", "17")
    assert result.exit_code == 0, result.output
    # The broker's retained presence no longer says the old box is up ...
    assert presence_of(broker, "box-017")["state"] == "offline"
    # ... and the collector shows it retired: not online, not offline, not silent.
    wait_for(lambda: (device("box-017") or {}).get("status") == "retired", timeout=20, what="box-017 retired")
    status = collector.get("/api/v1/devices/status").json()
    assert "box-017" not in status["silent"] and status["retired"] == 1
    assert device("box-017")["retired_at"] is not None  # type: ignore[index]
    wait_for(lambda: (device("box-017-2") or {}).get("status") == "online", timeout=20, what="box-017-2 online")

    # A retained "online" presence of the retired box (what an old box left behind) does not bring it back.
    seen_before = device("box-017")["last_seen"]  # type: ignore[index]
    client = broker.client("box-017", broker.add_box("box-017", "leftover-password"))
    broker.publish(client, "rating/box-017/presence",
                   {"v": 1, "box": "box-017", "counter": "17", "state": "online", "boot": 9, "fw": "0.1.0"})
    wait_for(lambda: device("box-017")["last_seen"] != seen_before, timeout=20,  # type: ignore[index]
             what="the collector to store the presence")
    assert device("box-017")["status"] == "retired" and device("box-017")["online"] is False  # type: ignore[index]
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        row = session.get(Device, "box-017")
    engine.dispose()
    assert row is not None and row.retired_at is not None and row.online is False  # the devices table itself
