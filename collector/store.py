"""Write one batch of checked messages in ONE transaction: presses (each key once), their rollups,
device state and rejections. The caller acks the batch only after this has committed.

The hot path (presses and rollups) runs prepared statements on the session's own DBAPI connection
(same transaction), not ORM objects or statements compiled per batch: under a backlog the worker has
a few microseconds a message, and building SQLAlchemy statements for 500 rows cost more than the
database work itself. The values are written exactly as SQLAlchemy's column types write them
(SQLite: `YYYY-MM-DD` dates and naive-UTC `YYYY-MM-DD HH:MM:SS.ffffff` times; PostgreSQL: native
types), so the ORM reads them back unchanged. Driver errors are raised as SQLAlchemy's exceptions,
so the caller's retry (OperationalError) and one-by-one (other errors) handling is unchanged.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col

from collector.clock import from_utc_us, local_clock, utc_us
from collector.db import upsert
from collector.dbapi import driver_errors, open_cursor, quoted, sqlite_time
from collector.messages import Checked, Rejection
from collector.models import Counter as CounterRow
from collector.models import CounterBox, CounterOfficer, Device, Press
from collector.rejections import KEPT_DEFAULT, record_rejections
from collector.rollups import NOBODY, add_counts_to_rollups
from collector.sequences import account

# A repeat of a stored (box, seq) is the same press sent again (a box resends what the collector has
# not confirmed) unless what the box recorded of it differs: its counter, scale, level, flags, boot or
# uptime, or its time by more than this (a resend is timed again from the boot's anchor, which NTP may
# have refined; the delivery promise is 2 s). Its firmware version and clock source may change between
# sends (an update, NTP after the beacon), and a time cannot be compared when either copy had no clock.
# A repeat that differs is a `duplicate_conflict`: recorded with its payload, the first copy kept.
REPEAT_TIME_TOLERANCE_US = 2_000_000
_SAME_IN_A_REPEAT = ("counter", "scale", "level", "suppressed", "test", "boot", "up")  # besides the time


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    devices: int = 0
    rejected: Tally[str] = field(default_factory=Tally)
    rejection_totals: dict[tuple[str, str], int] = field(default_factory=dict)  # (box, reason): all ever
    new_presses: list[Pending] = field(default_factory=list)  # stored by this batch, for the alerts


# --- the presses, on the session's connection and transaction ---------------------------------


class PressRow(NamedTuple):
    """A press as inserted: the press table's columns, as the driver takes them (times and the day as
    text on SQLite, see collector.dbapi)."""

    box: str
    seq: int
    counter: str
    scale: str
    level: int
    suppressed: bool
    test: bool
    pressed_at: datetime | str
    day: date | str
    time_approximate: bool
    clock: str
    boot: int
    up: int
    fw: str
    received_at: datetime | str
    officer_id: int | None
    department_id: int


PRESS_COLUMNS = PressRow._fields


class Pending(NamedTuple):
    """A press that passed every check, before its row is built: what attribution and the rollups need."""

    item: Checked
    counter_id: int | None
    department_id: int
    pressed_us: int
    received_us: int
    approximate: bool
    day: date
    hour: int


def _press_row(pending: Pending, officer_id: int | None, on_sqlite: bool) -> PressRow:
    body = pending.item.body
    flags = body["flags"]
    if on_sqlite:
        pressed_at: datetime | str = sqlite_time(pending.pressed_us)
        day: date | str = pending.day.isoformat()
        received_at: datetime | str = sqlite_time(pending.received_us)
    else:
        pressed_at, day, received_at = from_utc_us(pending.pressed_us), pending.day, pending.item.inbound.received_at
    # In PressRow's field order, not by keyword: keywords cost 1.2 us more a press (of ~50 for the batch).
    return PressRow(pending.item.box, body["seq"], body["counter"], body["scale"], body["level"],
                    "suppressed" in flags, "test" in flags, pressed_at, day, pending.approximate, body["clock"],
                    body["boot"], body["up"], body["fw"], received_at, officer_id, pending.department_id)


@cache
def _press_sql(dialect: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    returning = "" if dialect == "sqlite" else ' RETURNING "box", "seq"'
    return (
        f'INSERT INTO "press" ({quoted(PRESS_COLUMNS)}) VALUES ({", ".join([mark] * len(PRESS_COLUMNS))}) '
        f'ON CONFLICT ("box", "seq") DO NOTHING{returning}'
    )


def _insert_presses(connection: sa.Connection, rows: list[PressRow]) -> list[bool]:
    """Insert the press rows; for each, whether it was new."""
    dialect = connection.dialect.name
    statement = _press_sql(dialect)
    with driver_errors(connection, statement):
        cursor = open_cursor(connection)
        try:
            if dialect == "sqlite":
                # A prepared statement per row, in C: rowcount says whether the key was new.
                new = []
                execute = cursor.execute
                for row in rows:
                    execute(statement, row)
                    new.append(cursor.rowcount == 1)
                return new
            # PostgreSQL: one pipelined executemany; RETURNING names the rows that were new.
            cursor.executemany(statement, rows, returning=True)
            inserted: set[tuple[str, int]] = set()
            while True:
                inserted.update((box, seq) for box, seq in cursor.fetchall())
                if not cursor.nextset():
                    break
            return [(row.box, row.seq) in inserted for row in rows]
        finally:
            cursor.close()


# --- the batch ----------------------------------------------------------------------------------


def store_batch(session: Session, items: Sequence[Checked | Rejection], tz_name: str,
                rejected_kept: int = KEPT_DEFAULT) -> BatchResult:
    """Add the batch to the session's transaction (the caller commits). Of the rejected messages, the
    newest `rejected_kept` per box and reason are kept whole (collector.rejections)."""
    result = BatchResult()
    rejections = [item for item in items if isinstance(item, Rejection)]
    checked = [item for item in items if isinstance(item, Checked)]
    connection = session.connection()
    on_sqlite = connection.dialect.name == "sqlite"

    # The registry as it is in this transaction: box -> [(from, to, counter code, counter id, department,
    # counter scale)] in UTC microseconds (to: None = open).
    boxes = sorted({item.box for item in checked})
    placements: dict[str, list[tuple[int, int | None, str, int | None, int, str]]] = {box: [] for box in boxes}
    if boxes:
        query = (
            sa.select(col(CounterBox.box), col(CounterBox.valid_from), col(CounterBox.valid_to), col(CounterRow.code),
                      col(CounterRow.id), col(CounterRow.department_id), col(CounterRow.scale))
            .join(CounterRow, col(CounterRow.id) == col(CounterBox.counter_id))
            .where(col(CounterBox.box).in_(boxes))
        )
        for box, valid_from, valid_to, code, counter_id, department_id, scale in connection.execute(query):
            placements[box].append(
                (utc_us(valid_from), None if valid_to is None else utc_us(valid_to), code, counter_id, department_id,
                 scale)
            )

    clock = local_clock(tz_name)
    pending: list[Pending] = []  # the presses to insert
    first_of: dict[tuple[str, int], tuple[Repeatable, Checked]] = {}  # key -> its first copy in the batch
    device_updates: list[Checked] = []
    for item in checked:
        box = item.box
        where = placements[box]
        if not where:
            rejections.append(_rejected(item, "unknown_box", f"{box} is in no counter_box assignment"))
            continue
        if item.kind != "press":
            device_updates.append(item)
            continue
        body = item.body
        received_us = utc_us(item.inbound.received_at)
        t = body["t"]
        approximate = body["clock"] == "none"
        pressed_us = received_us if approximate else t * 1000
        counter = body["counter"]
        commissioned = min(start for start, *_ in where)  # 0 (1970) for an assignment without `from`
        if pressed_us < commissioned:
            rejections.append(
                _rejected(
                    item,
                    "time_before_commissioning",
                    f"pressed at {from_utc_us(pressed_us).isoformat()}, before {box} was "
                    f"commissioned (its first assignment, from {from_utc_us(commissioned).isoformat()})",
                )
            )
            continue
        placement = None
        for start, end, code, counter_id, department_id, counter_scale in where:
            if code == counter and start <= pressed_us and (end is None or pressed_us < end):
                placement = (counter_id, department_id, counter_scale)
                break
        if placement is None:
            pressed_at = from_utc_us(pressed_us)
            rejections.append(
                _rejected(
                    item,
                    "box_not_at_counter",
                    f"{box} is not assigned to counter {counter!r} at {pressed_at.isoformat()}",
                )
            )
            continue
        counter_id, department_id, counter_scale = placement
        if body["scale"] != counter_scale:
            # Its level is an index into another scale (a vn3 "very satisfied" has no sat2 equivalent):
            # counted, it would add a level the counter does not have to its figures.
            rejections.append(
                _rejected(item, "scale_mismatch",
                          f"press on scale {body['scale']!r}, counter {counter!r} uses {counter_scale!r}")
            )
            continue
        seq = body["seq"]
        key = (box, seq)
        repeatable = _repeatable(body, pressed_us, approximate)
        first = first_of.get(key)
        if first is not None:
            differs = _differences(first[0], repeatable)
            if differs:
                rejections.append(_conflict(item, differs, "an earlier copy in the same batch"))
            else:
                result.duplicates += 1
            continue
        first_of[key] = (repeatable, item)
        day, hour = clock.day_hour(pressed_us)
        pending.append(Pending(item, counter_id, department_id, pressed_us, received_us, approximate, day, hour))

    if pending:
        officers = _officers_on_duty(connection, pending)
        rows = [_press_row(press, officer_id, on_sqlite) for press, officer_id in zip(pending, officers, strict=True)]
        new = _insert_presses(connection, rows)
        counts: Tally[tuple[Any, ...]] = Tally()  # over rollups.ROLLUP_KEY
        for press, row, is_new in zip(pending, rows, new, strict=True):
            if is_new:
                counts[(press.day, press.hour, row.counter, row.officer_id or NOBODY, row.department_id or NOBODY,
                        row.scale, row.level, row.suppressed, row.test)] += 1
        result.stored = sum(counts.values())
        result.new_presses = [press for press, is_new in zip(pending, new, strict=True) if is_new]
        repeats = [press.item for press, is_new in zip(pending, new, strict=True) if not is_new]
        conflicts = _conflicts_with_stored(connection, repeats, first_of)
        rejections.extend(conflicts)
        result.duplicates += len(pending) - result.stored - len(conflicts)
        add_counts_to_rollups(connection, counts)  # the rollups, in the same transaction
        account(connection, [(row.box, row.seq) for row, is_new in zip(rows, new, strict=True) if is_new])

    for item in device_updates:
        _update_device(session, item)
        result.devices += 1

    if rejections:
        recorded = record_rejections(session, rejections, rejected_kept)
        result.rejected.update(recorded.reasons)
        result.rejection_totals = recorded.totals
    return result


def _rejected(item: Checked, reason: str, detail: str) -> Rejection:
    """A schema-valid message the store turns down; a press's carries its seq (collector.sequences)."""
    return Rejection(item.inbound, reason, detail, {"seq": item.body["seq"]} if item.kind == "press" else {})


class Repeatable(NamedTuple):
    """What a repeat of a press must carry unchanged (see REPEAT_TIME_TOLERANCE_US)."""

    counter: str
    scale: str
    level: int
    suppressed: bool
    test: bool
    boot: int
    up: int
    pressed_us: int
    approximate: bool


def _repeatable(body: dict[str, Any], pressed_us: int, approximate: bool) -> Repeatable:
    flags = body["flags"]
    return Repeatable(body["counter"], body["scale"], body["level"], "suppressed" in flags, "test" in flags,
                      body["boot"], body["up"], pressed_us, approximate)


def _differences(first: Repeatable, again: Repeatable) -> list[str]:
    """What differs between two copies of one key: empty for the same press sent again."""
    differs = [f"{name} {getattr(first, name)!r} -> {getattr(again, name)!r}"
               for name in _SAME_IN_A_REPEAT if getattr(first, name) != getattr(again, name)]
    if (not first.approximate and not again.approximate
            and abs(first.pressed_us - again.pressed_us) > REPEAT_TIME_TOLERANCE_US):
        differs.append(f"pressed_at {from_utc_us(first.pressed_us).isoformat()} -> "
                       f"{from_utc_us(again.pressed_us).isoformat()}")
    return differs


def _conflict(item: Checked, differs: list[str], against: str) -> Rejection:
    return _rejected(item, "duplicate_conflict",
                     f"seq {item.body['seq']} repeated with other content than {against} (kept): " + "; ".join(differs))


def _conflicts_with_stored(connection: sa.Connection, repeats: list[Checked],
                           first_of: dict[tuple[str, int], tuple[Repeatable, Checked]]) -> list[Rejection]:
    """The repeats of stored presses whose content differs from the stored row, as rejections (the
    stored row stays). One query for the batch's repeats, only when there are any."""
    if not repeats:
        return []
    seqs_of: dict[str, list[int]] = {}
    for item in repeats:
        seqs_of.setdefault(item.box, []).append(item.body["seq"])
    query = sa.select(col(Press.box), col(Press.seq), col(Press.counter), col(Press.scale), col(Press.level),
                      col(Press.suppressed), col(Press.test), col(Press.boot), col(Press.up), col(Press.pressed_at),
                      col(Press.time_approximate)).where(
        sa.or_(*(sa.and_(col(Press.box) == box, col(Press.seq).in_(seqs)) for box, seqs in seqs_of.items())))
    stored = {(box, seq): Repeatable(counter, scale, level, bool(suppressed), bool(test), boot, up,
                                     utc_us(pressed_at), bool(approximate))
              for box, seq, counter, scale, level, suppressed, test, boot, up, pressed_at, approximate
              in connection.execute(query)}
    conflicts = []
    for item in repeats:
        key = (item.box, item.body["seq"])
        first = stored.get(key)
        if first is None:  # not visible to this transaction: cannot be compared (a concurrent writer)
            continue
        differs = _differences(first, first_of[key][0])
        if differs:
            conflicts.append(_conflict(item, differs, "the stored press"))
    return conflicts


def _officers_on_duty(connection: sa.Connection, pending: list[Pending]) -> list[int | None]:
    """The officer on duty at each press's counter when it happened (None: nobody)."""
    counter_ids = sorted({press.counter_id for press in pending if press.counter_id is not None})
    duty: dict[int | None, list[tuple[int, int | None, int]]] = {}
    query = sa.select(col(CounterOfficer.counter_id), col(CounterOfficer.valid_from), col(CounterOfficer.valid_to),
                      col(CounterOfficer.officer_id)).where(col(CounterOfficer.counter_id).in_(counter_ids))
    for counter_id, valid_from, valid_to, officer_id in connection.execute(query):
        duty.setdefault(counter_id, []).append(
            (utc_us(valid_from), None if valid_to is None else utc_us(valid_to), officer_id)
        )
    officers: list[int | None] = []
    for press in pending:
        on_duty = None
        for start, end, officer_id in duty.get(press.counter_id, ()):
            if start <= press.pressed_us and (end is None or press.pressed_us < end):
                on_duty = officer_id
                break
        officers.append(on_duty)
    return officers


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
    statement = upsert(session, Device).values(values)
    updates: dict[str, Any] = {k: statement.excluded[k] for k in values if k != "box"}
    # A retired box (replaced by the technician) stays offline: its retained "online" presence,
    # resent at every subscribe, or a message it still had queued must not bring it back.
    updates["online"] = sa.case((col(Device.retired_at).is_(None), statement.excluded.online), else_=sa.false())
    session.execute(statement.on_conflict_do_update(index_elements=["box"], set_=updates))
