"""The whole center's total per day: `rollup_day_total`, summed from rollup_day, so that the
unfiltered trend by day or week reads a row per day and scale instead of one per day, counter and
officer (a year of 3,000 counters at 10 million presses: about 1.7 million).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 06:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from collector.rollups import fill_day_totals

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rollup_day_total',
        sa.Column('level0', sa.BigInteger(), nullable=False),
        sa.Column('level1', sa.BigInteger(), nullable=False),
        sa.Column('level2', sa.BigInteger(), nullable=False),
        sa.Column('level3', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('scale', AutoString(length=16), nullable=False),
        sa.Column('suppressed', sa.Boolean(), nullable=False),
        sa.Column('test', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'scale', 'suppressed', 'test'),
    )
    fill_day_totals(op.get_bind())


def downgrade() -> None:
    op.drop_table('rollup_day_total')
