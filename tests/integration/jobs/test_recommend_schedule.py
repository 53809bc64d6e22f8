"""The recommendation jobs in the scheduler: the refit nightly and once at start when stale, the push on the
configured day and hour, both in the default timezone; the refit's catch-up does nothing when a fresh
refit is live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from recommend_support import buy
from support import new_user

import bot
from core.clock import FrozenClock
from core.config import Settings
from jobs.recommend import scheduled_refit
from jobs.recommend_push import scheduled_push
from jobs.scheduler import build_scheduler
from storage.jobs_repo import session_of
from storage.recommend_jobs_repo import SqlRecommendJobs

AFTER = datetime(2026, 3, 2, 12, tzinfo=UTC)


async def live_run_id(app: bot.App) -> int | None:
    async with app.uow() as uow:
        run = await SqlRecommendJobs(session_of(uow)).live_run()
    return run.id if run is not None else None


async def test_refit_nightly_and_at_start_when_stale(demo: bot.App, settings: Settings, clock: FrozenClock) -> None:
    await buy(demo, await new_user(demo, "ann"), "python-basics")
    refit = scheduled_refit(demo.uow, clock, demo.services.recommender, settings)
    scheduler = build_scheduler(demo.uow, clock, demo.kv, settings=settings, refit=refit)
    nightly = scheduler.get_job("recommendation-refit").trigger
    assert isinstance(nightly, CronTrigger)
    assert nightly.get_next_fire_time(None, AFTER) == datetime(2026, 3, 2, 19, 30, tzinfo=UTC)  # 03:30 Shanghai
    assert isinstance(scheduler.get_job("recommendation-refit-catch-up").trigger, DateTrigger)

    await scheduler.get_job("recommendation-refit-catch-up").func()  # at start, nothing live: it refits
    first = await live_run_id(demo)
    assert first is not None and demo.services.recommender.run_id == first
    await scheduler.get_job("recommendation-refit-catch-up").func()  # a restart an hour later: still fresh
    assert await live_run_id(demo) == first
    await scheduler.get_job("recommendation-refit").func()  # the nightly run always refits
    assert (await live_run_id(demo) or 0) > first
    clock.advance(timedelta(days=2))  # the scheduler was down for two nights
    second = await live_run_id(demo)
    await scheduler.get_job("recommendation-refit-catch-up").func()
    assert (await live_run_id(demo) or 0) > (second or 0)


async def test_the_push_day_and_hour_are_configurable(demo: bot.App, settings: Settings) -> None:
    thursday = settings.model_copy(
        update={"recommend_push_day": "thu", "recommend_push_hour": 18, "recommend_refit_cron": "0 */6 * * *"}
    )
    push = scheduled_push(demo.uow, thursday, ["console"])
    refit = scheduled_refit(demo.uow, demo.clock, None, thursday)
    scheduler = build_scheduler(demo.uow, demo.clock, demo.kv, settings=thursday, recommend=push, refit=refit)
    weekly = scheduler.get_job("recommendation-push").trigger
    assert weekly.get_next_fire_time(None, AFTER) == datetime(2026, 3, 5, 10, tzinfo=UTC)  # Thu 18:00 Shanghai
    every6h = scheduler.get_job("recommendation-refit").trigger
    assert every6h.get_next_fire_time(None, AFTER) == datetime(2026, 3, 2, 16, tzinfo=UTC)  # 00:00 Shanghai
    await scheduler.get_job("recommendation-push").func()  # nothing live yet: nothing pushed, nothing fails
