"""Rollups hold the counts of every level side by side (level0..level3) instead of a row per level: a
report reads half the rows or fewer and gets each group's counts per level in one row (the whole
country's month per department and officer at 10 million presses: 11,811 rows of one count became
6,000 rows of four).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 14:00:00
"""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Written out, not imported from the models: a migration must keep meaning what it meant when written.
# The wire contract allows levels 0..3 (schemas/press.schema.json), a column each.
LEVELS = ['level0', 'level1', 'level2', 'level3']
# Each table's key without `level`, in the order of the key at 0007 (it leads with the period and
# counter, or day and hour), and its other columns.
KEYS = {
    'rollup_day': ['day', 'counter', 'officer_id', 'department_id', 'scale', 'suppressed', 'test'],
    'rollup_month': ['month', 'counter', 'officer_id', 'department_id', 'scale', 'suppressed', 'test'],
    'rollup_year': ['year', 'counter', 'officer_id', 'department_id', 'scale', 'suppressed', 'test'],
    'rollup_hour': ['day', 'hour', 'counter', 'department_id', 'scale', 'suppressed', 'test'],
}
TYPES: dict[str, Callable[[], sa.types.TypeEngine[Any]]] = {
    'day': sa.Date, 'month': sa.Date, 'year': sa.Date, 'hour': sa.SmallInteger,
    'counter': lambda: AutoString(length=16), 'officer_id': sa.Integer, 'department_id': sa.Integer,
    'scale': lambda: AutoString(length=16), 'suppressed': sa.Boolean, 'test': sa.Boolean,
}
# The indexes as the models declare them at 0008: rollup_month's and rollup_year's cover the whole
# row, so they carry the level columns where they carried level and count.
INDEXES = {
    'rollup_day': {
        'ix_rollup_day_counter': ['counter', 'day'],
        'ix_rollup_day_officer': ['officer_id', 'day'],
        'ix_rollup_day_department': ['department_id', 'day'],
    },
    'rollup_month': {
        'ix_rollup_month_counter': ['counter', 'month', 'officer_id', 'department_id', 'suppressed', 'test',
                                    'scale', *LEVELS],
        'ix_rollup_month_officer': ['officer_id', 'month', 'counter', 'department_id', 'suppressed', 'test',
                                    'scale', *LEVELS],
        'ix_rollup_month_department': ['department_id', 'month', 'counter', 'officer_id', 'suppressed', 'test',
                                       'scale', *LEVELS],
        'ix_rollup_month_period': ['month', 'suppressed', 'test', 'department_id', 'officer_id', 'scale',
                                   'counter', *LEVELS],
    },
    'rollup_year': {
        'ix_rollup_year_period': ['year', 'suppressed', 'test', 'department_id', 'officer_id', 'scale',
                                  'counter', *LEVELS],
    },
    'rollup_hour': {
        'ix_rollup_hour_counter': ['counter', 'day'],
        'ix_rollup_hour_department': ['department_id', 'day'],
    },
}
# The indexes as they were at 0007 (0002, 0004, 0006 and 0007), for the downgrade.
INDEXES_0007 = {
    'rollup_day': INDEXES['rollup_day'],
    'rollup_month': {
        'ix_rollup_month_counter': ['counter', 'month', 'officer_id', 'department_id', 'suppressed', 'test',
                                    'scale', 'level', 'count'],
        'ix_rollup_month_officer': ['officer_id', 'month', 'counter', 'department_id', 'suppressed', 'test',
                                    'scale', 'level', 'count'],
        'ix_rollup_month_department': ['department_id', 'month', 'counter', 'officer_id', 'suppressed', 'test',
                                       'scale', 'level', 'count'],
        'ix_rollup_month_period': ['month', 'suppressed', 'test', 'department_id', 'officer_id', 'scale', 'level',
                                   'counter', 'count'],
    },
    'rollup_year': {
        'ix_rollup_year_period': ['year', 'suppressed', 'test', 'department_id', 'officer_id', 'scale', 'level',
                                  'counter', 'count'],
    },
    'rollup_hour': INDEXES['rollup_hour'],
}


def _key_columns(table: str) -> list[sa.Column]:
    return [sa.Column(name, TYPES[name](), nullable=False) for name in KEYS[table]]


def _replace(table: str, columns: list[sa.Column], primary_key: list[str], fill: str,
             indexes: dict[str, list[str]]) -> None:
    """Build `table` anew as `columns` from the rows `fill` selects from the old one, in one statement
    (millions of rows in rollup_day: no row passes through Python), then put it in the old one's place."""
    new = f'{table}_new'
    op.create_table(new, *columns, sa.PrimaryKeyConstraint(*primary_key))
    names = ', '.join(c.name for c in columns)
    op.execute(f'INSERT INTO {new} ({names}) {fill.format(old=table)}')
    op.drop_table(table)  # its indexes go with it
    op.rename_table(new, table)
    if op.get_bind().dialect.name == 'postgresql':
        # PostgreSQL named the key after the table it was made in (rollup_day_new_pkey) and keeps the
        # name through the rename; give it the name a database built from scratch at 0002 had, which
        # was taken by the old table's key until the drop above.
        op.execute(f'ALTER TABLE {table} RENAME CONSTRAINT {new}_pkey TO {table}_pkey')
    # indexes after the rows: one sort each instead of a b-tree insert per row
    with op.batch_alter_table(table, schema=None) as batch_op:
        for name, index_columns in indexes.items():
            batch_op.create_index(name, index_columns, unique=False)


def upgrade() -> None:
    bind = op.get_bind()
    # A level without a column would be dropped from the counts without a word: refuse instead, before
    # any table is changed (SQLite does not roll the DDL back). The collector never stored one (the
    # contract caps levels at 3), so this only costs a read of each table.
    for table in KEYS:
        stray = bind.execute(sa.text(f'SELECT level FROM {table} WHERE level < 0 OR level > 3 LIMIT 1')).first()
        if stray is not None:
            raise RuntimeError(f'{table} counts level {stray[0]}, which has no column: levels are 0..3')
    for table, key in KEYS.items():
        keyed = ', '.join(key)
        levels = ', '.join(f'SUM(CASE WHEN level = {n} THEN count ELSE 0 END) AS {column}'
                           for n, column in enumerate(LEVELS))
        _replace(table,
                 [*_key_columns(table), *(sa.Column(c, sa.BigInteger(), nullable=False) for c in LEVELS)],
                 key,
                 f'SELECT {keyed}, {levels} FROM {{old}} GROUP BY {keyed}',
                 INDEXES[table])


def downgrade() -> None:
    for table, key in KEYS.items():
        # The key at 0007 had `level` after scale, and the table its columns in the key's order, then count.
        after_scale = key.index('scale') + 1
        old_key = [*key[:after_scale], 'level', *key[after_scale:]]
        # a row per level counted, as the collector wrote them (never a row of count 0)
        per_level = ' UNION ALL '.join(
            'SELECT ' + ', '.join([*key[:after_scale], f'CAST({n} AS SMALLINT)', *key[after_scale:], column])
            + f' FROM {{old}} WHERE {column} > 0'
            for n, column in enumerate(LEVELS))
        columns = [sa.Column(name, sa.SmallInteger(), nullable=False) if name == 'level'
                   else sa.Column(name, TYPES[name](), nullable=False) for name in old_key]
        _replace(table, [*columns, sa.Column('count', sa.BigInteger(), nullable=False)], old_key, per_level,
                 INDEXES_0007[table])
