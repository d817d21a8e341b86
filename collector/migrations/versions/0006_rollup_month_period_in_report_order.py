"""Lead the whole-period rollup_month index with the month and the flags, then the report's rows in
order: the whole country's month per department and officer is summed as the index is read, without
sorting ~4,000 rows first (SQLite at 10 million presses: median 5.3 -> 3.0 ms for the query).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 07:40:00
"""

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Written out, not imported from the models: a migration must keep meaning what it meant when written.
IN_REPORT_ORDER = ['month', 'suppressed', 'test', 'department_id', 'officer_id', 'scale', 'level', 'counter', 'count']
BEFORE = ['month', 'department_id', 'officer_id', 'counter', 'suppressed', 'test', 'scale', 'level', 'count']


def _period_index(columns: list[str]) -> None:
    with op.batch_alter_table('rollup_month', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_month_period')
    with op.batch_alter_table('rollup_month', schema=None) as batch_op:
        batch_op.create_index('ix_rollup_month_period', columns, unique=False)


def upgrade() -> None:
    _period_index(IN_REPORT_ORDER)


def downgrade() -> None:
    _period_index(BEFORE)
