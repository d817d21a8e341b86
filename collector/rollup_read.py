"""The fast read path of the rollups: what collector.satisfaction.tally and grid run.

Supervisors' queries touch few rows (a year of one counter is ~12 rows of `rollup_month`, a month of
the whole country one row per counter and officer, which holds the counts of every level), so their
cost was fixed overhead: building and compiling an ORM statement, ORM row processing, and a Python
loop per row. Here each query shape (table, group, bucket, which filters and how many values each) is
turned into SQL text once and kept (`_statement`, an LRU cache); it runs on the DBAPI cursor with
positional parameters (no SQL compilation per request; a list of values is one array parameter on
PostgreSQL), selects only the columns needed, sums in the database, and is answered from covering
indexes (migration 0004).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from collector.figures import Counts, add_scale_counts
from collector.models import LEVEL_COLUMNS

LEVELS = len(LEVEL_COLUMNS)  # a row ends with its scale and the counts of its levels
GROUP_COLUMNS = {"counter": "counter", "officer": "officer_id", "department": "department_id",
                 "site": "department_id"}  # a site through its departments


def group_columns(group: str | None) -> tuple[str, ...]:
    """Group "department,officer" gives (department id, officer id) keys: the report's rows."""
    columns = []
    for name in (group or "").split(","):
        if not name:
            continue
        column = GROUP_COLUMNS.get(name)
        if column is None:
            raise ValueError(f"unknown group {name!r}")
        columns.append(column)
    return tuple(columns)


@lru_cache(maxsize=512)
def _statement(dialect: str, table: str, time_column: str, single: bool, keys: tuple[str, ...], timed: bool,
               filters: tuple[tuple[str, int], ...], include: frozenset[str]) -> str:
    """SQL text of one query shape; filters: (column, number of values).

    Summing in the database pays where it folds many rows into one. One period per officer does not:
    an officer's rows in a month are one per counter they staffed, nearly always one, so a GROUP BY
    there costs an aggregate over every row and returns as many (the whole country's month per
    department and officer, SQLite at 10 million presses: 12.9 -> 8.0 ms); those rows come unsummed
    and read_segments adds them up, as it adds up segments."""
    mark = "?" if dialect == "sqlite" else "%s"
    false = "0" if dialect == "sqlite" else "false"
    columns = [*keys, *([time_column] if timed else []), "scale"]
    fold = not (single and "officer_id" in keys)
    where = [f"{time_column} = {mark}"] if single else [f"{time_column} >= {mark}", f"{time_column} <= {mark}"]
    for column, count in filters:
        if count == 1:
            where.append(f"{column} = {mark}")
        elif dialect == "sqlite":
            where.append(f"{column} IN ({', '.join([mark] * count)})")
        else:
            where.append(f"{column} = ANY({mark})")  # one array parameter: cheap to plan
    for flag in ("suppressed", "test"):
        if flag not in include:
            where.append(f"{flag} = {false}")
    listed = ", ".join(columns)
    if not fold:
        return f"SELECT {listed}, {', '.join(LEVEL_COLUMNS)} FROM {table} WHERE {' AND '.join(where)}"
    return f"SELECT {listed}, {_sums(dialect)} FROM {table} WHERE {' AND '.join(where)} GROUP BY {listed}"


def _sums(dialect: str) -> str:
    """The level columns summed (PostgreSQL's SUM of a BIGINT is a NUMERIC, read as a Decimal)."""
    if dialect == "sqlite":
        return ", ".join(f"SUM({c})" for c in LEVEL_COLUMNS)
    return ", ".join(f"CAST(SUM({c}) AS BIGINT)" for c in LEVEL_COLUMNS)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def read_segments(
    connection: sa.Connection, segments: Sequence[tuple[str, str, date, date]], *, group: str | None,
    by: str | None, counters: Sequence[str] | None, department_ids: Sequence[int] | None,
    officer_ids: Sequence[int] | None, include: frozenset[str], sites: Mapping[int, str | None] | None,
    label_of: Any,
) -> dict[tuple[Any, str | None], Counts]:
    """(group key, bucket label) -> counts per scale and level over segments (table, time column,
    first, last). label_of(day) -> bucket label. An empty filter list matches nothing."""
    dialect = connection.dialect.name
    sqlite = dialect == "sqlite"
    keys = group_columns(group)
    wanted: list[tuple[str, Sequence[Any]]] = [
        (column, values) for column, values in (("counter", counters), ("department_id", department_ids),
                                                ("officer_id", officer_ids)) if values is not None
    ]
    result: dict[tuple[Any, str | None], Counts] = {}
    if any(not values for _, values in wanted):
        return result
    shape = tuple((column, len(values)) for column, values in wanted)
    if sqlite:
        values: list[Any] = [v for _, vs in wanted for v in vs]
    else:
        values = [vs[0] if len(vs) == 1 else list(vs) for _, vs in wanted]
    labels: dict[Any, str] = {}
    width = len(keys)
    timed = by is not None
    sites = sites or {}
    for table, time_column, lo, hi in segments:
        single = lo == hi
        sql = _statement(dialect, table, time_column, single, keys, timed, shape, include)
        bounds = [lo.isoformat(), hi.isoformat()] if sqlite else [lo, hi]
        rows = _fetch(connection, sql, tuple((bounds[:1] if single else bounds) + values))
        if width == 2 and not timed:  # the report's rows: (department, officer)
            for department_id, officer_id, scale, *numbers in rows:
                counts = result.get(((department_id, officer_id), None))
                if counts is None:
                    result[((department_id, officer_id), None)] = {scale: numbers}  # a list of its own
                else:
                    add_scale_counts(counts, scale, numbers)
            continue
        for row in rows:
            if width == 0:
                key: Any = None
            elif width == 1:
                key = row[0]
                if group == "site":
                    key = sites.get(key)
            else:
                key = tuple(row[:width])
            if timed:
                moment = row[width]
                label = labels.get(moment)
                if label is None:
                    label = labels[moment] = label_of(_day(moment))
            else:
                label = None
            scale, per_level = row[-LEVELS - 1], row[-LEVELS:]
            add_scale_counts(result.setdefault((key, label), {}), scale, per_level)
    return result


def _fetch(connection: sa.Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows as plain tuples from the DBAPI cursor of the caller's connection (and transaction).
    PostgreSQL plans each run for its own values (psycopg's prepare=False): after a few runs a
    prepared statement gets a generic plan, which for "these 50 counters over a year" scans the whole
    year of every counter (measured: 81 ms instead of ~3 at 10 million presses)."""
    cursor = connection.connection.cursor()
    try:
        if connection.dialect.name == "sqlite":
            cursor.execute(sql, params)
        else:
            cursor.execute(sql, params, prepare=False)  # type: ignore[call-arg]  # psycopg 3
        return list(cursor.fetchall())
    finally:
        cursor.close()


@lru_cache(maxsize=128)
def _grid_statement(dialect: str, table: str, filters: tuple[tuple[str, int], ...], include: frozenset[str]) -> str:
    """rollup_hour (its days' weekdays computed) or rollup_hour_month (months, weekday kept) over a
    range of its first column."""
    mark = "?" if dialect == "sqlite" else "%s"
    false = "0" if dialect == "sqlite" else "false"
    if table == "rollup_hour_month":
        weekday, column = "weekday", "month"
    elif dialect == "sqlite":
        weekday, column = "CAST(strftime('%w', day) AS INTEGER)", "day"
    else:
        weekday, column = "CAST(EXTRACT(dow FROM day) AS INTEGER)", "day"
    where = [f"{column} >= {mark}", f"{column} <= {mark}"]
    for name, count in filters:
        where.append(f"{name} IN ({', '.join([mark] * count)})")
    for flag in ("suppressed", "test"):
        if flag not in include:
            where.append(f"{flag} = {false}")
    sql = (f"SELECT {weekday} AS dow, hour, scale, {_sums(dialect)} FROM {table} WHERE {' AND '.join(where)} "
           f"GROUP BY dow, hour, scale")
    return sql if dialect == "sqlite" else sql.replace("%w", "%%w")


def read_grid(
    connection: sa.Connection, segments: Sequence[tuple[str, str, date, date]], *, counters: Sequence[str] | None,
    department_ids: Sequence[int] | None, include: frozenset[str],
) -> dict[tuple[int, int], Counts]:
    """(ISO weekday 1..7, local hour 0..23) -> counts per scale and level, over segments (table, time
    column, first, last) of rollup_hour and, without a filter, rollup_hour_month."""
    dialect = connection.dialect.name
    wanted = [(column, values) for column, values in (("counter", counters), ("department_id", department_ids))
              if values is not None]
    cells: dict[tuple[int, int], Counts] = {}
    if any(not values for _, values in wanted):
        return cells
    shape = tuple((c, len(v)) for c, v in wanted)
    for table, _, lo, hi in segments:
        if table == "rollup_hour_month" and wanted:
            raise ValueError("rollup_hour_month has no counter or department: a filtered grid reads rollup_hour")
        sql = _grid_statement(dialect, table, shape, include)
        bounds: list[Any] = [lo.isoformat(), hi.isoformat()] if dialect == "sqlite" else [lo, hi]
        for dow, hour, scale, *numbers in _fetch(connection, sql, tuple(bounds + [v for _, vs in wanted for v in vs])):
            iso = 7 if int(dow) == 0 else int(dow)  # rollup_hour's weekday counts 0 = Sunday
            add_scale_counts(cells.setdefault((iso, int(hour)), {}), scale, numbers)
    return cells
