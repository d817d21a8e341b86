"""Write one batch of checked messages in ONE transaction: presses (each key once), their rollups,
device state and rejections. The caller acks the batch only after this has committed."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from collector.clock import from_utc_ms, local_day
from collector.messages import REJECTED_PAYLOAD_MAX, Checked, Rejection
from collector.models import Counter as CounterRow
from collector.models import CounterBox, CounterOfficer, Device, Press, RejectedMessage, Rollup
from collector.satisfaction import add_to_rollups


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    devices: int = 0
    rejected: Tally[str] = field(default_factory=Tally)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise RuntimeError(f"unsupported database {dialect}")


def _covers(valid_from: datetime, valid_to: datetime | None, moment: datetime) -> bool:
    return valid_from <= moment and (valid_to is None or moment < valid_to)


def reject_row(rejection: Rejection) -> dict[str, Any]:
    inbound = rejection.inbound
    return {
        "topic": inbound.topic[:256],
        "payload": inbound.payload[:REJECTED_PAYLOAD_MAX],
        "payload_size": len(inbound.payload),
        "reason": rejection.reason,
        "detail": rejection.detail[:1000],
        "received_at": inbound.received_at,
    }


def store_batch(session: Session, items: Sequence[Checked | Rejection], tz_name: str) -> BatchResult:
    """Add the batch to the session's transaction (the caller commits)."""
    result = BatchResult()
    rejections = [item for item in items if isinstance(item, Rejection)]
    checked = [item for item in items if isinstance(item, Checked)]

    boxes = sorted({item.box for item in checked})
    placements: dict[str, list[tuple[CounterBox, CounterRow]]] = {box: [] for box in boxes}
    if boxes:
        rows = session.exec(
            select(CounterBox, CounterRow).join(CounterRow).where(col(CounterBox.box).in_(boxes))
        ).all()
        for assignment, counter in rows:
            placements[assignment.box].append((assignment, counter))

    presses: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    device_updates: list[Checked] = []
    for item in checked:
        if not placements[item.box]:
            rejections.append(Rejection(item.inbound, "unknown_box", f"{item.box} is in no counter_box assignment"))
            continue
        if item.kind != "press":
            device_updates.append(item)
            continue
        body = item.body
        received_at = item.inbound.received_at
        approximate = body["clock"] == "none"
        pressed_at = received_at if approximate else from_utc_ms(body["t"])
        placement = next(
            (
                (p, c)
                for p, c in placements[item.box]
                if c.code == body["counter"] and _covers(p.valid_from, p.valid_to, pressed_at)
            ),
            None,
        )
        if placement is None:
            rejections.append(
                Rejection(
                    item.inbound,
                    "box_not_at_counter",
                    f"{item.box} is not assigned to counter {body['counter']!r} at {pressed_at.isoformat()}",
                )
            )
            continue
        key = (item.box, body["seq"])
        if key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        flags = set(body["flags"])
        presses.append(
            {
                "box": item.box,
                "seq": body["seq"],
                "counter": body["counter"],
                "scale": body["scale"],
                "level": body["level"],
                "suppressed": "suppressed" in flags,
                "test": "test" in flags,
                "pressed_at": pressed_at,
                "day": local_day(pressed_at, tz_name),
                "time_approximate": approximate,
                "clock": body["clock"],
                "boot": body["boot"],
                "up": body["up"],
                "fw": body["fw"],
                "received_at": received_at,
                "officer_id": None,
                "department_id": placement[1].department_id,
                "_counter_id": placement[1].id,
            }
        )

    if presses:
        _attribute_officers(session, presses)
        for row in presses:
            del row["_counter_id"]
        # One cached statement, executed for many rows (SQLAlchemy's insertmanyvalues batches them):
        # a multi-VALUES statement built per batch would be compiled anew every time.
        table = Press.__table__  # type: ignore[attr-defined]
        statement = (
            _insert(session, table)
            .on_conflict_do_nothing(index_elements=["box", "seq"])
            .returning(table.c.box, table.c.seq)
        )
        inserted = session.connection().execute(statement, presses).all()
        new_keys = {(box, seq) for box, seq in inserted}
        result.stored = len(new_keys)
        result.duplicates += len(presses) - len(new_keys)
        new_rows = [row for row in presses if (row["box"], row["seq"]) in new_keys]
        _add_to_rollups(session, new_rows)
        add_to_rollups(session, new_rows, tz_name)  # the supervisors' rollups, same transaction

    for item in device_updates:
        _update_device(session, item)
        result.devices += 1

    if rejections:
        session.execute(sa.insert(RejectedMessage), [reject_row(r) for r in rejections])
        result.rejected.update(r.reason for r in rejections)
    return result


def _attribute_officers(session: Session, presses: list[dict[str, Any]]) -> None:
    """The officer on duty at the counter when the press happened."""
    counter_ids = sorted({row["_counter_id"] for row in presses})
    duty: dict[int, list[CounterOfficer]] = {}
    for assignment in session.exec(
        select(CounterOfficer).where(col(CounterOfficer.counter_id).in_(counter_ids))
    ).all():
        duty.setdefault(assignment.counter_id, []).append(assignment)
    for row in presses:
        for assignment in duty.get(row["_counter_id"], []):
            if _covers(assignment.valid_from, assignment.valid_to, row["pressed_at"]):
                row["officer_id"] = assignment.officer_id
                break


def _add_to_rollups(session: Session, new_presses: list[dict[str, Any]]) -> None:
    # One statement may not touch a row twice on PostgreSQL: add up within the batch first.
    tally = Tally(
        (row["counter"], row["day"], row["scale"], row["level"], row["suppressed"], row["test"]) for row in new_presses
    )
    if not tally:
        return
    names = ("counter", "day", "scale", "level", "suppressed", "test")
    values = [dict(zip(names, key), count=count) for key, count in sorted(tally.items())]
    # One cached statement executed for many rows (not a multi-VALUES statement compiled per batch);
    # rows in sorted order, so concurrent collectors take row locks in the same order.
    table = Rollup.__table__  # type: ignore[attr-defined]
    statement = _insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(names), set_={"count": table.c.count + statement.excluded["count"]}
    )
    session.connection().execute(statement, values)


def _update_device(session: Session, item: Checked) -> None:
    body = item.body
    values: dict[str, Any] = {
        "box": item.box,
        "counter": body["counter"],
        "last_seen": item.inbound.received_at,
        "boot": body["boot"],
        "fw": body["fw"],
    }
    if item.kind == "presence":
        values["online"] = body["state"] == "online"
    else:
        values.update(
            online=True,
            up=body["up"],
            rssi=body["rssi"],
            heap_free=body["heap_free"],
            outbox=body["outbox"],
            presses=body["presses"],
            clock=body["clock"],
            reset_cause=body["reset"],
            last_error=body["err"],
        )
    statement = _insert(session, Device).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["box"], set_={k: statement.excluded[k] for k in values if k != "box"}
        )
    )
