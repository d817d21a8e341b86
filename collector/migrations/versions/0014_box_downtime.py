"""Box downtime: `box_downtime` (spans a box was offline or silent, from when it was last heard to when
it was seen back), so that reports tell "no ratings" from "box down". Nothing to fill: no such spans
were kept before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 19:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import collector.models

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'box_downtime',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('box', AutoString(length=32), nullable=False),
        sa.Column('cause', AutoString(length=8), nullable=False),
        sa.Column('started_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', collector.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('box_downtime', schema=None) as batch_op:
        batch_op.create_index('ix_box_downtime_box_started', ['box', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_box_downtime_ended_at'), ['ended_at'], unique=False)


def downgrade() -> None:
    op.drop_table('box_downtime')
