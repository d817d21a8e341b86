"""Statements run on the driver's own cursor, in the session's connection and transaction.

The hot paths (presses, rollups) skip SQLAlchemy's statement building: for a batch of 500 rows it
cost more than the database work itself. What they write is exactly what SQLAlchemy's column types
write (SQLite: `YYYY-MM-DD` dates and naive-UTC `YYYY-MM-DD HH:MM:SS.ffffff` times; PostgreSQL:
native types), so the ORM reads it back unchanged, and the driver's errors are raised as
SQLAlchemy's, so callers handle them as any other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from collector.clock import utc_us

_EPOCH_NAIVE = datetime(1970, 1, 1)


@contextmanager
def driver_errors(connection: sa.Connection, statement: str) -> Iterator[None]:
    """Raise the driver's errors as SQLAlchemy's (OperationalError -> the caller retries the batch)."""
    dbapi = connection.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(statement, None, error, dbapi.Error, dialect=connection.dialect) from error


def open_cursor(connection: sa.Connection) -> Any:
    return connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_time(utc_us(value))
    if isinstance(value, date):
        return value.isoformat()
    return value


_SECONDS: dict[int, str] = {}  # whole UTC second -> "YYYY-MM-DD HH:MM:SS": a batch spans a few seconds


def sqlite_time(us: int) -> str:
    """SQLAlchemy's SQLite DATETIME text of a UTC instant (naive UTC, always with microseconds)."""
    second, micro = divmod(us, 1_000_000)
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) > 100_000:
            _SECONDS.clear()
        text = _SECONDS[second] = (_EPOCH_NAIVE + timedelta(seconds=second)).isoformat(" ", "seconds")
    return f"{text}.{micro:06d}"
