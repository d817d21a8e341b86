"""Drop `rollup` (per counter and day): `rollup_day` holds the same counts split by officer and
department, and the collector no longer writes two tables for one fact.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 04:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table('rollup')


def downgrade() -> None:
    op.create_table('rollup',
    sa.Column('counter', AutoString(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scale', AutoString(length=16), nullable=False),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('test', sa.Boolean(), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('counter', 'day', 'scale', 'level', 'suppressed', 'test')
    )
    op.execute("INSERT INTO rollup (counter, day, scale, level, suppressed, test, count) "
               "SELECT counter, day, scale, level, suppressed, test, SUM(count) FROM rollup_day "
               "GROUP BY counter, day, scale, level, suppressed, test")
