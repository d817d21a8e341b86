"""Tables of the collector. Timestamps are stored as UTC and always come back timezone-aware.

Changing a table means adding an Alembic revision in collector/migrations/versions/ too;
tests/collector/test_migrations.py fails when the models and the migrations disagree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python; TIMESTAMPTZ on PostgreSQL, naive-UTC text on SQLite (which has no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use collector.clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets BIGINT for the big tables.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# --- the registry: who serves where -----------------------------------------------------------


class Department(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    site: str | None = Field(default=None, max_length=32, index=True)  # the center it belongs to


class Counter(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)  # what boxes send as "counter"
    name: str = Field(max_length=200)
    department_id: int = Field(foreign_key="department.id", index=True)
    scale: str = Field(default="sat2", max_length=16)  # the scale its boxes are set up with


class Officer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)


class CounterOfficer(SQLModel, table=True):
    """Which officer serves a counter, from valid_from up to (not including) valid_to."""

    __tablename__ = "counter_officer"
    __table_args__ = (sa.UniqueConstraint("counter_id", "officer_id", "valid_from"),)
    id: int | None = Field(default=None, primary_key=True)
    counter_id: int = Field(foreign_key="counter.id", index=True)
    officer_id: int = Field(foreign_key="officer.id", index=True)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CounterBox(SQLModel, table=True):
    """Which counter a box is installed at, from valid_from up to (not including) valid_to.
    A box is known to the collector only through these rows."""

    __tablename__ = "counter_box"
    __table_args__ = (sa.UniqueConstraint("box", "counter_id", "valid_from"),)
    id: int | None = Field(default=None, primary_key=True)
    box: str = Field(max_length=32, index=True)
    counter_id: int = Field(foreign_key="counter.id", index=True)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)


# --- what boxes send ----------------------------------------------------------------------------


class Press(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("box", "seq", name="uq_press_box_seq"),  # the idempotency key
        sa.Index("ix_press_counter_day", "counter", "day"),
    )
    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    box: str = Field(max_length=32)
    seq: int = Field(sa_type=sa.BigInteger)  # up to 2**32-1: beyond a PostgreSQL INTEGER
    counter: str = Field(max_length=16)
    scale: str = Field(max_length=16)
    level: int = Field(sa_type=sa.SmallInteger)
    suppressed: bool = False
    test: bool = False
    pressed_at: datetime = Field(sa_type=UTCDateTime, index=True)
    day: date  # pressed_at's calendar day in the center's timezone
    time_approximate: bool = False  # pressed_at is the reception time (the box had no clock)
    clock: str = Field(max_length=8)
    boot: int = Field(sa_type=sa.BigInteger)
    up: int = Field(sa_type=sa.BigInteger)
    fw: str = Field(max_length=32)
    received_at: datetime = Field(sa_type=UTCDateTime)
    officer_id: int | None = Field(default=None, foreign_key="officer.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id")


# Rollups, written in the transaction that inserts the presses (collector.rollups.add_counts_to_rollups),
# so each equals a recount of the press table. 0 stands for "no officer on duty" / "no department"
# (a primary key column cannot be NULL).


# A rollup row holds the counts of every level of its scale side by side (migration 0008), not a row
# per level: a report reads half the rows or fewer, and gets each group's counts per level in one row
# (the whole country's month per department and officer at 10 million presses: 11,811 rows of one
# count became 6,000 rows of four; its read on SQLite 14.7 -> 10.6 ms, p95). The wire contract
# allows levels 0..3 (schemas/press.schema.json; a test holds the two together).
LEVEL_COLUMNS = ("level0", "level1", "level2", "level3")


class LevelCounts(SQLModel):
    """The count of presses at each level of the row's scale."""

    level0: int = Field(default=0, sa_type=sa.BigInteger)
    level1: int = Field(default=0, sa_type=sa.BigInteger)
    level2: int = Field(default=0, sa_type=sa.BigInteger)
    level3: int = Field(default=0, sa_type=sa.BigInteger)


class RollupCounts(LevelCounts):
    """What rollup_day, rollup_month and rollup_year count per period (their first key column)."""

    counter: str = Field(max_length=16, primary_key=True)
    officer_id: int = Field(primary_key=True)
    department_id: int = Field(primary_key=True)
    scale: str = Field(max_length=16, primary_key=True)
    suppressed: bool = Field(primary_key=True)
    test: bool = Field(primary_key=True)


class RollupDay(RollupCounts, table=True):
    """Per local day, counter, officer on duty and department: day, ISO week and edge days of a range."""

    __tablename__ = "rollup_day"
    __table_args__ = (
        sa.Index("ix_rollup_day_counter", "counter", "day"),
        sa.Index("ix_rollup_day_officer", "officer_id", "day"),
        sa.Index("ix_rollup_day_department", "department_id", "day"),
    )
    day: date = Field(primary_key=True)


# Indexes of rollup_month and rollup_year. Every index holds the whole row (migration 0004): a report
# is answered from the index alone, without a table lookup per row (SQLite; PostgreSQL's index-only
# scans), which was most of the time of a site's month. The tables are small (a row per counter,
# officer, scale and flags a period). After its leading columns, each index carries the rest:
_ROLLUP_VALUES = ("suppressed", "test", "scale", *LEVEL_COLUMNS)
ROLLUP_COVER = {
    "counter": ("officer_id", "department_id", *_ROLLUP_VALUES),
    "officer_id": ("counter", "department_id", *_ROLLUP_VALUES),
    "department_id": ("counter", "officer_id", *_ROLLUP_VALUES),
}
# Whole country for a period: after the period, the flags every report filters on, then the report's
# rows in order, so that a month per department and officer is summed as the index is read, with no
# sort (migration 0006).
ROLLUP_REPORT_ORDER = ("suppressed", "test", "department_id", "officer_id", "scale", "counter", *LEVEL_COLUMNS)


def _per_column_indexes(table: str, period: str) -> tuple[sa.Index, ...]:
    """A whole-period rollup's indexes for one counter, officer or department (`period` names its
    first-day column)."""
    return tuple(sa.Index(f"ix_{table}_{name}", column, period, *ROLLUP_COVER[column])
                 for name, column in (("counter", "counter"), ("officer", "officer_id"),
                                      ("department", "department_id")))


def _period_index(table: str, period: str) -> sa.Index:
    """A whole-period rollup's index for the whole country in a period."""
    return sa.Index(f"ix_{table}_period", period, *ROLLUP_REPORT_ORDER)


class RollupMonth(RollupCounts, table=True):
    """The same per local calendar month (`month` is its first day): serves months and quarters and
    the whole months inside any range."""

    __tablename__ = "rollup_month"
    __table_args__ = (*_per_column_indexes("rollup_month", "month"), _period_index("rollup_month", "month"))
    month: date = Field(primary_key=True)


class RollupYear(RollupCounts, table=True):
    """The same per local calendar year (`year` is 1 January): the whole years inside a range, so a
    year of the whole country is one row per counter and officer, not twelve (migration 0007:
    at 10 million presses the year per counter summed ~80,000 month rows through a sort)."""

    __tablename__ = "rollup_year"
    # Only the whole-period index besides the key (which leads with year and counter): a year is a
    # small table to filter, and every index is one more b-tree to update at each press. With
    # rollup_month's three per-column indexes too, bench.collector's press-to-commit p99 on SQLite
    # was 55-204 ms in three runs (7.0 ms without rollup_year); with this one index, 5.6 ms.
    __table_args__ = (_period_index("rollup_year", "year"),)
    year: date = Field(primary_key=True)


class RollupHour(LevelCounts, table=True):
    """Per local day and hour of day, counter and department: the hour-by-weekday grid."""

    __tablename__ = "rollup_hour"
    __table_args__ = (
        sa.Index("ix_rollup_hour_counter", "counter", "day"),
        sa.Index("ix_rollup_hour_department", "department_id", "day"),
    )
    day: date = Field(primary_key=True)
    hour: int = Field(sa_type=sa.SmallInteger, primary_key=True)
    counter: str = Field(max_length=16, primary_key=True)
    department_id: int = Field(primary_key=True)
    scale: str = Field(max_length=16, primary_key=True)
    suppressed: bool = Field(primary_key=True)
    test: bool = Field(primary_key=True)


class RollupDayTotal(LevelCounts, table=True):
    """Per local day, the whole center: the unfiltered total's days (the trend by day or week, a
    range's edge days), which from rollup_day would read a row per day, counter and officer."""

    __tablename__ = "rollup_day_total"
    day: date = Field(primary_key=True)
    scale: str = Field(max_length=16, primary_key=True)
    suppressed: bool = Field(primary_key=True)
    test: bool = Field(primary_key=True)


class RollupHourMonth(LevelCounts, table=True):
    """Per month, ISO weekday and local hour, the whole center: the grid of whole months without a
    counter or department filter, which from rollup_hour would read a row per day, hour and counter
    (a year of 3,000 counters: millions). A filtered grid reads rollup_hour by its indexes."""

    __tablename__ = "rollup_hour_month"
    month: date = Field(primary_key=True)  # its first day
    weekday: int = Field(sa_type=sa.SmallInteger, primary_key=True)  # ISO: 1 = Monday
    hour: int = Field(sa_type=sa.SmallInteger, primary_key=True)
    scale: str = Field(max_length=16, primary_key=True)
    suppressed: bool = Field(primary_key=True)
    test: bool = Field(primary_key=True)


class Device(SQLModel, table=True):
    box: str = Field(max_length=32, primary_key=True)
    counter: str = Field(max_length=16)
    online: bool = False
    last_seen: datetime = Field(sa_type=UTCDateTime)
    rssi: int | None = None
    heap_free: int | None = None
    outbox: int | None = None
    presses: int | None = None
    clock: str | None = Field(default=None, max_length=8)
    fw: str | None = Field(default=None, max_length=32)
    reset_cause: str | None = Field(default=None, max_length=16)
    boot: int | None = Field(default=None, sa_type=sa.BigInteger)
    up: int | None = Field(default=None, sa_type=sa.BigInteger)
    last_error: str | None = Field(default=None, max_length=120)
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # taken out of service (technician)


class RejectedMessage(SQLModel, table=True):
    """A copy of a rejected message, for diagnosis. Only the newest few per box and reason are kept
    (Settings.rejected_kept); RejectionCount counts them all."""

    __tablename__ = "rejected_message"
    __table_args__ = (sa.Index("ix_rejected_message_box_reason", "box", "reason", "id"),)
    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    box: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})  # "" : not a box topic
    topic: str = Field(max_length=256)
    payload: bytes = Field(sa_type=sa.LargeBinary)  # first REJECTED_PAYLOAD_MAX bytes
    payload_size: int
    reason: str = Field(max_length=32, index=True)
    detail: str = Field(default="", max_length=1000)
    received_at: datetime = Field(sa_type=UTCDateTime)


class RejectionCount(SQLModel, table=True):
    """Every rejection counted, per box and reason, however many copies rejected_message keeps."""

    __tablename__ = "rejection_count"
    box: str = Field(max_length=32, primary_key=True)
    reason: str = Field(max_length=32, primary_key=True)
    count: int = Field(sa_type=sa.BigInteger)
    first_at: datetime = Field(sa_type=UTCDateTime)
    last_at: datetime = Field(sa_type=UTCDateTime)


class RejectedTopic(SQLModel, table=True):
    """The digest of the last payload rejected on each topic. The broker sends a topic's retained
    message again at every subscribe; one that matches this digest was recorded already."""

    __tablename__ = "rejected_topic"
    topic: str = Field(max_length=256, primary_key=True)
    payload_sha256: str = Field(max_length=64)
    received_at: datetime = Field(sa_type=UTCDateTime)


class BoxSequence(SQLModel, table=True):
    """Loss accounting per box: of the seqs 1..highest a box numbered, how many reached the collector
    (stored as presses, or rejected with their seq: rejected_seq). highest - accounted is what the
    collector never got. Kept in the storing transaction, so reading it costs nothing."""

    __tablename__ = "box_sequence"
    box: str = Field(max_length=32, primary_key=True)
    accounted: int = Field(sa_type=sa.BigInteger)
    highest: int = Field(sa_type=sa.BigInteger)


class RejectedSeq(SQLModel, table=True):
    """The seqs of rejected presses, once each: a rejected press still reached the collector, and
    its box may send it again before the confirmation arrives."""

    __tablename__ = "rejected_seq"
    box: str = Field(max_length=32, primary_key=True)
    seq: int = Field(sa_type=sa.BigInteger, primary_key=True)
    reason: str = Field(max_length=32)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    role: str = Field(max_length=16)  # viewer | admin
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class User(SQLModel, table=True):
    """A person who signs in to the dashboard. The password is kept only as an Argon2id hash."""

    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)  # viewer | admin
    password_hash: str = Field(max_length=200)
    disabled: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random value; only its SHA-256 is stored."""

    __tablename__ = "web_session"
    id_sha256: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


# --- scheduled reports by e-mail (collector/reports/dispatch.py) ----------------------------------


class ReportSchedule(SQLModel, table=True):
    """When a recipient group of RATING_REPORT_MAIL_TO was first seen: it gets the reports due since
    then (a group added today is not sent last year's), across restarts."""

    __tablename__ = "report_schedule"
    recipients: str = Field(max_length=64, primary_key=True)  # the group: "*", "site:HCM", "department:TP"
    began_at: datetime = Field(sa_type=UTCDateTime)


class ReportDispatch(SQLModel, table=True):
    """One report (kind, period) e-mailed to one recipient group. The row is made, unique, before
    anything is sent; a process claims it (status sending) before it sends, and marks it sent after:
    two collectors or a restart never send it twice (collector/reports/dispatch.py). Failures stay on
    the row (attempts, last error, next attempt) until it is sent."""

    __tablename__ = "report_dispatch"
    __table_args__ = (sa.UniqueConstraint("kind", "period", "recipients", name="uq_report_dispatch"),
                      sa.Index("ix_report_dispatch_due", "status", "next_attempt_at"))
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # week | month
    period: str = Field(max_length=16)  # 2026-W48 | 2026-11
    recipients: str = Field(max_length=64)  # the group (ReportSchedule.recipients)
    status: str = Field(max_length=8)  # pending | sending | sent
    due_at: datetime = Field(sa_type=UTCDateTime)  # when it became due (report_schedule.due_reports)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)  # host:pid of the collector sending it
    addresses: str | None = Field(default=None, max_length=2000)  # whom it went to, as sent
    message_id: str | None = Field(default=None, max_length=200)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


# --- alerts for supervisors (collector/alerts) ----------------------------------------------------


class Alert(SQLModel, table=True):
    """A rule that fired for a counter or a box: once when its condition became true, cleared once it
    had been false for a while (collector/alerts/evaluate.py). A supervisor acknowledges it, with a comment."""

    __tablename__ = "alert"
    __table_args__ = (sa.Index("ix_alert_rule_subject", "rule", "subject", "cleared_at"),)
    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(max_length=32)
    subject: str = Field(max_length=64)  # "counter:17" or "box:box-017"
    counter: str | None = Field(default=None, max_length=16, index=True)
    box: str | None = Field(default=None, max_length=32)
    site: str | None = Field(default=None, max_length=32)
    message: str = Field(max_length=500)
    value: float | None = None  # the figure that set it off (a share, a rate, minutes, a count)
    fired_at: datetime = Field(sa_type=UTCDateTime, index=True)
    cleared_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=100)
    comment: str | None = Field(default=None, max_length=1000)


class AlertDelivery(SQLModel, table=True):
    """One alert event (fired or cleared) to send on one channel, retried with backoff until it is
    delivered: attempts and the last error say why it has not been yet."""

    __tablename__ = "alert_delivery"
    __table_args__ = (sa.Index("ix_alert_delivery_due", "delivered_at", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    event: str = Field(max_length=8)  # fired | cleared
    channel: str = Field(max_length=16)  # email | webhook | mqtt
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


# --- over-the-air rollouts (collector/rollouts.py) -------------------------------------------------


class Rollout(SQLModel, table=True):
    """Boxes told to update to one release (collector/releases.py): its canaries first, then more
    (--all, --percent) once every canary runs it. A canary that fails stops it (state stopped)."""

    __tablename__ = "rollout"
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=14, unique=True)
    url: str = Field(max_length=200)  # the release folder the boxes fetch from (schemas/cmd.schema.json)
    manifest_sha256: str = Field(max_length=64)
    state: str = Field(max_length=16)  # canary | widened | stopped
    reason: str | None = Field(default=None, max_length=300)  # why it stopped
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RolloutBox(SQLModel, table=True):
    """One box of a rollout: pending (not told yet), sent, updated (reports the version), failed
    (not on it in time) or rolled_back (back on another version after a reboot)."""

    __tablename__ = "rollout_box"
    rollout_id: int = Field(foreign_key="rollout.id", primary_key=True)
    box: str = Field(max_length=32, primary_key=True)
    canary: bool
    state: str = Field(max_length=16)
    from_fw: str | None = Field(default=None, max_length=32)  # what it ran when it was targeted
    boot_at_send: int | None = Field(default=None, sa_type=sa.BigInteger)  # its boot count when first told
    attempts: int = 0  # update commands sent
    first_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    changed_at: datetime = Field(sa_type=UTCDateTime)  # the last change of state
    detail: str | None = Field(default=None, max_length=200)


class BoxDowntime(SQLModel, table=True):
    """A span a box was down: offline (its presence said so) or silent (no message for a while), from
    when it was last heard to when it was seen back (None: still down). Written by collector.downtime
    on the alerts' tick; reports and the devices page count its office hours."""

    __tablename__ = "box_downtime"
    __table_args__ = (sa.Index("ix_box_downtime_box_started", "box", "started_at"),)
    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    box: str = Field(max_length=32)
    cause: str = Field(max_length=8)  # offline | silent
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
