"""Data that should be doubted is not stored as true (issue 16): a press timed in the future or before
its box was commissioned, a press on a scale its counter does not use, a repeat of a stored key with
other content. Each is rejected with its reason and recorded (payload kept), acked, and confirmed to
its box; the figures do not move."""

from __future__ import annotations

import json
import threading
from collections import Counter as Tally
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from collector.clock import utc_ms, utc_now, zone
from collector.db import session_scope
from collector.messages import FUTURE_LIMIT, Inbound, check
from collector.models import Press, RejectedMessage, RejectionCount, RollupDay
from collector.registry import load_registry
from collector.store import store_batch
from tests.helpers.presses import press_payload
from tests.helpers.registry import TEST_REGISTRY
from tests.helpers.streams import Db

TZ = "Asia/Ho_Chi_Minh"
COMMISSIONED = datetime(2026, 6, 1, tzinfo=UTC) - timedelta(hours=7)  # "from": "2026-06-01", local midnight
# box-021 is commissioned at counter 17 on 1 June 2026; box-017 (no `from`) holds its counter since forever.
REGISTRY = {**TEST_REGISTRY, "boxes": [*TEST_REGISTRY["boxes"], {"box": "box-021", "counter": "17",
                                                                  "from": "2026-06-01"}]}


@pytest.fixture
def registered(engine: Any, tmp_path: Path) -> Any:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(REGISTRY))
    with session_scope(engine) as session:
        load_registry(session, path, TZ)
    return engine


def inbound(payload: dict[str, Any], received_at: datetime) -> Inbound:
    return Inbound(f"rating/{payload['box']}/press", json.dumps(payload).encode(), received_at, mid=1, qos=1)


def store(engine: Any, *messages: Inbound) -> Any:
    with session_scope(engine) as session:
        return store_batch(session, [check(m) for m in messages], TZ)


def stored(engine: Any) -> dict[tuple[str, int], Press]:
    with Session(engine) as session:
        return {(p.box, p.seq): p for p in session.exec(select(Press)).all()}


def rejected(engine: Any) -> list[tuple[str, str, bytes, str]]:
    with Session(engine) as session:
        return sorted((r.box, r.reason, r.payload, r.detail) for r in session.exec(select(RejectedMessage)).all())


def rolled_up(engine: Any) -> int:
    with Session(engine) as session:
        return sum(r.level0 + r.level1 + r.level2 + r.level3 for r in session.exec(select(RollupDay)).all())


# --- time ------------------------------------------------------------------------------------------


def test_a_press_timed_beyond_the_future_limit_is_rejected_and_one_within_it_stored(registered: Any) -> None:
    assert FUTURE_LIMIT == timedelta(minutes=15)
    received = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    ahead = {
        1: timedelta(minutes=10),  # a box's clock a little ahead of the collector's: stored
        2: FUTURE_LIMIT,  # at the limit: stored
        3: FUTURE_LIMIT + timedelta(milliseconds=1),
        4: timedelta(hours=7),  # a local time sent as UTC
        5: timedelta(days=365 * 20),
    }
    payloads = {seq: press_payload(seq=seq, t=utc_ms(received + delta)) for seq, delta in ahead.items()}
    result = store(registered, *(inbound(p, received) for p in payloads.values()))
    assert (result.stored, result.rejected) == (2, Tally({"time_in_future": 3}))
    assert sorted(stored(registered)) == [("box-017", 1), ("box-017", 2)]
    assert rolled_up(registered) == 2
    rows = rejected(registered)
    assert [payload for *_, payload, _ in rows] == sorted(json.dumps(payloads[s]).encode() for s in (3, 4, 5))
    assert all(box == "box-017" and reason == "time_in_future" and "after it was received" in detail
               for box, reason, _, detail in rows)
    # A press without a clock is timed at its reception: never in the future.
    assert store(registered, inbound(press_payload(seq=6, t=None, clock="none"), received)).stored == 1


def test_a_press_timed_before_its_box_was_commissioned_is_rejected(registered: Any) -> None:
    received = utc_now()
    before = press_payload("box-021", seq=1, t=utc_ms(COMMISSIONED - timedelta(days=400)))
    just_before = press_payload("box-021", seq=2, t=utc_ms(COMMISSIONED - timedelta(milliseconds=1)))
    after = press_payload("box-021", seq=3, t=utc_ms(COMMISSIONED + timedelta(days=1)))
    # A box whose assignment has no `from` holds its counter since forever: nothing to doubt by time.
    old = press_payload(seq=1, t=utc_ms(datetime(2018, 1, 2, 3, tzinfo=UTC)))
    result = store(registered, *(inbound(p, received) for p in (before, just_before, after, old)))
    assert (result.stored, result.rejected) == (2, Tally({"time_before_commissioning": 2}))
    assert sorted(stored(registered)) == [("box-017", 1), ("box-021", 3)]
    rows = rejected(registered)
    assert [(box, reason) for box, reason, *_ in rows] == [("box-021", "time_before_commissioning")] * 2
    assert all("2026-05-31T17:00:00+00:00" in detail for *_, detail in rows)
    with Session(registered) as session:
        (count,) = session.exec(select(RejectionCount)).all()
    assert (count.box, count.reason, count.count) == ("box-021", "time_before_commissioning", 2)


# --- through the running collector -----------------------------------------------------------------


def listen(client: Any, box: str) -> list[int]:
    """The seqs the collector confirms to `box`, as they come."""
    confirmed: list[int] = []
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, message: confirmed.extend(json.loads(message.payload)["stored"])
    client.subscribe(f"rating/{box}/cmd", qos=1)
    assert subscribed.wait(10)
    return confirmed


def test_doubted_presses_are_recorded_acked_and_confirmed_by_the_collector(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    collector = collector_process(db_url=db_url, registry=REGISTRY)
    clients = {box: broker.client(box, broker.add_box(box)) for box in ("box-017", "box-021")}
    confirmed = {box: listen(client, box) for box, client in clients.items()}
    future = utc_ms(utc_now() + timedelta(hours=2))
    sent = {
        ("box-017", 1): press_payload(seq=1),
        ("box-017", 2): press_payload(seq=2, t=future),  # time_in_future
        ("box-021", 1): press_payload("box-021", seq=1, t=utc_ms(COMMISSIONED - timedelta(days=1))),
        ("box-021", 2): press_payload("box-021", seq=2),
    }
    for (box, _), body in sent.items():
        broker.publish(clients[box], f"rating/{box}/press", body)
    db = Db(db_url)
    wait_for(lambda: db.presses() == 2 and sum(db.rejected().values()) == 2, timeout=20,
             what="2 presses stored and 2 rejected")
    assert db.rejected() == {"time_in_future": 1, "time_before_commissioning": 1}
    assert set(db.keys()) == {("box-017", 1), ("box-021", 2)}
    wait_for(lambda: sorted(confirmed["box-017"]) == [1, 2] and sorted(confirmed["box-021"]) == [1, 2],
             timeout=15, what="all four presses confirmed to their boxes")
    metrics = collector.get("/metrics").text
    assert 'rating_messages_rejected_total{reason="time_in_future"} 1.0' in metrics
    assert 'rating_rejections_recorded{box="box-021",reason="time_before_commissioning"} 1.0' in metrics
    assert collector.get("/api/v1/counters/17/satisfaction").json()["total"] == 2
    # Acked too: a restarted collector gets nothing again.
    assert collector.stop() == 0
    again = collector_process(db_url=db_url, registry=None)
    clients["box-017"].publish("rating/box-017/press", json.dumps(press_payload(seq=3)), qos=1)
    wait_for(lambda: db.presses() == 3, timeout=20, what="a new press after the restart")
    assert again.metric("rating_messages_received_total") == 1
    assert again.stop() == 0
    db.close()


# --- scale -----------------------------------------------------------------------------------------


def test_a_press_on_a_scale_its_counter_does_not_use_is_rejected(registered: Any) -> None:
    received = utc_now()
    result = store(registered, inbound(press_payload(seq=1, level=1), received),
                   inbound(press_payload(seq=2, scale="vn3", level=2), received),  # counter 17 is sat2
                   inbound(press_payload("box-018", seq=1, counter="18", scale="sat2", level=1), received),  # 18: vn3
                   inbound(press_payload("box-018", seq=2, counter="18", scale="vn3", level=2), received))
    assert (result.stored, result.rejected) == (2, Tally({"scale_mismatch": 2}))
    assert sorted(stored(registered)) == [("box-017", 1), ("box-018", 2)]
    rows = rejected(registered)
    assert [(box, reason) for box, reason, *_ in rows] == [("box-017", "scale_mismatch"), ("box-018", "scale_mismatch")]
    assert "'vn3'" in rows[0][3] and "'sat2'" in rows[0][3]
    with Session(registered) as session:
        assert {(r.counter, r.scale) for r in session.exec(select(RollupDay)).all()} == {("17", "sat2"), ("18", "vn3")}


def test_a_vn3_press_on_a_sat2_counter_adds_no_column_to_its_figures(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    # Every counter on sat2: the report's columns are then those of sat2 alone.
    sat2_only = {**REGISTRY, "counters": [{**c, "scale": "sat2"} for c in REGISTRY["counters"]]}
    collector = collector_process(db_url=db_url, registry=sat2_only)
    box = broker.client("box-017", broker.add_box("box-017"))
    confirmed = listen(box, "box-017")
    for body in (press_payload(seq=1, level=1), press_payload(seq=2, level=0),
                 press_payload(seq=3, scale="vn3", level=2)):
        broker.publish(box, "rating/box-017/press", body)
    db = Db(db_url)
    wait_for(lambda: sorted(confirmed) == [1, 2, 3], timeout=20, what="all three committed and confirmed")
    today = utc_now().astimezone(zone(TZ)).date()
    counter = collector.get("/api/v1/counters/17/satisfaction", **{"from": str(today), "to": str(today)}).json()
    assert [level["key"] for level in counter["levels"]] == ["unsatisfied", "satisfied"]
    assert (counter["total"], counter["satisfied"]) == (2, 1)
    every = collector.get("/api/v1/satisfaction", group="counter", **{"from": str(today), "to": str(today)}).json()
    assert sorted(level["key"] for level in every["levels"]) == ["satisfied", "unsatisfied"]
    assert every["total"] == 2
    report = collector.get(f"/api/v1/reports/{today:%Y-%m}", format="csv", lang="en")
    assert report.status_code == 200
    assert "Satisfied" in report.text and "Very satisfied" not in report.text
    assert (db.presses(), db.rejected()) == (2, {"scale_mismatch": 1})
    assert collector.stop() == 0
    db.close()


# --- a repeated key with other content ---------------------------------------------------------------


def test_a_repeat_with_other_content_is_recorded_as_a_conflict_and_the_first_copy_kept(registered: Any) -> None:
    received = utc_now()
    t = utc_ms(received - timedelta(minutes=5))
    first = {seq: press_payload(seq=seq, t=t, level=1) for seq in range(1, 9)}
    assert store(registered, *(inbound(p, received) for p in first.values())).stored == 8
    later = received + timedelta(minutes=30)
    repeats = {
        # the same press sent again, as a box does: silent duplicates
        1: first[1],
        2: {**first[2], "t": t + 1500, "clock": "ntp"},  # timed again from a refined anchor, within 2 s
        3: {**first[3], "fw": "0.2.0"},  # sent again after a firmware update
        # not the same press: conflicts
        4: {**first[4], "level": 0},
        5: {**first[5], "t": t + 2001},
        6: {**first[6], "flags": ["test"]},
        7: {**first[7], "up": first[7]["up"] + 1},
    }
    result = store(registered, *(inbound(p, later) for p in repeats.values()))
    assert (result.stored, result.duplicates, result.rejected) == (0, 3, Tally({"duplicate_conflict": 4}))
    # A key twice in one batch: the first copy stored, the second (another level) a conflict.
    batch = store(registered, inbound(press_payload(seq=20, t=t, level=1), later),
                  inbound(press_payload(seq=20, t=t, level=0), later),
                  inbound(press_payload(seq=21, t=t), later), inbound(press_payload(seq=21, t=t), later))
    assert (batch.stored, batch.duplicates, batch.rejected) == (2, 1, Tally({"duplicate_conflict": 1}))

    rows = stored(registered)
    assert all(rows[("box-017", seq)].level == 1 for seq in (4, 20))  # the first copy kept
    assert rows[("box-017", 5)].pressed_at == datetime.fromtimestamp(t / 1000, UTC)
    assert not rows[("box-017", 6)].test
    assert rolled_up(registered) == 10
    conflicts = [r for r in rejected(registered) if r[1] == "duplicate_conflict"]
    kept = sorted(json.dumps(repeats[seq]).encode() for seq in (4, 5, 6, 7))
    assert sorted(payload for _, _, payload, _ in conflicts) == sorted([*kept, json.dumps(
        press_payload(seq=20, t=t, level=0)).encode()])
    details = " | ".join(detail for *_, detail in conflicts)
    assert "level 1 -> 0" in details and "test False -> True" in details and "pressed_at" in details


def test_a_conflicting_repeat_is_counted_in_the_metrics_and_confirmed(
    broker: Any, collector_process: Any, wait_for: Any, db_url: str
) -> None:
    collector = collector_process(db_url=db_url)
    box = broker.client("box-017", broker.add_box("box-017"))
    confirmed = listen(box, "box-017")
    press = press_payload(seq=1, level=1)
    for body in (press, press, {**press, "level": 0}):
        broker.publish(box, "rating/box-017/press", body)
    wait_for(lambda: sorted(confirmed) == [1, 1, 1], timeout=20, what="every copy confirmed")
    db = Db(db_url)
    assert db.presses() == 1 and db.rejected() == {"duplicate_conflict": 1}
    metrics = collector.get("/metrics").text
    assert "rating_presses_duplicate_total 1.0" in metrics
    assert 'rating_messages_rejected_total{reason="duplicate_conflict"} 1.0' in metrics
    assert 'rating_rejections_recorded{box="box-017",reason="duplicate_conflict"} 1.0' in metrics
    body = collector.get("/api/v1/counters/17/satisfaction").json()
    assert (body["total"], body["satisfied"]) == (1, 1)
    assert collector.stop() == 0
    db.close()
