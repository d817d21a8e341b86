"""Storage, on SQLite and PostgreSQL alike: each key once, rollups equal a recount, every bad input
is kept as a rejection while valid traffic goes on."""

from __future__ import annotations

import json
import random
from collections import Counter as Tally
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from collector.clock import utc_ms, utc_now
from collector.db import session_scope
from collector.messages import Inbound, check
from collector.models import Device, Press, RejectedMessage, RollupDay
from collector.store import store_batch

TZ = "Asia/Ho_Chi_Minh"


def inbound(payload: Any, topic: str | None = None, received_at: datetime | None = None) -> Inbound:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if topic is None:
        topic = f"rating/{payload['box']}/press"
    return Inbound(topic=topic, payload=raw, received_at=received_at or utc_now(), mid=1, qos=1)


def store(engine: Any, *messages: Inbound) -> Any:
    with session_scope(engine) as session:
        return store_batch(session, [check(m) for m in messages], TZ)


def presses(engine: Any) -> list[Press]:
    with Session(engine) as session:
        return list(session.exec(select(Press)).all())


def test_a_key_is_stored_once_whatever_the_redeliveries(registered: Any, make_press: Any) -> None:
    press = make_press(seq=7)
    first = store(registered, inbound(press), inbound(press))
    assert (first.stored, first.duplicates) == (1, 1)
    again = store(registered, inbound(press), inbound(make_press(seq=8)))
    assert (again.stored, again.duplicates) == (1, 1)
    # The same key with another level is not the same press: recorded, not counted as a duplicate.
    other = store(registered, inbound({**press, "level": 0}))
    assert (other.stored, other.duplicates, other.rejected) == (0, 0, Tally({"duplicate_conflict": 1}))
    rows = presses(registered)
    assert sorted(p.seq for p in rows) == [7, 8]
    assert next(p for p in rows if p.seq == 7).level == 1  # the first copy wins
    with Session(registered) as session:
        assert sum(r.level0 + r.level1 + r.level2 + r.level3 for r in session.exec(select(RollupDay)).all()) == 2


def test_rollups_equal_a_recount_of_the_presses(registered: Any, make_press: Any) -> None:
    rng = random.Random(42)
    # Around local midnight (17:00 UTC) so that days are cut in Asia/Ho_Chi_Minh, not UTC.
    base = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    sent = []
    for _ in range(8):
        batch = []
        for _ in range(60):
            box = rng.choice(["box-017", "box-018"])
            scale = "sat2" if box == "box-017" else "vn3"
            t = base + timedelta(minutes=rng.randrange(0, 240))
            flags = rng.choice([[], [], [], ["suppressed"], ["test"], ["suppressed", "test"]])
            payload = make_press(box=box, seq=rng.randrange(1, 150), t=utc_ms(t), scale=scale,
                                 level=rng.randrange(0, 2 if scale == "sat2" else 3), flags=flags)
            batch.append(inbound(payload))
            sent.append((box, payload["seq"]))
        store(registered, *batch)
    rows = presses(registered)
    assert len(rows) == len(set(sent))
    recount = Tally((p.counter, p.day, p.scale, p.level, p.suppressed, p.test, p.officer_id or 0) for p in rows)
    with Session(registered) as session:
        rollup = {(r.counter, r.day, r.scale, level, r.suppressed, r.test, r.officer_id): n
                  for r in session.exec(select(RollupDay)).all()
                  for level, n in enumerate((r.level0, r.level1, r.level2, r.level3)) if n}
    assert rollup == dict(recount)
    assert len({p.day for p in rows}) == 2  # the data crossed a local midnight


def test_press_time_and_attribution(registered: Any, make_press: Any) -> None:
    t = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 00:30 on 2 March in Ho Chi Minh City
    received = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    store(
        registered,
        inbound(make_press(seq=1, t=utc_ms(t)), received_at=received),
        inbound(make_press(seq=2, t=None, clock="none"), received_at=received),
    )
    exact, approximate = sorted(presses(registered), key=lambda p: p.seq)
    assert exact.pressed_at == t and not exact.time_approximate
    assert str(exact.day) == "2026-03-02"
    assert approximate.pressed_at == received and approximate.time_approximate
    assert exact.officer_id is not None and exact.department_id is not None


def bad_messages(make_press: Any) -> list[tuple[str, Inbound]]:
    good = make_press(seq=99)
    return [
        ("unknown_topic", inbound(good, topic="rating/box-017/other")),
        ("too_large", inbound(json.dumps({**good, "pad": "x" * 5000}).encode(), topic="rating/box-017/press")),
        ("not_json", inbound(b"{not json", topic="rating/box-017/press")),
        ("not_json", inbound(b"\xff\xfe\x00", topic="rating/box-017/press")),
        ("schema", inbound({**good, "level": "high"})),
        ("schema", inbound({k: v for k, v in good.items() if k != "seq"})),
        ("schema", inbound({**good, "clock": "none"})),  # t must then be null
        ("schema", inbound([1, 2, 3], topic="rating/box-017/press")),
        ("topic_mismatch", inbound(good, topic="rating/box-018/press")),
        ("level_out_of_scale", inbound({**good, "level": 3})),
        ("unknown_box", inbound(make_press(box="box-999", seq=1))),
        ("box_not_at_counter", inbound({**good, "counter": "18"})),
        ("unknown_box", inbound({**json.loads(open_example("status")), "box": "box-999"},
                                topic="rating/box-999/status")),
    ]


def open_example(name: str) -> str:
    from schemas.contract import SCHEMA_DIR

    return (SCHEMA_DIR / "examples" / f"{name}.json").read_text()


def test_every_bad_input_is_kept_as_a_rejection_and_good_ones_still_go_through(
    registered: Any, make_press: Any
) -> None:
    cases = bad_messages(make_press)
    result = store(registered, inbound(make_press(seq=1)), *[m for _, m in cases], inbound(make_press(seq=2)))
    assert result.stored == 2
    assert result.rejected == Tally(reason for reason, _ in cases)
    with Session(registered) as session:
        rejected = session.exec(select(RejectedMessage)).all()
    assert sorted(r.reason for r in rejected) == sorted(reason for reason, _ in cases)
    large = next(r for r in rejected if r.reason == "too_large")
    assert large.payload_size > 5000 and len(large.payload) == 1024


def test_status_and_presence_update_the_device(registered: Any) -> None:
    status = json.loads(open_example("status"))
    status.update(box="box-017", counter="17")
    presence_off = json.loads(open_example("presence-offline"))
    presence_off.update(box="box-017", counter="17")
    store(registered, inbound(status, topic="rating/box-017/status"))
    with Session(registered) as session:
        device = session.get(Device, "box-017")
        assert device and device.online and device.rssi == -61 and device.reset_cause == "power_on"
    store(registered, inbound(presence_off, topic="rating/box-017/presence"))
    with Session(registered) as session:
        device = session.get(Device, "box-017")
        assert device and not device.online and device.rssi == -61


# --- what the store cannot hold is refused by the check, with a reason -----------------------------


def rejections(engine: Any) -> list[RejectedMessage]:
    with Session(engine) as session:
        return list(session.exec(select(RejectedMessage)).all())


@pytest.mark.parametrize(
    "kind, change",
    [
        ("press", {"level": 1.0}),
        ("press", {"t": 1795766400123.0}),
        ("press", {"seq": 9.0}),
        ("status", {"heap_free": 2**63}),
        ("status", {"heap_free": 2**31}),
        ("status", {"presses": 12.0}),
        ("status", {"err": "flash: \x00"}),
    ],
    ids=lambda value: value if isinstance(value, str) else ",".join(value),
)
def test_a_schema_valid_looking_number_the_columns_cannot_hold_is_a_schema_rejection(
    registered: Any, make_press: Any, kind: str, change: dict[str, Any]
) -> None:
    if kind == "press":
        body = {**make_press(seq=9, t=1795766400123), **change}
    else:
        body = {**json.loads(open_example("status")), **change}
    raw = json.dumps(body).encode()
    result = store(registered, inbound(make_press(seq=1)), inbound(raw, topic=f"rating/box-017/{kind}"),
                   inbound(make_press(seq=2)))
    assert result.stored == 2 and result.rejected == Tally({"schema": 1})
    (rejected,) = rejections(registered)
    assert rejected.payload == raw and next(iter(change)) in rejected.detail

