"""jobs: the daily analytics rollup and the scheduler's persisted run times

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('daily_stats',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('metric', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('dimension', sqlmodel.sql.sqltypes.AutoString(length=32), server_default='', nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'metric', 'dimension', name=op.f('pk_daily_stats'))
    )
    op.create_table('job_runs',
    sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('job_id', name=op.f('pk_job_runs'))
    )


def downgrade() -> None:
    op.drop_table('job_runs')
    op.drop_table('daily_stats')
