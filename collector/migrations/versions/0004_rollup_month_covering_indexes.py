"""Make every rollup_month index cover the whole row, so reports are read from the index alone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 04:10:00
"""

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# Written out, not imported from the models: a migration must keep meaning what it meant when written.
_VALUES = ['suppressed', 'test', 'scale', 'level', 'count']
COVERING = {
    'ix_rollup_month_counter': ['counter', 'month', 'officer_id', 'department_id', *_VALUES],
    'ix_rollup_month_officer': ['officer_id', 'month', 'counter', 'department_id', *_VALUES],
    'ix_rollup_month_department': ['department_id', 'month', 'counter', 'officer_id', *_VALUES],
    'ix_rollup_month_period': ['month', 'department_id', 'officer_id', 'counter', *_VALUES],
}
BEFORE = {
    'ix_rollup_month_counter': ['counter', 'month'],
    'ix_rollup_month_officer': ['officer_id', 'month'],
    'ix_rollup_month_department': ['department_id', 'month'],
    'ix_rollup_month_period': ['month', 'department_id', 'officer_id'],
}


def _replace(indexes: dict[str, list[str]]) -> None:
    with op.batch_alter_table('rollup_month', schema=None) as batch_op:
        for name in indexes:
            batch_op.drop_index(name)
    with op.batch_alter_table('rollup_month', schema=None) as batch_op:
        for name, columns in indexes.items():
            batch_op.create_index(name, columns, unique=False)


def upgrade() -> None:
    _replace(COVERING)


def downgrade() -> None:
    _replace(BEFORE)
