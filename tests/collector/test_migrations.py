"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import collector.models  # noqa: F401
from collector.db import alembic_config, upgrade
from collector.models import LEVEL_COLUMNS, UTCDateTime


def test_models_and_migrations_agree(engine: Any) -> None:
    upgrade(engine)  # a second upgrade at start-up is a no-op
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_sqlite_is_durable(sqlite_url: str) -> None:
    from collector.db import make_engine

    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_every_migration_goes_down_and_up_again(engine: Any) -> None:
    """Downgrades work too (a release can be rolled back), and 0005's keeps the per-counter counts."""
    from alembic import command

    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO rollup_day (day, counter, officer_id, department_id, scale, suppressed, test, level0, level1, "
            "level2, level3) VALUES ('2026-11-27', 'c1', 1, 1, 'sat2', false, false, 0, 3, 0, 0), "
            "('2026-11-27', 'c1', 2, 1, 'sat2', false, false, 0, 4, 0, 0)"
        ))
    command.downgrade(alembic_config(engine), "0004")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT counter, level, count FROM rollup")).all() == [("c1", 1, 7)]
    command.downgrade(alembic_config(engine), "base")
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_0007_fills_rollup_year_from_the_months_already_counted(engine: Any) -> None:
    from alembic import command

    upgrade(engine)
    command.downgrade(alembic_config(engine), "0006")  # a database counted before rollup_year
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO rollup_month (month, counter, officer_id, department_id, scale, level, suppressed, test, "
            "count) VALUES ('2025-12-01', 'c1', 1, 1, 'sat2', 1, false, false, 5), "
            "('2026-01-01', 'c1', 1, 1, 'sat2', 1, false, false, 3), "
            "('2026-11-01', 'c1', 1, 1, 'sat2', 1, false, false, 4), "
            "('2026-11-01', 'c1', 1, 1, 'sat2', 0, false, false, 2)"
        ))
    command.upgrade(alembic_config(engine), "0007")
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT CAST(year AS VARCHAR(10)), level, count FROM rollup_year ORDER BY year, level")).all()
    assert [tuple(r) for r in rows] == [("2025-01-01", 1, 5), ("2026-01-01", 0, 2), ("2026-01-01", 1, 7)]
    upgrade(engine)  # and 0008 carries the years over, a row each
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT CAST(year AS VARCHAR(10)), level0, level1, level2, level3 FROM rollup_year ORDER BY year")).all()
    assert [tuple(r) for r in rows] == [("2025-01-01", 0, 5, 0, 0), ("2026-01-01", 2, 7, 0, 0)]


# --- 0008: a column per level ---------------------------------------------------------------------

# Each rollup's key at 0008 (0007's without `level`), written out as the migration writes it.
_ROLLUP_KEYS = {
    "rollup_day": ("day", "counter", "officer_id", "department_id", "scale", "suppressed", "test"),
    "rollup_month": ("month", "counter", "officer_id", "department_id", "scale", "suppressed", "test"),
    "rollup_year": ("year", "counter", "officer_id", "department_id", "scale", "suppressed", "test"),
    "rollup_hour": ("day", "hour", "counter", "department_id", "scale", "suppressed", "test"),
}
_TYPES: dict[str, Any] = {"day": sa.Date, "month": sa.Date, "year": sa.Date, "hour": sa.Integer, "counter": sa.String,
                          "officer_id": sa.Integer, "department_id": sa.Integer, "scale": sa.String,
                          "suppressed": sa.Boolean, "test": sa.Boolean, "level": sa.Integer, "count": sa.BigInteger,
                          **{f"level{n}": sa.BigInteger for n in range(4)},
                          "pressed_at": UTCDateTime, "received_at": UTCDateTime,
                          "first_at": UTCDateTime, "last_at": UTCDateTime}


def _table(name: str, columns: tuple[str, ...]) -> Any:
    """The table as a clause with typed columns, so dates and flags read back alike on both databases
    (columns not in _TYPES are left untyped)."""
    return sa.table(name, *(sa.column(c, _TYPES[c]() if c in _TYPES else None) for c in columns))


def _rows_at_0007(table: str) -> list[tuple[Any, ...]]:
    """Rollup rows in 0007's layout, (*key, level, count): every scale with its levels, flags, officers
    and departments, some groups without some levels (columns that stay 0), a count beyond 2**31."""
    from datetime import date

    periods: dict[str, tuple[Any, ...]] = {
        "rollup_day": (date(2026, 11, 27), date(2026, 11, 28)),
        "rollup_month": (date(2026, 10, 1), date(2026, 11, 1)),
        "rollup_year": (date(2025, 1, 1), date(2026, 1, 1)),
        "rollup_hour": ((date(2026, 11, 27), 9), (date(2026, 11, 27), 14)),  # (day, hour)
    }
    levels = {"sat2": 2, "vn3": 3, "smiley4": 4}  # schemas/scales.json
    rows: list[tuple[Any, ...]] = []
    n = 0
    for when in periods[table]:
        for counter, scale in (("17", "sat2"), ("18", "vn3"), ("19", "smiley4")):
            for officer in (0, 7):
                for suppressed, test in ((False, False), (True, False), (False, True)):
                    for level in range(levels[scale]):
                        n += 1
                        if n % 4 == 0:
                            continue  # no press of this level in this group
                        count = 3_000_000_000 if n == 2 else n
                        department = 0 if officer == 0 else 5
                        if table == "rollup_hour":
                            rows.append((*when, counter, department, scale, suppressed, test, level, count))
                        else:
                            rows.append((when, counter, officer, department, scale, suppressed, test, level, count))
    return rows


def _schema(connection: Any, table: str) -> tuple[Any, ...]:
    """Columns (in order, with types), key (with its name) and indexes of a table, as the database has them."""
    inspector = sa.inspect(connection)
    pk = inspector.get_pk_constraint(table)
    return ([(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            (pk["name"], pk["constrained_columns"]),
            sorted((i["name"], i["column_names"], i["unique"]) for i in inspector.get_indexes(table)))


def test_0008_puts_the_levels_of_a_row_side_by_side_and_back(engine: Any) -> None:
    from alembic import command

    # built from scratch up to 0007, so the schema compared with is one 0008 never touched
    command.downgrade(alembic_config(engine), "base")
    command.upgrade(alembic_config(engine), "0007")
    with engine.begin() as connection:
        schema_0007 = {table: _schema(connection, table) for table in _ROLLUP_KEYS}
        for table, key in _ROLLUP_KEYS.items():
            connection.execute(sa.insert(_table(table, (*key, "level", "count"))),
                               [dict(zip((*key, "level", "count"), row)) for row in _rows_at_0007(table)])

    upgrade(engine)
    with engine.connect() as connection:
        for table, key in _ROLLUP_KEYS.items():
            expected: dict[tuple[Any, ...], list[int]] = {}
            for *row_key, level, count in _rows_at_0007(table):
                expected.setdefault(tuple(row_key), [0, 0, 0, 0])[level] += count
            got = connection.execute(sa.select(_table(table, (*key, *LEVEL_COLUMNS)))).all()
            assert {tuple(r[:len(key)]): list(r[len(key):]) for r in got} == expected, table
            assert len(got) == len(expected), table  # a row per key
            # the key keeps the name a database built from scratch gives it (PostgreSQL: <table>_pkey)
            assert sa.inspect(connection).get_pk_constraint(table)["name"] == schema_0007[table][1][0]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []

    command.downgrade(alembic_config(engine), "0007")
    with engine.connect() as connection:
        for table, key in _ROLLUP_KEYS.items():
            got = connection.execute(sa.select(_table(table, (*key, "level", "count")))).all()
            assert sorted(tuple(r) for r in got) == sorted(_rows_at_0007(table)), table  # no rows of count 0
            assert _schema(connection, table) == schema_0007[table], table


def test_0008_refuses_a_level_it_has_no_column_for(engine: Any) -> None:
    """Rather than drop its counts without a word, and before it changes any table."""
    import pytest
    from alembic import command

    command.downgrade(alembic_config(engine), "0007")
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO rollup_day (day, counter, officer_id, department_id, scale, level, suppressed, test, count) "
            "VALUES ('2026-11-27', 'c1', 1, 1, 'sat2', 1, false, false, 3)"))
        connection.execute(sa.text(
            "INSERT INTO rollup_hour (day, hour, counter, department_id, scale, level, suppressed, test, count) "
            "VALUES ('2026-11-27', 9, 'c1', 1, 'smiley4', 4, false, false, 2)"))
    with pytest.raises(RuntimeError, match="rollup_hour counts level 4"):
        upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0007"
        assert connection.execute(sa.text("SELECT level, count FROM rollup_day")).all() == [(1, 3)]


def test_the_rollups_have_a_column_for_every_level_the_contract_allows() -> None:
    from schemas import contract

    level: Any = contract.validator("press").schema["properties"]["level"]  # type: ignore[index]
    most = level["maximum"]
    assert level["minimum"] == 0
    assert most + 1 == len(LEVEL_COLUMNS)
    assert LEVEL_COLUMNS == tuple(f"level{n}" for n in range(most + 1))
    assert contract.scales()  # the scales are read, or the loop below checks nothing
    for name, scale in contract.scales().items():
        assert len(scale["levels"]) <= len(LEVEL_COLUMNS), name


def test_presses_stored_before_the_rollups_are_counted_by_the_migrations(engine: Any) -> None:
    """A database from before the rollups (0001) gets them from its presses (0002, in that revision's
    layout), carried on by 0007 and 0008: at head they equal a recount by the collector's own code."""
    from datetime import UTC, datetime, timedelta

    from alembic import command

    from collector.clock import local_day
    from collector.rollups import rebuild_rollups

    command.downgrade(alembic_config(engine), "0001")
    columns = ("box", "seq", "counter", "scale", "level", "suppressed", "test", "pressed_at", "day",
               "time_approximate", "clock", "boot", "up", "fw", "received_at")
    press = _table("press", columns)
    # around local midnight (17:00 UTC) at the end of a month and a year, on two scales
    start = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)
    rows = []
    for seq in range(1, 41):
        box, scale, levels = ("box-1", "sat2", 2) if seq % 3 else ("box-2", "vn3", 3)
        at = start + timedelta(minutes=3 * seq)
        rows.append(dict(zip(columns, (box, seq, box[-1], scale, seq % levels, seq % 7 == 0, seq % 11 == 0, at,
                                       local_day(at, "Asia/Ho_Chi_Minh"), False, "sync", 1, seq, "0.1.0", at),
                             strict=True)))
    with engine.begin() as connection:
        connection.execute(press.insert(), rows)
    upgrade(engine)

    def rollups() -> dict[str, list[tuple[Any, ...]]]:
        with engine.connect() as connection:
            return {table: sorted(tuple(r) for r in connection.execute(sa.text(f"SELECT * FROM {table}")))
                    for table in ("rollup_day", "rollup_month", "rollup_year", "rollup_hour", "rollup_hour_month",
                                  "rollup_day_total")}

    migrated = rollups()
    assert {len(found) for found in migrated.values()} != {0}
    assert sum(sum(r[-4:]) for r in migrated["rollup_year"]) == 40  # (the level columns come last)
    with engine.begin() as connection:
        rebuild_rollups(connection, "Asia/Ho_Chi_Minh")
    assert rollups() == migrated


def test_0009_counts_the_rejections_recorded_before_it(engine: Any) -> None:
    """Rejections stored before 0009 get their box and are counted per box and reason."""
    from datetime import UTC, datetime

    from alembic import command

    command.downgrade(alembic_config(engine), "0008")
    columns = ("topic", "payload", "payload_size", "reason", "detail", "received_at")
    rejected = sa.table("rejected_message", *(sa.column(c, UTCDateTime() if c == "received_at" else None)
                                             for c in columns))
    first, last = datetime(2026, 12, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, 2, tzinfo=UTC)
    rows = [("rating/box-1/status", "schema", first), ("rating/box-1/status", "schema", last),
            ("rating/box-1/press", "schema", first), ("rating/box-2/press", "not_json", last),
            ("elsewhere/x", "unknown_topic", first)]
    with engine.begin() as connection:
        connection.execute(rejected.insert(), [
            {"topic": topic, "payload": b"x", "payload_size": 1, "reason": reason, "detail": "", "received_at": at}
            for topic, reason, at in rows])
    upgrade(engine)
    counted = _table("rejection_count", ("box", "reason", "count", "first_at", "last_at"))
    with engine.connect() as connection:
        counts = sorted(tuple(r) for r in connection.execute(sa.select(counted)))
        boxes = sorted(connection.execute(sa.text("SELECT topic, box FROM rejected_message")).all())
    assert counts == [("", "unknown_topic", 1, first, first), ("box-1", "schema", 3, first, last),
                      ("box-2", "not_json", 1, last, last)]
    assert [tuple(b) for b in boxes] == [("elsewhere/x", ""), ("rating/box-1/press", "box-1"),
                                         ("rating/box-1/status", "box-1"), ("rating/box-1/status", "box-1"),
                                         ("rating/box-2/press", "box-2")]
