"""rollup_year: the presses per local calendar year, counter, officer, department, level and flags,
filled from rollup_month. A range's whole years are read from it, so a year of the whole country is a
row per counter, officer and level instead of twelve summed through a sort (SQLite at 10 million
presses: the year per counter took ~100 ms of reading, most of it sorting ~80,000 month rows).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 10:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Written out, not imported from the models: a migration must keep meaning what it meant when written.
KEYED = ['counter', 'officer_id', 'department_id', 'scale', 'level', 'suppressed', 'test']
# The key leads with year and counter; the one index more is the whole-period one (each index is one
# more b-tree to update at every press).
INDEXES = {
    'ix_rollup_year_period': ['year', 'suppressed', 'test', 'department_id', 'officer_id', 'scale', 'level',
                              'counter', 'count'],
}


def upgrade() -> None:
    op.create_table(
        'rollup_year',
        sa.Column('year', sa.Date(), nullable=False),
        sa.Column('counter', AutoString(length=16), nullable=False),
        sa.Column('officer_id', sa.Integer(), nullable=False),
        sa.Column('department_id', sa.Integer(), nullable=False),
        sa.Column('scale', AutoString(length=16), nullable=False),
        sa.Column('level', sa.SmallInteger(), nullable=False),
        sa.Column('suppressed', sa.Boolean(), nullable=False),
        sa.Column('test', sa.Boolean(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('year', *KEYED),
    )
    bind = op.get_bind()
    year = ("date(month, 'start of year')" if bind.dialect.name == 'sqlite'
            else "CAST(date_trunc('year', month) AS DATE)")
    keyed = ', '.join(KEYED)
    bind.execute(sa.text(f'INSERT INTO rollup_year (year, {keyed}, count) SELECT {year}, {keyed}, SUM(count) '
                         f'FROM rollup_month GROUP BY {year}, {keyed}'))
    # indexes after the rows: one sort each instead of a b-tree insert per row
    with op.batch_alter_table('rollup_year', schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    op.drop_table('rollup_year')
