"""Loss accounting per box: box_sequence (seqs accounted for and the highest numbered) and
rejected_seq (the seqs of rejected presses, once each). Filled from the stored presses; presses
rejected before this revision kept no seq, so a box that had one shows it as missing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 16:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'box_sequence',
        sa.Column('box', AutoString(length=32), nullable=False),
        sa.Column('accounted', sa.BigInteger(), nullable=False),
        sa.Column('highest', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('box'),
    )
    op.create_table(
        'rejected_seq',
        sa.Column('box', AutoString(length=32), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('reason', AutoString(length=32), nullable=False),
        sa.PrimaryKeyConstraint('box', 'seq'),
    )
    op.execute(
        "INSERT INTO box_sequence (box, accounted, highest) "
        "SELECT box, COUNT(*), MAX(seq) FROM press GROUP BY box"
    )


def downgrade() -> None:
    op.drop_table('rejected_seq')
    op.drop_table('box_sequence')
