"""The whole center's hour-by-weekday grid per month: `rollup_hour_month`, summed from rollup_hour,
so that a year's grid reads about 12 x 7 x 10 rows instead of one per day, hour and counter (a year
of 3,000 counters at 10 million presses: about 11 million).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 05:50:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from collector.rollups import fill_hour_months

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rollup_hour_month',
        sa.Column('level0', sa.BigInteger(), nullable=False),
        sa.Column('level1', sa.BigInteger(), nullable=False),
        sa.Column('level2', sa.BigInteger(), nullable=False),
        sa.Column('level3', sa.BigInteger(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('weekday', sa.SmallInteger(), nullable=False),
        sa.Column('hour', sa.SmallInteger(), nullable=False),
        sa.Column('scale', AutoString(length=16), nullable=False),
        sa.Column('suppressed', sa.Boolean(), nullable=False),
        sa.Column('test', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'weekday', 'hour', 'scale', 'suppressed', 'test'),
    )
    fill_hour_months(op.get_bind())


def downgrade() -> None:
    op.drop_table('rollup_hour_month')
