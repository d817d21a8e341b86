"""One message the store cannot take is rejected alone; everything else flows. Only a database that
cannot commit pauses ingest, and /healthz says so. The real broker, the collector as a process."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

import psycopg

from collector.db import make_engine
from tests.helpers.presses import press_payload
from tests.helpers.registry import TEST_REGISTRY
from tests.helpers.streams import Db

# box-019 shares counter 17 with box-017; box-020 is at counter 18.
REGISTRY = {**TEST_REGISTRY, "boxes": [*TEST_REGISTRY["boxes"], {"box": "box-019", "counter": "17"},
                                       {"box": "box-020", "counter": "18"}]}
REFUSED_SEQ = 13  # the database itself refuses box-019's press with this seq (a trigger)


def refuse_one_press(url: str) -> None:
    """A failure the message check cannot see: the database refuses one row."""
    engine = make_engine(url)
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_one BEFORE INSERT ON press WHEN NEW.box = 'box-019' AND NEW.seq = {REFUSED_SEQ} "
                "BEGIN SELECT RAISE(ABORT, 'this row is refused'); END")
            # and a registry value the store cannot read (a non-SQLAlchemy ValueError) for box-020
            connection.exec_driver_sql("UPDATE counter_box SET valid_to = 'not a time' WHERE box = 'box-020'")
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.box = 'box-019' AND NEW.seq = {REFUSED_SEQ} THEN RAISE EXCEPTION 'this row is refused'; "
                "END IF; RETURN NEW; END $$")
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON press FOR EACH ROW EXECUTE FUNCTION refuse_one()")
    engine.dispose()


def listen(client: Any, box: str) -> list[int]:
    """The seqs the collector confirms to `box` (on its command topic), as they come."""
    confirmed: list[int] = []
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, message: confirmed.extend(json.loads(message.payload)["stored"])
    client.subscribe(f"rating/{box}/cmd", qos=1)
    assert subscribed.wait(10)
    return confirmed


def test_a_poison_message_is_rejected_alone_and_the_fleet_flows_on_also_after_a_restart(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    on_sqlite = db_url.startswith("sqlite")
    first = collector_process(db_url=db_url, registry=REGISTRY)
    assert first.stop() == 0  # its persistent session queues what follows for the next one
    refuse_one_press(db_url)
    boxes = ("box-017", "box-018", "box-019", "box-020")
    clients = {box: broker.client(box, broker.add_box(box)) for box in boxes}
    confirmed = {box: listen(clients[box], box) for box in boxes}

    poison = {
        ("box-019", REFUSED_SEQ): press_payload("box-019", seq=REFUSED_SEQ),
        # Schema-valid as the check stands, and the store raised TypeError on it (a float level).
        ("box-019", 14): press_payload("box-019", seq=14, level=1.0),
    }
    if on_sqlite:
        poison[("box-020", 1)] = press_payload("box-020", seq=1, counter="18", scale="vn3", level=2)
    good = {("box-017", seq): press_payload("box-017", seq=seq, level=seq % 2) for seq in range(1, 101)}
    good |= {("box-018", seq): press_payload("box-018", seq=seq, counter="18", scale="vn3", level=seq % 3)
             for seq in range(1, 101)}
    good[("box-019", 12)] = press_payload("box-019", seq=12)
    stream = list(good.items())
    for at, (key, body) in zip((30, 60, 90), poison.items(), strict=False):
        stream.insert(at, (key, body))
    sent = [clients[box].publish(f"rating/{box}/press", json.dumps(body), qos=1) for (box, _), body in stream]
    for info in sent:
        info.wait_for_publish(10)

    # The restarted collector finds the poison waiting in its session among 200 good presses.
    collector = collector_process(db_url=db_url, registry=None)
    db = Db(db_url)
    wait_for(lambda: db.keys().keys() == good.keys() and sum(db.rejected().values()) == len(poison), timeout=60,
             what=f"{len(good)} presses stored and {len(poison)} rejected")
    rejected = db.scalar("SELECT count(*) FROM rejected_message WHERE reason = 'store_error'")
    assert rejected >= len(poison) - 1  # the float level may be refused by the check instead, as "schema"
    assert db.scalar("SELECT count(*) FROM rejected_message WHERE detail LIKE '%this row is refused%'") == 1
    assert db.rollup_mismatches() == []
    # The press the database refused is confirmed to its box (recorded as rejected, it must not be
    # resent forever).
    wait_for(lambda: REFUSED_SEQ in confirmed["box-019"], timeout=30, what="the refused press confirmed")

    # All of it was acked: the next collector gets only what is new.
    assert collector.stop() == 0
    again = collector_process(db_url=db_url, registry=None)
    clients["box-017"].publish("rating/box-017/press", json.dumps(press_payload("box-017", seq=101)), qos=1)
    wait_for(lambda: db.keys().get(("box-017", 101)), timeout=30, what="a new press after the restart")
    assert again.metric("rating_messages_received_total") == 1
    assert again.stop() == 0
    db.close()


def hold_the_write_lock(url: str) -> Any:
    """A database that answers (ping, reads) but takes no write; returns the release."""
    lock: Any
    if url.startswith("sqlite"):
        lock = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
    else:
        lock = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        lock.execute("LOCK TABLE press IN EXCLUSIVE MODE")  # reads go on; the collector's insert waits

    def release() -> None:
        lock.rollback() if not url.startswith("sqlite") else lock.execute("ROLLBACK")
        lock.close()

    return release


def test_healthz_is_degraded_while_messages_wait_and_nothing_commits(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    collector = collector_process(db_url=db_url, ingest_stall_s=1)
    box = broker.client("box-017", broker.add_box("box-017"))
    collector.token()  # made now: a token is a write
    assert collector.get("/healthz", role=None).json()["status"] == "ok"
    db = Db(db_url)
    release = hold_the_write_lock(db_url)
    try:
        broker.publish(box, "rating/box-017/press", press_payload(seq=1))
        health = wait_for(lambda: (r := collector.get("/healthz", role=None)).status_code == 503 and r.json(),
                          timeout=30, what="/healthz degraded")
        assert health["status"] == "degraded" and health["db"] and health["mqtt"] and not health["ingest"]
        assert health["stalled_s"] >= 1
        assert collector.metric("rating_ingest_stalled_seconds") > 1
        assert db.presses() == 0
    finally:
        release()
    wait_for(lambda: db.presses() == 1, timeout=30, what="the press stored once the lock is gone")
    wait_for(lambda: collector.get("/healthz", role=None).status_code == 200, timeout=10, what="/healthz ok again")
    assert collector.metric("rating_ingest_stalled_seconds") == 0
    assert db.rejected() == {}  # waiting for the database is not a reason to reject
    assert collector.stop() == 0
    db.close()
