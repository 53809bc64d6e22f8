"""Tables the scheduled jobs keep: the daily analytics rollup and the scheduler's run times.

They register in the same ``SQLModel.metadata`` as :mod:`storage.tables`
(``storage/__init__`` imports this module, so whoever imports the metadata
sees them, migrations and the schema test included). Neither holds a user
reference: the rollup stores counts only, so privacy export and delete have
nothing to do here.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Date, DateTime
from sqlmodel import Field, SQLModel

from storage import tables as _tables  # noqa: F401  (the naming convention and the shared metadata come first)

__all__ = ["DailyStatRow", "JobRunRow"]


class DailyStatRow(SQLModel, table=True):
    """One number of one day (in the default timezone): ``metric`` split by ``dimension``.

    ``dimension`` is "" for plain counts, a currency for money ("revenue", "CNY"), a status for
    deliveries ("deliveries", "sent"). Re-running a day replaces all of its rows.
    """

    __tablename__ = "daily_stats"
    day: date = Field(sa_column=Column(Date, primary_key=True))
    metric: str = Field(max_length=32, primary_key=True)
    dimension: str = Field(default="", max_length=32, primary_key=True, sa_column_kwargs={"server_default": ""})
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class JobRunRow(SQLModel, table=True):
    """When each scheduled job ran last and is due next, so a restart or a new leader keeps the cadence
    and a run missed during downtime fires once at start (see :mod:`jobs.scheduler`)."""

    __tablename__ = "job_runs"
    job_id: str = Field(max_length=64, primary_key=True)
    last_run_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    next_run_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
