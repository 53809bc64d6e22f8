"""The daily analytics rollup: one row per day, metric and dimension in ``daily_stats``, that stats build on.

A *day* is a calendar day in the default timezone (``DEFAULT_TIMEZONE``), as
an operator in that timezone reads a report. For each day it stores:

===================  ===========  ==========================================================
metric               dimension    value
===================  ===========  ==========================================================
new_users            ""           users created that day
active_learners      ""           learners whose progress was touched (delivered, completed)
lessons_delivered    ""           lessons delivered (by /next, a lesson button or the drip)
lessons_completed    ""           lessons marked done
orders_paid          currency     orders paid
revenue              currency     money of the charges that paid for something (renewals too)
refunds              currency     orders refunded
refunded_amount      currency     their amount
deliveries           status       delivery rows sent (or last due) that day, by status
rolled_up            ""           1: the day was rolled up (so an empty day is not redone)
===================  ===========  ==========================================================

Re-running a day replaces its rows in one transaction, so the job is
idempotent. The scheduler runs :func:`rollup_missing` at 00:15 every day and
once at start: it rolls up every day since the last one rolled up, up to
yesterday, so days missed while the scheduler was down are caught up.

"Active learners" counts progress rows touched that day; a learner's row
keeps only its last touch, so re-running an old day may count a little
fewer than the run made at the time did.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.clock import Clock
from core.ports import UnitOfWorkFactory
from storage.jobs_repo import session_of
from storage.stats_repo import SqlStats

__all__ = ["MAX_CATCH_UP_DAYS", "day_bounds", "rollup_day", "rollup_missing"]

log = logging.getLogger(__name__)

#: At most this many days are caught up in one run (a first run over a long history).
MAX_CATCH_UP_DAYS = 400


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC interval ``[start, end)`` of local ``day`` in ``tz`` (23 or 25 hours on DST days)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def rollup_day(uow_factory: UnitOfWorkFactory, day: date, tz: str) -> dict[tuple[str, str], int]:
    """Compute and store one day (replacing what was stored); returns its numbers."""
    start, end = day_bounds(day, tz)
    async with uow_factory() as uow:
        stats = SqlStats(session_of(uow))
        values = await stats.compute(start, end)
        await stats.replace_day(day, values)
        await uow.commit()
    return {(m, d): v for m, d, v in values}


async def rollup_missing(uow_factory: UnitOfWorkFactory, clock: Clock, tz: str) -> int:
    """Roll up every complete day not rolled up yet (after the last one that was), oldest first.

    Returns how many days were rolled up. The first run starts at the day of the first user.
    """
    yesterday = clock.now().astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
    async with uow_factory() as uow:
        stats = SqlStats(session_of(uow))
        last = await stats.last_rolled_up()
        first = await stats.first_activity()
    if last is not None:
        day = last + timedelta(days=1)
    elif first is not None:
        day = first.astimezone(ZoneInfo(tz)).date()
    else:
        return 0  # nobody has ever used the bot: nothing to count
    day = max(day, yesterday - timedelta(days=MAX_CATCH_UP_DAYS - 1))
    done = 0
    while day <= yesterday:
        await rollup_day(uow_factory, day, tz)
        done += 1
        day += timedelta(days=1)
    if done:
        log.info("analytics: rolled up %d day(s), up to %s", done, yesterday)
    return done
