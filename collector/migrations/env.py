"""Alembic environment: run programmatically by collector.db.upgrade with the collector's engine."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import collector.models  # noqa: F401  (registers the tables)

config = context.config
engine = config.attributes.get("engine")
if engine is None:
    from collector.db import make_engine
    from collector.settings import get_settings

    engine = make_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
