"""recommendations: signals and search queries, refit runs and their top-N, pushes and attributed purchases

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('recommend_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('users', sa.Integer(), nullable=False),
    sa.Column('courses', sa.Integer(), nullable=False),
    sa.Column('interactions', sa.Integer(), nullable=False),
    sa.Column('fit_ms', sa.Integer(), nullable=False),
    sa.Column('fallback', sa.Text(), nullable=False),
    sa.Column('tokens', sa.Text(), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recommend_runs'))
    )
    with op.batch_alter_table('recommend_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recommend_runs_status'), ['status'], unique=False)

    op.create_table('recommendations',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('anchor_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['recommend_runs.id'], name=op.f('fk_recommendations_run_id_recommend_runs')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recommendations_user_id_users')),
    sa.PrimaryKeyConstraint('run_id', 'user_id', 'rank', name=op.f('pk_recommendations'))
    )
    op.create_table('search_queries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('query', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_search_queries_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_queries'))
    )
    with op.batch_alter_table('search_queries', schema=None) as batch_op:
        batch_op.create_index('ix_search_queries_user_at', ['user_id', 'at'], unique=False)

    op.create_table('signals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_signals_course_id_courses')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_signals_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signals'))
    )
    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.create_index('ix_signals_user_at', ['user_id', 'at'], unique=False)

    op.create_table('recommend_conversions',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_recommend_conversions_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_recommend_conversions_course_id_courses')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_recommend_conversions_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recommend_conversions_user_id_users')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_recommend_conversions'))
    )
    with op.batch_alter_table('recommend_conversions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recommend_conversions_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recommend_conversions_user_id'), ['user_id'], unique=False)

    op.create_table('recommend_pushes',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_recommend_pushes_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_recommend_pushes_course_id_courses')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recommend_pushes_user_id_users')),
    sa.PrimaryKeyConstraint('campaign_id', 'user_id', 'rank', name=op.f('pk_recommend_pushes'))
    )
    with op.batch_alter_table('recommend_pushes', schema=None) as batch_op:
        batch_op.create_index('ix_recommend_pushes_user_course', ['user_id', 'course_id'], unique=False)

    # What learners did before there were signals, so the first refit does not start from nothing:
    # a purchase per paid course order, a completion per completed lesson.
    op.execute(
        "INSERT INTO signals (user_id, course_id, kind, at) "
        "SELECT o.user_id, o.item_id, 'buy', o.paid_at FROM orders o "
        "WHERE o.item_kind = 'course' AND o.status = 'paid' AND o.paid_at IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM courses c WHERE c.id = o.item_id)"
    )
    op.execute(
        "INSERT INTO signals (user_id, course_id, kind, at) "
        "SELECT p.user_id, p.course_id, 'complete', p.completed_at FROM progress p "
        "WHERE p.completed_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('recommend_pushes', schema=None) as batch_op:
        batch_op.drop_index('ix_recommend_pushes_user_course')

    op.drop_table('recommend_pushes')
    with op.batch_alter_table('recommend_conversions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recommend_conversions_user_id'))
        batch_op.drop_index(batch_op.f('ix_recommend_conversions_campaign_id'))

    op.drop_table('recommend_conversions')
    with op.batch_alter_table('signals', schema=None) as batch_op:
        batch_op.drop_index('ix_signals_user_at')

    op.drop_table('signals')
    with op.batch_alter_table('search_queries', schema=None) as batch_op:
        batch_op.drop_index('ix_search_queries_user_at')

    op.drop_table('search_queries')
    op.drop_table('recommendations')
    with op.batch_alter_table('recommend_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recommend_runs_status'))

    op.drop_table('recommend_runs')
