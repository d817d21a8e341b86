"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import collector.models  # noqa: F401
from collector.db import alembic_config, upgrade


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
            "INSERT INTO rollup_day (day, counter, officer_id, department_id, scale, level, suppressed, test, count) "
            "VALUES ('2026-11-27', 'c1', 1, 1, 'sat2', 1, false, false, 3), "
            "('2026-11-27', 'c1', 2, 1, 'sat2', 1, false, false, 4)"
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
    upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT CAST(year AS VARCHAR(10)), level, count FROM rollup_year ORDER BY year, level")).all()
    assert [tuple(r) for r in rows] == [("2025-01-01", 1, 5), ("2026-01-01", 0, 2), ("2026-01-01", 1, 7)]
