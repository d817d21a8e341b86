"""Scheduled reports by e-mail: `report_schedule` (when each recipient group was first seen) and
`report_dispatch` (each report to each group, unique by kind, period and group, with its attempts,
last error, claim and sending time).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 19:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import collector.models

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_schedule',
        sa.Column('recipients', AutoString(length=64), nullable=False),
        sa.Column('began_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('recipients'),
    )
    op.create_table(
        'report_dispatch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', AutoString(length=8), nullable=False),
        sa.Column('period', AutoString(length=16), nullable=False),
        sa.Column('recipients', AutoString(length=64), nullable=False),
        sa.Column('status', AutoString(length=8), nullable=False),
        sa.Column('due_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', AutoString(length=300), nullable=True),
        sa.Column('next_attempt_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('claimed_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('claimed_by', AutoString(length=64), nullable=True),
        sa.Column('addresses', AutoString(length=2000), nullable=True),
        sa.Column('message_id', AutoString(length=200), nullable=True),
        sa.Column('sent_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'period', 'recipients', name='uq_report_dispatch'),
    )
    with op.batch_alter_table('report_dispatch', schema=None) as batch_op:
        batch_op.create_index('ix_report_dispatch_due', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_table('report_dispatch')
    op.drop_table('report_schedule')
