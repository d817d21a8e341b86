"""The collector as it runs: a real Mosquitto, `python -m collector serve` in a subprocess."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from sqlmodel import Session, func, select

from collector.db import make_engine
from collector.models import Press, RejectedMessage
from schemas.contract import schema_errors


def count(url: str, model: Any) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(model)).one()
    finally:
        engine.dispose()


def test_presses_flow_in_once_and_bad_ones_are_rejected(broker: Any, collector_process: Any, make_press: Any,
                                                        wait_for: Any) -> None:
    collector = collector_process()
    box = broker.client("box-017", broker.add_box("box-017"))
    for seq in (1, 2, 3, 2, 1):  # redeliveries of 1 and 2
        broker.publish(box, "rating/box-017/press", make_press(seq=seq, level=seq % 2))
    broker.publish(box, "rating/box-017/press", b"not json")
    broker.publish(box, "rating/box-017/press", make_press(seq=4, counter="18"))
    broker.publish(box, "rating/box-017/press", make_press(seq=5))
    wait_for(lambda: collector.metric("rating_presses_stored_total") == 4, what="4 presses stored")
    wait_for(lambda: collector.metric("rating_messages_rejected_total") == 2, what="2 rejections")
    assert collector.metric("rating_presses_duplicate_total") == 2
    assert count(collector.db_url, Press) == 4
    body = collector.get("/api/v1/counters/17/satisfaction").json()
    assert body["total"] == 4 and body["satisfied"] == 3
    assert collector.stop() == 0


def test_a_press_taken_but_not_committed_is_redelivered_after_a_crash(
    broker: Any, collector_process: Any, make_press: Any, wait_for: Any, sqlite_url: str
) -> None:
    collector = collector_process(db_url=sqlite_url)
    box = broker.client("box-017", broker.add_box("box-017"))
    collector.token()  # made now: a token is a write, and the database is about to be locked
    # Hold the database's write lock: the collector receives the press but cannot commit it.
    lock = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        broker.publish(box, "rating/box-017/press", make_press(seq=42))
        wait_for(lambda: collector.metric("rating_db_retries_total") >= 1, timeout=20, what="a failed commit")
        collector.kill()  # crash before any commit: nothing was acked
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert count(sqlite_url, Press) == 0
    restarted = collector_process(db_url=sqlite_url, registry=None)
    wait_for(lambda: count(sqlite_url, Press) == 1, what="the redelivered press")
    wait_for(lambda: restarted.metric("rating_messages_received_total") >= 1)
    assert restarted.stop() == 0


def test_presses_sent_while_the_collector_is_down_arrive_after_it_returns(
    broker: Any, collector_process: Any, make_press: Any, wait_for: Any, db_url: str
) -> None:
    collector = collector_process(db_url=db_url)
    assert collector.stop() == 0  # its persistent session stays with the broker
    box = broker.client("box-018", broker.add_box("box-018"))
    sent = {seq: make_press(box="box-018", seq=seq, scale="vn3", level=seq % 3) for seq in range(1, 201)}
    for body in sent.values():
        broker.publish(box, "rating/box-018/press", body, qos=1)
    back = collector_process(db_url=db_url, registry=None)
    wait_for(lambda: count(db_url, Press) == 200, timeout=30, what="200 presses after the restart")
    for seq in range(1, 51):  # a box that lost its acks sends the same presses again
        broker.publish(box, "rating/box-018/press", sent[seq])
    wait_for(lambda: back.metric("rating_presses_duplicate_total") == 50, what="50 duplicates")
    assert count(db_url, Press) == 200
    assert back.get("/api/v1/counters/18/satisfaction").json()["total"] == 200
    assert count(db_url, RejectedMessage) == 0


def test_clock_beacon_and_device_status(broker: Any, collector_process: Any, wait_for: Any) -> None:
    collector = collector_process(clock_beacon_s=0.2)
    box = broker.client("box-017", broker.add_box("box-017"))
    beacons: list[dict[str, Any]] = []
    got = threading.Event()

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        beacons.append(json.loads(message.payload))
        got.set()

    box.on_message = on_message
    box.subscribe("rating/clock", qos=0)
    assert got.wait(10), "no clock beacon within 10 s"
    assert schema_errors("clock", beacons[0]) == []
    status = {"v": 1, "box": "box-017", "counter": "17", "boot": 3, "up": 5000, "fw": "0.1.0", "reset": "watchdog",
              "rssi": -70, "heap_free": 60000, "outbox": 2, "presses": 9, "clock": "sync", "err": "mqtt timeout"}
    broker.publish(box, "rating/box-017/status", status, qos=0)
    devices = wait_for(lambda: collector.get("/api/v1/devices").json(), what="a device row")
    assert devices[0]["box"] == "box-017" and devices[0]["online"] and devices[0]["outbox"] == 2
    assert devices[0]["last_error"] == "mqtt timeout"


def test_each_committed_press_is_confirmed_to_its_box(broker: Any, collector_process: Any, make_press: Any,
                                                      wait_for: Any) -> None:
    """After the commit, the collector tells the box which presses it has (stored, duplicates, and
    ones recorded as rejected), on the box's own command topic, so the box can let them go."""
    collector_process()
    box = broker.client("box-017", broker.add_box("box-017"))
    confirmed: list[dict[str, Any]] = []
    subscribed = threading.Event()
    box.on_subscribe = lambda *_: subscribed.set()
    box.on_message = lambda _c, _u, message: confirmed.append(json.loads(message.payload))
    box.subscribe("rating/box-017/cmd", qos=1)
    assert subscribed.wait(10)
    for seq in (1, 2, 1):
        broker.publish(box, "rating/box-017/press", make_press(seq=seq))
    broker.publish(box, "rating/box-017/press", make_press(seq=3, counter="18"))  # not its counter: rejected
    wait_for(lambda: sorted(s for m in confirmed for s in m["stored"]) == [1, 1, 2, 3], what="confirmations")
    assert all(schema_errors("stored", message) == [] for message in confirmed)


def test_a_press_the_check_rejects_is_still_confirmed_to_its_box(broker: Any, collector_process: Any,
                                                                 make_press: Any, wait_for: Any) -> None:
    """A box keeps a press in flash until the collector confirms it: a press the check rejects (schema,
    topic, level) is recorded, acked and confirmed too, or the box would send it again forever."""
    collector = collector_process()
    box = broker.client("box-017", broker.add_box("box-017"))
    confirmed: list[int] = []
    subscribed = threading.Event()
    box.on_subscribe = lambda *_: subscribed.set()
    box.on_message = lambda _c, _u, message: confirmed.extend(json.loads(message.payload)["stored"])
    box.subscribe("rating/box-017/cmd", qos=1)
    assert subscribed.wait(10)
    rejected = {
        2: make_press(seq=2, level="1"),  # schema: a string level
        3: make_press(seq=3, level=2),  # level_out_of_scale: sat2 has 2 levels
        4: make_press(seq=4, box="box-018", counter="18", scale="vn3"),  # topic_mismatch
        5: {k: v for k, v in make_press(seq=5).items() if k != "fw"},  # schema: a field missing
    }
    broker.publish(box, "rating/box-017/press", make_press(seq=1))
    for body in rejected.values():
        broker.publish(box, "rating/box-017/press", body)
    broker.publish(box, "rating/box-017/press", b"not json")  # no seq to confirm
    broker.publish(box, "rating/box-017/press", make_press(seq=6))
    wait_for(lambda: collector.metric("rating_messages_rejected_total") == len(rejected) + 1, what="5 rejections")
    wait_for(lambda: sorted(confirmed) == [1, 2, 3, 4, 5, 6], timeout=15, what="every press with a seq confirmed")
    assert count(collector.db_url, Press) == 2
    assert count(collector.db_url, RejectedMessage) == len(rejected) + 1
