"""The rollup tables: their keys, the rows a batch of presses adds to them, and their rebuild.

Every figure is read from the rollups (collector.satisfaction), never from a scan of the press
table. They are written in the transaction that inserts the presses (collector.store calls
`add_counts_to_rollups`) and can be recounted from the press table (`rebuild_rollups`, which the
migrations and the benchmarks use).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa

from collector.clock import local_clock, local_hour_sql, utc_us
from collector.dbapi import driver_errors, open_cursor, quoted, sqlite_value
from collector.figures import no_counts
from collector.models import LEVEL_COLUMNS, Press, RollupHour, UTCDateTime
from collector.periods import month_start

NOBODY = 0  # officer_id / department_id in the rollups when there is none

# Every rollup is a sum over this key: a batch is tallied once per distinct key (a few hundred keys
# for thousands of presses under load), then each rollup table gets one upsert row per key without
# its level, which adds to that level's column.
ROLLUP_KEY = ("day", "hour", "counter", "officer_id", "department_id", "scale", "level", "suppressed", "test")
_FLAGS = ("scale", "suppressed", "test")
_KEYED = ("counter", "officer_id", "department_id", *_FLAGS)
ROLLUP_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rollup_day", ("day", *_KEYED)),
    ("rollup_month", ("month", *_KEYED)),
    ("rollup_year", ("year", *_KEYED)),
    ("rollup_hour", ("day", "hour", "counter", "department_id", *_FLAGS)),
    ("rollup_hour_month", ("month", "weekday", "hour", *_FLAGS)),
    ("rollup_day_total", ("day", *_FLAGS)),
)


def rollup_rows(counts: Mapping[tuple[Any, ...], int]) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    """(table, key columns, rows (*key, *counts per level)) for each of ROLLUP_TABLES from a tally over
    ROLLUP_KEY. Rows are sorted, so concurrent collectors take row locks in the same order, and each
    key appears once (one statement may not touch a row twice on PostgreSQL)."""
    per_table: tuple[dict[tuple[Any, ...], list[int]], ...] = ({}, {}, {}, {}, {}, {})
    months: dict[date, date] = {}
    for (day, hour, counter, officer_id, department_id, scale, level, suppressed, test), count in counts.items():
        officer_id = officer_id or NOBODY
        department_id = department_id or NOBODY
        rest = (scale, bool(suppressed), bool(test))
        month = months.get(day)
        if month is None:
            month = months[day] = month_start(day)
        keys = ((day, counter, officer_id, department_id, *rest),
                (month, counter, officer_id, department_id, *rest),
                (month.replace(month=1), counter, officer_id, department_id, *rest),
                (day, hour, counter, department_id, *rest),
                (month, day.isoweekday(), hour, *rest),
                (day, *rest))
        for rows, key in zip(per_table, keys, strict=True):
            numbers = rows.get(key)
            if numbers is None:
                numbers = rows[key] = no_counts()
            numbers[level] += count
    return [
        (table, names, [(*key, *numbers) for key, numbers in sorted(rows.items())])
        for (table, names), rows in zip(ROLLUP_TABLES, per_table, strict=True)
    ]


def add_counts_to_rollups(connection: sa.Connection, counts: Mapping[tuple[Any, ...], int]) -> None:
    """Add a tally over ROLLUP_KEY to every rollup table, in the caller's transaction:
    one prepared upsert per table, executed for many rows (no statement compiled per batch)."""
    if not counts:
        return
    for table, names, rows in rollup_rows(counts):
        upsert_counts(connection, table, names, rows)


@cache
def _upsert_sql(dialect: str, table: str, names: tuple[str, ...]) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    columns = (*names, *LEVEL_COLUMNS)
    added = ", ".join(f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in LEVEL_COLUMNS)
    return (
        f'INSERT INTO "{table}" ({quoted(columns)}) VALUES ({", ".join([mark] * len(columns))}) '
        f'ON CONFLICT ({quoted(names)}) DO UPDATE SET {added}'
    )


def upsert_counts(connection: sa.Connection, table: str, names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Add (*key, *counts per level) rows to a rollup table keyed on `names`: one prepared statement,
    many rows."""
    if not rows:
        return
    dialect = connection.dialect.name
    params: list[Any] = rows
    if dialect == "sqlite":
        # Only the columns that hold dates or times need converting (the rollups' day/month).
        convert = [i for i, value in enumerate(rows[0]) if isinstance(value, date)]
        if convert:
            params = [list(row) for row in rows]
            for row in params:
                for i in convert:
                    row[i] = sqlite_value(row[i])
    statement = _upsert_sql(dialect, table, names)
    with driver_errors(connection, statement):
        cursor = open_cursor(connection)
        try:
            cursor.executemany(statement, params)
        finally:
            cursor.close()


def rebuild_rollups(connection: sa.Connection, tz_name: str) -> None:
    """Recount every rollup table from the press table, in SQL."""
    dialect = connection.dialect.name
    # (table, its period, the table it sums, that one's period): a month sums days, a year months
    periods = [("rollup_month", "month", "rollup_day", "day"), ("rollup_year", "year", "rollup_month", "month")]
    for table in ("rollup_day_total", "rollup_hour_month", "rollup_hour", *(p[0] for p in periods), "rollup_day"):
        connection.execute(sa.text(f"DELETE FROM {table}"))
    levels = ", ".join(LEVEL_COLUMNS)
    counted = ", ".join(f"SUM(CASE WHEN level = {i} THEN 1 ELSE 0 END)" for i in range(len(LEVEL_COLUMNS)))
    connection.execute(sa.text(
        f"INSERT INTO rollup_day (day, counter, officer_id, department_id, scale, suppressed, test, {levels}) "
        f"SELECT day, counter, COALESCE(officer_id, 0), COALESCE(department_id, 0), scale, suppressed, test, "
        f"{counted} FROM press GROUP BY day, counter, COALESCE(officer_id, 0), COALESCE(department_id, 0), scale, "
        f"suppressed, test"
    ))
    keyed = ", ".join(_KEYED)
    summed = ", ".join(f"SUM({c})" for c in LEVEL_COLUMNS)
    for table, period, source, source_period in periods:
        first_day = (f"date({source_period}, 'start of {period}')" if dialect == "sqlite"
                     else f"CAST(date_trunc('{period}', {source_period}) AS DATE)")
        connection.execute(sa.text(
            f"INSERT INTO {table} ({period}, {keyed}, {levels}) SELECT {first_day}, {keyed}, {summed} "
            f"FROM {source} GROUP BY {first_day}, {keyed}"
        ))
    hour = local_hour_sql(dialect, "pressed_at", tz_name)
    if hour is None:
        _rebuild_hours_in_python(connection, tz_name)
    else:
        connection.execute(sa.text(
            f"INSERT INTO rollup_hour (day, hour, counter, department_id, scale, suppressed, test, {levels}) "
            f"SELECT day, {hour}, counter, COALESCE(department_id, 0), scale, suppressed, test, {counted} "
            f"FROM press GROUP BY day, {hour}, counter, COALESCE(department_id, 0), scale, suppressed, test"
        ), {"tz": tz_name})
    fill_hour_months(connection)
    fill_day_totals(connection)


def fill_day_totals(connection: sa.Connection) -> None:
    """rollup_day_total summed from rollup_day (empty before: rebuild_rollups and migration 0016)."""
    levels = ", ".join(LEVEL_COLUMNS)
    summed = ", ".join(f"SUM({c})" for c in LEVEL_COLUMNS)
    connection.execute(sa.text(
        f"INSERT INTO rollup_day_total (day, scale, suppressed, test, {levels}) "
        f"SELECT day, scale, suppressed, test, {summed} FROM rollup_day GROUP BY day, scale, suppressed, test"
    ))


def fill_hour_months(connection: sa.Connection) -> None:
    """rollup_hour_month summed from rollup_hour (empty before: rebuild_rollups and migration 0015)."""
    sqlite = connection.dialect.name == "sqlite"
    month = "date(day, 'start of month')" if sqlite else "CAST(date_trunc('month', day) AS DATE)"
    weekday = ("CASE CAST(strftime('%w', day) AS INTEGER) WHEN 0 THEN 7 ELSE CAST(strftime('%w', day) AS INTEGER) END"
               if sqlite else "CAST(EXTRACT(isodow FROM day) AS INTEGER)")
    levels = ", ".join(LEVEL_COLUMNS)
    summed = ", ".join(f"SUM({c})" for c in LEVEL_COLUMNS)
    connection.execute(sa.text(
        f"INSERT INTO rollup_hour_month (month, weekday, hour, scale, suppressed, test, {levels}) "
        f"SELECT {month}, {weekday}, hour, scale, suppressed, test, {summed} FROM rollup_hour "
        f"GROUP BY {month}, {weekday}, hour, scale, suppressed, test"
    ))


def _rebuild_hours_in_python(connection: sa.Connection, tz_name: str) -> None:
    clock = local_clock(tz_name)
    counts: dict[tuple[Any, ...], list[int]] = {}
    columns: list[Any] = [Press.day, Press.pressed_at, Press.counter, Press.department_id, Press.scale, Press.level,
               Press.suppressed, Press.test]
    decode = UTCDateTime().process_result_value
    for day, pressed_at, counter, dept, scale, level, suppressed, test in connection.execute(
        sa.select(*columns)
    ):
        moment = decode(pressed_at, connection.dialect) if isinstance(pressed_at, datetime) else pressed_at
        assert moment is not None
        key = (day, clock.day_hour(utc_us(moment))[1], counter, dept or NOBODY, scale, suppressed, test)
        counts.setdefault(key, no_counts())[level] += 1
    names = ("day", "hour", "counter", "department_id", *_FLAGS, *LEVEL_COLUMNS)
    if counts:
        connection.execute(sa.insert(RollupHour), [dict(zip(names, (*k, *n))) for k, n in counts.items()])
