"""Rejections are recorded once and bounded: a retained message the broker sends again at every
subscribe, and a flood of garbage. The real broker, the collector as a process."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from collector.db import make_engine
from tests.helpers.presses import press_payload
from tests.helpers.streams import Db


def received(collector: Any, kind: str) -> float:
    sample = f'rating_messages_received_total{{kind="{kind}"}} '
    return sum(float(line.removeprefix(sample)) for line in collector.get("/metrics").text.splitlines()
               if line.startswith(sample))


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def settled(collector: Any, wait_for: Any, kind: str, at_least: int) -> None:
    """Wait until the collector has taken `at_least` messages of `kind` and committed all it took
    (the queue depth is set after each commit; it was non-zero while the message was in hand)."""
    wait_for(lambda: received(collector, kind) >= at_least, timeout=30, what=f"{at_least} {kind} received")
    wait_for(lambda: collector.metric("rating_queue_depth") == 0, timeout=30, what="queue drained")


def test_a_retained_status_is_recorded_once_across_resubscribes(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    collector = collector_process(db_url=db_url)
    box = broker.client("box-017", broker.add_box("box-017"))
    garbage = json.dumps({"v": 1, "box": "box-017", "heap_free": "lots"})
    box.publish("rating/box-017/status", garbage, qos=1, retain=True).wait_for_publish(10)
    db = Db(db_url)
    wait_for(lambda: db.rejected() == {"schema": 1}, timeout=30, what="the retained status rejected")
    for _ in range(2):  # each new collector subscribes again, and the broker sends the retained status
        assert collector.stop() == 0
        collector = collector_process(db_url=db_url, registry=None)
        settled(collector, wait_for, "invalid", 1)
        assert db.rejected() == {"schema": 1}
        assert db.scalar("SELECT count FROM rejection_count WHERE box = 'box-017' AND reason = 'schema'") == 1
        assert 'rating_rejections_recorded{box="box-017",reason="schema"} 1.0' in collector.get("/metrics").text
    # A new garbage payload on the topic is recorded (once, too).
    box.publish("rating/box-017/status", garbage.replace("lots", "more"), qos=1, retain=True).wait_for_publish(10)
    wait_for(lambda: db.rejected() == {"schema": 2}, timeout=30, what="the new retained status rejected")
    assert collector.stop() == 0
    collector = collector_process(db_url=db_url, registry=None)
    settled(collector, wait_for, "invalid", 1)
    assert db.rejected() == {"schema": 2}
    assert collector.stop() == 0
    db.close()


def test_a_flood_of_garbage_leaves_bounded_copies_and_exact_counts(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    kept = 20
    collector = collector_process(db_url=db_url, rejected_kept=kept)
    flooder = broker.client("box-017", broker.add_box("box-017"))
    other = broker.client("box-018", broker.add_box("box-018"))
    flood = 1500
    sent = [flooder.publish("rating/box-017/press", b"garbage %d" % n, qos=1) for n in range(flood)]
    sent += [other.publish("rating/box-018/press", json.dumps(press_payload("box-018", seq=n, level="x")), qos=1)
             for n in range(1, 6)]
    for info in sent:
        info.wait_for_publish(30)
    broker.publish(other, "rating/box-018/press", press_payload("box-018", seq=9, counter="18", scale="vn3", level=2))
    db = Db(db_url)
    counted = "SELECT box, reason, count FROM rejection_count ORDER BY box, reason"
    wait_for(lambda: rows(db_url, counted) == [("box-017", "not_json", flood), ("box-018", "schema", 5)],
             timeout=120, what="every rejection counted")
    wait_for(lambda: db.presses() == 1, timeout=30, what="the good press in the flood stored")
    copies = rows(db_url, "SELECT box, reason, count(*) FROM rejected_message GROUP BY box, reason ORDER BY box, reason")
    assert copies == [("box-017", "not_json", kept), ("box-018", "schema", 5)]
    # the newest are the ones kept
    payloads = {bytes(r[0]) for r in rows(db_url, "SELECT payload FROM rejected_message WHERE box = 'box-017'")}
    assert payloads == {b"garbage %d" % n for n in range(flood - kept, flood)}
    metrics = collector.get("/metrics").text
    assert f'rating_rejections_recorded{{box="box-017",reason="not_json"}} {float(flood)}' in metrics
    assert 'rating_rejections_recorded{box="box-018",reason="schema"} 5.0' in metrics
    # The counts outlive the process: the next one shows them from the start.
    assert collector.stop() == 0
    again = collector_process(db_url=db_url, registry=None)
    assert f'rating_rejections_recorded{{box="box-017",reason="not_json"}} {float(flood)}' in again.get("/metrics").text
    assert again.stop() == 0
    db.close()
