"""Over-the-air rollouts: `rollout` (a release's version, the folder boxes fetch it from, its stage)
and `rollout_box` (each targeted box's state: pending, sent, updated, failed, rolled_back).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import collector.models

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rollout',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', AutoString(length=14), nullable=False),
        sa.Column('url', AutoString(length=200), nullable=False),
        sa.Column('manifest_sha256', AutoString(length=64), nullable=False),
        sa.Column('state', AutoString(length=16), nullable=False),
        sa.Column('reason', AutoString(length=300), nullable=True),
        sa.Column('created_by', AutoString(length=100), nullable=False),
        sa.Column('created_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('stopped_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('version'),
    )
    op.create_table(
        'rollout_box',
        sa.Column('rollout_id', sa.Integer(), nullable=False),
        sa.Column('box', AutoString(length=32), nullable=False),
        sa.Column('canary', sa.Boolean(), nullable=False),
        sa.Column('state', AutoString(length=16), nullable=False),
        sa.Column('from_fw', AutoString(length=32), nullable=True),
        sa.Column('boot_at_send', sa.BigInteger(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('first_sent_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('sent_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('changed_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('detail', AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], ),
        sa.PrimaryKeyConstraint('rollout_id', 'box'),
    )


def downgrade() -> None:
    op.drop_table('rollout_box')
    op.drop_table('rollout')
