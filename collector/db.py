"""The one way to reach the database: engine, sessions and migrations.

Durability: the collector acknowledges a press to the broker only after its transaction has
committed, and the broker then forgets it. So a commit must survive a power cut, not just a crash
of the process. On SQLite that needs `journal_mode=WAL` (readers never block the ingest writer)
with `synchronous=FULL`: the WAL is fsynced at every commit. The default for WAL, NORMAL, only
syncs at checkpoints, so the last transactions before a power cut can vanish after they were
acknowledged - a lost press nobody could ever redeliver. FULL costs one fsync per batch, which
batching (up to batch_max presses per commit) makes cheap. PostgreSQL's defaults (fsync=on,
synchronous_commit=on) already give this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; run at every start-up."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001  (any failure means: not reachable)
        return False


def upsert(bind: Session | sa.Connection, table: Any) -> Any:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL alike)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise RuntimeError(f"unsupported database {dialect}")
