"""The issue-5 jobs in the scheduler (drip, reminders, analytics, the recommendation hook) and the
persisted schedule: run times survive a restart, and a run missed while down fires once at start."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from support import new_user

import bot
from core.clock import FrozenClock
from core.config import Settings
from jobs.scheduler import build_scheduler, start_scheduler
from storage.jobs_repo import JobRun, SqlJobRuns, session_of
from storage.stats_repo import SqlStats


def ids(scheduler: AsyncIOScheduler) -> list[str]:
    return sorted(job.id for job in scheduler.get_jobs())


async def test_the_new_jobs_and_their_schedules(demo: bot.App, settings: Settings) -> None:
    pushed: list[datetime] = []

    async def recommend(now: datetime) -> int:
        pushed.append(now)
        return 0

    ny = settings.model_copy(update={"default_timezone": "America/New_York"})
    scheduler = build_scheduler(demo.uow, demo.clock, demo.kv, settings=ny, deliver_on=("console",), rollup=True)
    assert ids(scheduler) == [
        "analytics-catch-up",
        "analytics-rollup",
        "drip",
        "expire-orders",
        "membership-reminders",
        "subscriptions-lapse",
    ]
    assert scheduler.get_job("drip").trigger.interval == timedelta(minutes=5)
    assert scheduler.get_job("membership-reminders").trigger.interval == timedelta(hours=1)
    daily = scheduler.get_job("analytics-rollup").trigger
    assert isinstance(daily, CronTrigger) and str(daily.timezone) == "America/New_York"
    after = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert daily.get_next_fire_time(None, after) == datetime(2026, 3, 3, 5, 15, tzinfo=UTC)  # 00:15 EST
    assert isinstance(scheduler.get_job("analytics-catch-up").trigger, DateTrigger)  # once, at start

    scheduler = build_scheduler(demo.uow, demo.clock, demo.kv, settings=settings, recommend=recommend)
    assert "recommendation-push" in ids(scheduler) and "drip" not in ids(scheduler)
    weekly = scheduler.get_job("recommendation-push").trigger
    monday = weekly.get_next_fire_time(None, after)  # Monday 2 March 2026, 10:00 in Shanghai, has passed
    assert monday == datetime(2026, 3, 9, 2, tzinfo=UTC)
    await scheduler.get_job("recommendation-push").func()
    assert pushed == [demo.clock.now()]


async def test_each_job_runs_under_its_lock(demo: bot.App, clock: FrozenClock) -> None:
    await new_user(demo, "ann")
    scheduler = build_scheduler(demo.uow, clock, demo.kv, deliver_on=("console",), rollup=True)
    for job_id in ("drip", "membership-reminders"):
        await scheduler.get_job(job_id).func()  # nothing due, and nothing fails
    clock.advance(timedelta(days=2))
    token = await demo.kv.acquire_lock("job:analytics", 60)  # the catch-up is running elsewhere
    assert token is not None
    await scheduler.get_job("analytics-rollup").func()
    assert await last_rolled_up(demo) is None  # skipped: the two analytics jobs share one lock
    await demo.kv.release_lock("job:analytics", token)
    await scheduler.get_job("analytics-rollup").func()
    assert await last_rolled_up(demo) == date(2026, 3, 3)  # yesterday, in Shanghai


async def last_rolled_up(app: bot.App) -> date | None:
    async with app.uow() as uow:
        return await SqlStats(session_of(uow)).last_rolled_up()


async def stored_runs(app: bot.App) -> dict[str, JobRun]:
    async with app.uow() as uow:
        return await SqlJobRuns(session_of(uow)).load()


async def test_a_run_missed_while_down_fires_once_at_start_and_the_cadence_is_kept(
    app: bot.App, clock: FrozenClock
) -> None:
    now = datetime.now(UTC)
    missed = now - timedelta(hours=2, minutes=30)  # due then, and twice more since: one run makes up for all
    async with app.uow() as uow:
        runs = SqlJobRuns(session_of(uow))
        await runs.save("expire-orders", last_run_at=missed - timedelta(hours=1), next_run_at=missed, now=now)
        await runs.save("subscriptions-lapse", last_run_at=now, next_run_at=now + timedelta(hours=5), now=now)
        await uow.commit()
    scheduler = build_scheduler(app.uow, clock, app.kv, interval_s=3600)
    ran: list[str] = []
    scheduler.add_listener(lambda event: ran.append(event.job_id), EVENT_JOB_EXECUTED)
    await start_scheduler(scheduler, app.uow)
    try:
        for _ in range(200):
            if ran and (await stored_runs(app))["expire-orders"].last_run_at != missed - timedelta(hours=1):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert ran == ["expire-orders"]  # once, although three runs were missed
        run = (await stored_runs(app))["expire-orders"]
        assert run.last_run_at == missed + timedelta(hours=2)  # the latest missed time, coalesced
        assert run.next_run_at == missed + timedelta(hours=3)  # the hourly cadence goes on from it
        lapse = scheduler.get_job("subscriptions-lapse").next_run_time
        assert lapse <= now + timedelta(minutes=10, seconds=5)  # a stored later time never delays a job
    finally:
        scheduler.shutdown(wait=False)

    again = build_scheduler(app.uow, clock, app.kv, interval_s=3600)  # a restart, or another leader
    await start_scheduler(again, app.uow)
    try:
        assert again.get_job("expire-orders").next_run_time == missed + timedelta(hours=3)
    finally:
        again.shutdown(wait=False)


async def test_a_long_run_keeps_its_job_lock_and_gives_it_back(demo: bot.App) -> None:
    from jobs.scheduler import _locked

    async def slow() -> int:
        await asyncio.sleep(0.6)
        return 0

    run = asyncio.ensure_future(_locked(demo.kv, "slow", 0.3, slow)())
    await asyncio.sleep(0.45)  # past the lock's first ttl: renewed meanwhile, so still held
    assert await demo.kv.acquire_lock("job:slow", 5) is None
    await run
    assert await demo.kv.acquire_lock("job:slow", 5) is not None  # released at the end
