"""Bad input, a database that goes away, and the metrics that tell about both."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.helpers.postgres import new_pg_database
from tests.helpers.presses import press_payload
from tests.helpers.streams import Db, Publisher, assert_exactly_once, expected_keys, make_stream

# (description, box account that publishes, topic, payload, reason it is rejected with)
BAD_INPUT: list[tuple[str, str, str, bytes, str]] = [
    ("not JSON", "box-017", "rating/box-017/press", b"{not json", "not_json"),
    ("invalid UTF-8", "box-017", "rating/box-017/press", b'{"v":1,"box":"\xff\xfe"}', "not_json"),
    ("nested 2,000 deep", "box-017", "rating/box-017/press", b"[" * 2000 + b"]" * 2000, "not_json"),
    ("schema: level missing", "box-017", "rating/box-017/press",
     json.dumps({k: v for k, v in press_payload(seq=900).items() if k != "level"}).encode(), "schema"),
    ("schema: wrong type", "box-017", "rating/box-017/press", json.dumps(press_payload(seq=901, level="1")).encode(), "schema"),
    ("schema: huge number", "box-017", "rating/box-017/press", json.dumps(press_payload(seq=906, up=10**30)).encode(),
     "schema"),
    ("schema: a status without its fields", "box-017", "rating/box-017/status", b'{"v":1,"box":"box-017"}', "schema"),
    ("over 4 KB", "box-017", "rating/box-017/press",
     json.dumps(press_payload(seq=902, fw="x" * 5000)).encode(), "too_large"),
    ("topic/payload mismatch", "box-017", "rating/box-017/press",
     json.dumps(press_payload(box="box-018", seq=903, scale="vn3", level=0)).encode(), "topic_mismatch"),
    ("unknown box", "box-099", "rating/box-099/press", json.dumps(press_payload(box="box-099", seq=1)).encode(),
     "unknown_box"),
    ("counter not assigned to the box", "box-017", "rating/box-017/press",
     json.dumps(press_payload(seq=904, counter="18")).encode(), "box_not_at_counter"),
    ("level beyond the scale", "box-017", "rating/box-017/press", json.dumps(press_payload(seq=905, level=3)).encode(),
     "level_out_of_scale"),
]


def test_every_bad_input_class_is_rejected_recorded_and_acked_while_valid_presses_flow(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    collector = collector_process(db_url=db_url)
    clients = {box: broker.client(box, broker.add_box(box)) for box in ("box-017", "box-099")}
    valid = 0
    for _description, box, topic, payload, _reason in BAD_INPUT:
        valid += 1
        broker.publish(clients["box-017"], "rating/box-017/press", press_payload(seq=valid, level=valid % 2))
        broker.publish(clients[box], topic, payload)
    valid += 1
    broker.publish(clients["box-017"], "rating/box-017/press", press_payload(seq=valid))
    broker.publish(clients["box-017"], "rating/box-017/press", press_payload(seq=valid))  # a duplicate

    db = Db(db_url)
    wait_for(lambda: db.presses() == valid and sum(db.rejected().values()) == len(BAD_INPUT), timeout=20,
             what=f"{valid} presses and {len(BAD_INPUT)} rejections")
    expected: dict[str, int] = {}
    for *_, reason in BAD_INPUT:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(db.rejected()) == expected
    assert db.rollup_mismatches() == []
    # The rejection keeps the (first 1 KB of the) payload and explains itself.
    detail = db.scalar("SELECT detail FROM rejected_message WHERE reason = 'box_not_at_counter'")
    assert "box-017" in detail and "'18'" in detail
    assert db.scalar("SELECT max(payload_size) FROM rejected_message WHERE reason = 'too_large'") > 4096

    # Every rejected message was acked: a restarted collector gets nothing redelivered.
    wait_for(lambda: collector.metric("rating_presses_duplicate_total") == 1, what="the duplicate counted")
    metrics = collector.get("/metrics").text
    for reason, n in expected.items():
        assert f'rating_messages_rejected_total{{reason="{reason}"}} {float(n)}' in metrics
    assert collector.stop() == 0
    again = collector_process(db_url=db_url, registry=None)
    time.sleep(1.5)
    assert again.metric("rating_messages_received_total") == 0
    assert again.stop() == 0
    db.close()


def test_metrics_cover_the_ingest(broker: Any, collector_process: Any, wait_for: Any, sqlite_url: str) -> None:
    collector = collector_process(db_url=sqlite_url)
    box = broker.client("box-017", broker.add_box("box-017"))
    broker.publish(box, "rating/box-017/presence",
                   {"v": 1, "box": "box-017", "counter": "17", "boot": 1, "fw": "0.1.0", "state": "online"})
    for seq in (1, 2, 2):
        broker.publish(box, "rating/box-017/press", press_payload(seq=seq))
    broker.publish(box, "rating/box-017/press", b"nope")
    wait_for(lambda: collector.metric("rating_presses_stored_total") == 2, what="2 stored")
    wait_for(lambda: collector.metric("rating_devices_online") == 1, what="1 device online")
    text = collector.get("/metrics").text
    assert 'rating_messages_received_total{kind="press"} 3.0' in text
    assert 'rating_messages_received_total{kind="presence"} 1.0' in text
    assert 'rating_messages_received_total{kind="invalid"} 1.0' in text
    assert "rating_presses_duplicate_total 1.0" in text
    assert 'rating_messages_rejected_total{reason="not_json"} 1.0' in text
    for family in ("rating_batch_size_bucket", "rating_batch_size_count", "rating_commit_seconds_bucket",
                   "rating_commit_seconds_sum", "rating_queue_depth", "rating_db_retries_total",
                   "rating_mqtt_connected 1.0"):
        assert family in text, family
    assert collector.metric("rating_batch_size_sum") == 5
    assert collector.metric("rating_commit_seconds_count") >= 1
    assert collector.metric("rating_queue_depth") == 0
    broker.publish(box, "rating/box-017/presence",
                   {"v": 1, "box": "box-017", "counter": "17", "boot": 1, "fw": "0.1.0", "state": "offline"})
    wait_for(lambda: collector.metric("rating_devices_online") == 0, what="no device online")


def test_postgresql_going_down_mid_stream_loses_nothing(
    broker: Any, collector_process: Any, wait_for: Any, private_pg_server: Any
) -> None:
    pg = private_pg_server
    url = new_pg_database(pg)
    stream = make_stream(3000, seed=7)
    db = Db(url)
    collector = collector_process(db_url=url)
    publisher = Publisher(broker, {box: broker.add_box(box) for box in ("box-017", "box-018")}, rate=400)
    publisher.start(stream)

    # 1. The server stops; the collector retries the batch in hand, acks nothing, and carries on after.
    wait_for(lambda: (db.presses() or 0) > 300, timeout=30, what="stream under way")
    pg.stop("fast")
    wait_for(lambda: "database unavailable" in collector.log(), timeout=20, what="a failed commit")
    time.sleep(1.5)
    pg.start()
    wait_for(lambda: (db.presses() or 0) > 1500, timeout=40, what="ingest resumed")

    # 2. The server crashes, and the collector is killed while it waits: what it held was not acked.
    pg.stop("immediate")
    marker = collector.log().count("database unavailable")
    wait_for(lambda: collector.log().count("database unavailable") > marker, timeout=20, what="another failed commit")
    collector.kill()
    pg.start()
    collector = collector_process(db_url=url, registry=None)

    publisher.finish()
    wait_for(lambda: (db.presses() or 0) >= len(stream), timeout=60, what=f"{len(stream)} presses stored")
    time.sleep(0.5)
    assert_exactly_once(db, expected_keys(stream))
    assert db.rejected() == {}
    assert collector.stop() == 0
    db.close()
