"""Alerts for supervisors: `alert` (fired and cleared times, acknowledgement and comment) and
`alert_delivery` (each alert event per channel, with its attempts, last error and delivery time).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import collector.models

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule', AutoString(length=32), nullable=False),
        sa.Column('subject', AutoString(length=64), nullable=False),
        sa.Column('counter', AutoString(length=16), nullable=True),
        sa.Column('box', AutoString(length=32), nullable=True),
        sa.Column('site', AutoString(length=32), nullable=True),
        sa.Column('message', AutoString(length=500), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('fired_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('cleared_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('acknowledged_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('acknowledged_by', AutoString(length=100), nullable=True),
        sa.Column('comment', AutoString(length=1000), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index('ix_alert_rule_subject', ['rule', 'subject', 'cleared_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_counter'), ['counter'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_fired_at'), ['fired_at'], unique=False)
    op.create_table(
        'alert_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('event', AutoString(length=8), nullable=False),
        sa.Column('channel', AutoString(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', AutoString(length=300), nullable=True),
        sa.Column('next_attempt_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alert.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('alert_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_alert_delivery_due', ['delivered_at', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_delivery_alert_id'), ['alert_id'], unique=False)


def downgrade() -> None:
    op.drop_table('alert_delivery')
    op.drop_table('alert')
