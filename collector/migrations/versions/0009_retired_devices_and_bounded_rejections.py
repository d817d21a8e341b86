"""A device can be retired (device.retired_at); rejections are counted per box and reason
(rejection_count) while rejected_message keeps only the newest copies of each (hence its box column
and index); rejected_topic remembers the last payload rejected on each topic, so that a retained
message the broker sends again at every subscribe is recorded once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import collector.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Written out, not imported: a migration must keep meaning what it meant when written.
# Box topics are rating/{box}/{kind} (schemas/topics.json).
BOX_TOPIC_KINDS = ('press', 'status', 'presence')


def _box_of(topic: str) -> str:
    parts = topic.split('/')
    if len(parts) == 3 and parts[0] == 'rating' and parts[2] in BOX_TOPIC_KINDS:
        return parts[1][:32]
    return ''


def upgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', collector.models.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('rejected_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('box', AutoString(length=32), server_default='', nullable=False))
    op.create_table(
        'rejection_count',
        sa.Column('box', AutoString(length=32), nullable=False),
        sa.Column('reason', AutoString(length=32), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('first_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('box', 'reason'),
    )
    op.create_table(
        'rejected_topic',
        sa.Column('topic', AutoString(length=256), nullable=False),
        sa.Column('payload_sha256', AutoString(length=64), nullable=False),
        sa.Column('received_at', collector.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('topic'),
    )

    # The rejections recorded so far: their box, and their counts. A statement per distinct topic, not
    # per row (a flood leaves thousands of rows on a handful of topics).
    bind = op.get_bind()
    rejected = sa.table('rejected_message', sa.column('topic', sa.String), sa.column('box', sa.String),
                        sa.column('reason', sa.String),
                        sa.column('received_at', collector.models.UTCDateTime(timezone=True)))
    groups = bind.execute(
        sa.select(rejected.c.topic, rejected.c.reason, sa.func.count(), sa.func.min(rejected.c.received_at),
                  sa.func.max(rejected.c.received_at)).group_by(rejected.c.topic, rejected.c.reason)
    ).all()
    counts: dict[tuple[str, str], list] = {}
    for topic, reason, count, first_at, last_at in groups:
        box = _box_of(topic)
        if box:
            bind.execute(sa.update(rejected).where(rejected.c.topic == topic).values(box=box))
        total = counts.setdefault((box, reason), [0, first_at, last_at])
        total[0] += count
        total[1] = min(total[1], first_at)
        total[2] = max(total[2], last_at)
    if counts:
        counted = sa.table('rejection_count', sa.column('box', sa.String), sa.column('reason', sa.String),
                           sa.column('count', sa.BigInteger),
                           sa.column('first_at', collector.models.UTCDateTime(timezone=True)),
                           sa.column('last_at', collector.models.UTCDateTime(timezone=True)))
        bind.execute(sa.insert(counted), [
            {'box': box, 'reason': reason, 'count': count, 'first_at': first_at, 'last_at': last_at}
            for (box, reason), (count, first_at, last_at) in counts.items()
        ])

    with op.batch_alter_table('rejected_message', schema=None) as batch_op:
        batch_op.create_index('ix_rejected_message_box_reason', ['box', 'reason', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('rejected_topic')
    op.drop_table('rejection_count')
    with op.batch_alter_table('rejected_message', schema=None) as batch_op:
        batch_op.drop_index('ix_rejected_message_box_reason')
        batch_op.drop_column('box')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
