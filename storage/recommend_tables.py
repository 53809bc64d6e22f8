"""Tables of the recommendations (issue 6): signals, the precomputed top-N, and the weekly push's outcomes.

They register in the same ``SQLModel.metadata`` as :mod:`storage.tables`
(``storage/__init__`` imports this module). Every table holding a user
reference has a ``user_id`` column, so privacy export and delete (issue 8)
find them:

* ``signals`` and ``search_queries``: what a learner did (append-only), the
  recommender's input;
* ``recommend_runs`` and ``recommendations``: one refit of the models and its
  top-N per user; serving reads the rows of the one ``live`` run;
* ``recommend_pushes`` and ``recommend_conversions``: which courses a weekly
  push showed to whom, and purchases attributed to a press of one of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Float, Index, Text
from sqlmodel import Field, SQLModel

from storage import tables as _tables  # noqa: F401  (the naming convention and the shared metadata come first)

__all__ = [
    "RecommendConversionRow",
    "RecommendPushRow",
    "RecommendRunRow",
    "RecommendationRow",
    "SearchQueryRow",
    "SignalRow",
]


def _ts(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


class SignalRow(SQLModel, table=True):
    """Implicit feedback: a learner viewed, bought, completed a lesson of, or liked a course (append-only)."""

    __tablename__ = "signals"
    __table_args__ = (Index("ix_signals_user_at", "user_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    course_id: int = Field(foreign_key="courses.id")
    kind: str = Field(max_length=16)  # a core.recommend.Signal value
    at: datetime = Field(sa_column=_ts())


class SearchQueryRow(SQLModel, table=True):
    """What a learner searched for (append-only): recent queries steer their recommendations."""

    __tablename__ = "search_queries"
    __table_args__ = (Index("ix_search_queries_user_at", "user_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    query: str = Field(max_length=200)
    at: datetime = Field(sa_column=_ts())


class RecommendRunRow(SQLModel, table=True):
    """One refit of the models. ``building`` while its rows are written; then ``live`` (exactly one run is),
    and the previous live run ``superseded``; ``failed`` if it stopped half-way. Rows of any run that is not
    live (or still building) are deleted after the switch."""

    __tablename__ = "recommend_runs"
    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(max_length=16, index=True)
    as_of: datetime = Field(sa_column=_ts())  # the signals up to this moment were fitted
    started_at: datetime = Field(sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    users: int = Field(default=0)  # users with a top-N
    courses: int = Field(default=0)
    interactions: int = Field(default=0)
    fit_ms: int = Field(default=0)
    # The cold-start list (popular and new courses) for users with no rows: [[course, score, reason, anchor], ...]
    fallback: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    # The tokens of each course by content hash (core.recommend.TokenCache), so the next refit re-tokenizes
    # only courses that changed. Kept on the live run only.
    tokens: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str = Field(default="", max_length=200)


class RecommendationRow(SQLModel, table=True):
    """One course of a user's precomputed top-N of a run; the primary key serves "the top N of one user"."""

    __tablename__ = "recommendations"
    run_id: int = Field(foreign_key="recommend_runs.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    rank: int = Field(primary_key=True)
    course_id: int
    score: float = Field(sa_column=Column(Float, nullable=False))
    reason: str = Field(max_length=16)  # a core.recommend.ReasonKind value
    anchor_id: int | None = Field(default=None)  # the course of the user's history it relates to


class RecommendPushRow(SQLModel, table=True):
    """Course ``course_id`` was button ``rank`` of the recommendation push ``campaign_id`` to ``user_id``.

    Written when the push is rendered, right before it is sent; a press of that button is a
    ``campaign_clicks`` row with ``button = rank``.
    """

    __tablename__ = "recommend_pushes"
    __table_args__ = (Index("ix_recommend_pushes_user_course", "user_id", "course_id"),)
    campaign_id: int = Field(foreign_key="campaigns.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    rank: int = Field(primary_key=True)
    course_id: int = Field(foreign_key="courses.id")
    at: datetime = Field(sa_column=_ts())


class RecommendConversionRow(SQLModel, table=True):
    """A course purchase attributed to a push: the buyer pressed that course in a push shortly before."""

    __tablename__ = "recommend_conversions"
    order_id: int = Field(foreign_key="orders.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    course_id: int = Field(foreign_key="courses.id")
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    clicked_at: datetime = Field(sa_column=_ts())
    at: datetime = Field(sa_column=_ts())
