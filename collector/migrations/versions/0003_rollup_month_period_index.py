"""Index rollup_month by month first: a month of the whole country (or of a site) per department and
officer reads one index range in report order instead of skipping through every department.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:00:00
"""

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rollup_month', schema=None) as batch_op:
        batch_op.create_index('ix_rollup_month_period', ['month', 'department_id', 'officer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rollup_month', schema=None) as batch_op:
        batch_op.drop_index('ix_rollup_month_period')
