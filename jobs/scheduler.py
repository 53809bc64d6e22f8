"""Scheduled jobs on APScheduler's AsyncIOScheduler, run by one leader among the scheduler processes.

Jobs recompute their due work from stored state (no in-memory timers), so a
restart never loses or repeats work. Each run takes a short lock in the
shared key-value store, so two scheduler processes never run the same job at
the same moment, and only the process holding the leader lock
(:mod:`jobs.leader`) runs a scheduler at all (:class:`LeadingScheduler`).

Persisted schedule. The jobs are defined here, in code; what is persisted is
*when* each one ran and is due next (table ``job_runs``, through the app's own
async database engine). :func:`start_scheduler` restores those times before
starting, so a job keeps its cadence across restarts and leader changes, and a
run that fell due while no scheduler was up fires once at start (coalesced,
with no misfire limit) — what APScheduler's ``SQLAlchemyJobStore`` would give,
without its costs here: it needs a synchronous driver (a second PostgreSQL
driver, and blocking queries on the event loop; on SQLite a second writer to
the same file that can stall the loop behind the app's transactions), it
pickles each job's callable and arguments (our jobs close over the unit of
work, the clock and the key-value store, and a pickled reference breaks when
code moves), and APScheduler 3 does not support several schedulers sharing
one job store.

Times: interval jobs don't depend on a timezone (the scheduler runs in UTC);
the daily rollup and the weekly push use cron triggers in the default
timezone (``DEFAULT_TIMEZONE``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.clock import Clock
from core.config import Settings
from core.ports import CommunityGateway, KeyValueStore, Notifier, UnitOfWorkFactory
from core.purchasing import expire_orders
from core.reconciliation import Ledger
from core.users import DEFAULT_TIMEZONE
from jobs.analytics import rollup_missing
from jobs.community import sweep_communities
from jobs.drip import plan_drip
from jobs.leader import LeaderLock
from jobs.reconcile import reconcile_stars
from jobs.reminders import plan_reminders
from jobs.subscriptions import end_lapsed_subscriptions
from storage.jobs_repo import SqlJobRuns, session_of

__all__ = [
    "ANALYTICS_AT",
    "COMMUNITY_INTERVAL_S",
    "DRIP_INTERVAL_S",
    "RECOMMEND_AT",
    "RECONCILE_TICK_S",
    "REMINDERS_INTERVAL_S",
    "SUBSCRIPTIONS_INTERVAL_S",
    "LeadingScheduler",
    "RecommendationPush",
    "RecommendationRefit",
    "build_scheduler",
    "run_expire_orders",
    "start_scheduler",
]

SUBSCRIPTIONS_INTERVAL_S = 10 * 60
WECHAT_PAY_INTERVAL_S = 300
COMMUNITY_INTERVAL_S = 30 * 60
DRIP_INTERVAL_S = 5 * 60
REMINDERS_INTERVAL_S = 60 * 60
#: The daily rollup runs at this local time (hour, minute) in the default timezone, for the day before.
ANALYTICS_AT = (0, 15)
#: The weekly recommendation push: day of week, hour (default timezone).
RECOMMEND_AT = ("mon", 10)
#: A cron job's lock outlives a process that died mid-run by this much at most (it is renewed while
#: the job runs); interval jobs use 90 % of their interval.
CRON_LOCK_S = 60

#: The recommendation issue's weekly push: called with the run's time, returns how many messages it queued.
RecommendationPush = Callable[[datetime], Awaitable[int]]
#: The recommendation refit (:func:`jobs.recommend.scheduled_refit`): called with ``only_if_stale`` (True for the
#: catch-up at start: refit only when nothing is live or it is a day old), returns how many users it refitted.
RecommendationRefit = Callable[[bool], Awaitable[int]]
#: How often the scheduler asks whether reconciliation is due (it runs once per ``reconcile_hours``).
RECONCILE_TICK_S = 10 * 60
_DEFAULTS = Settings.model_fields

log = logging.getLogger(__name__)


async def run_expire_orders(uow_factory: UnitOfWorkFactory, clock: Clock) -> int:
    """Expire every pending order past its deadline, in batches."""
    total = 0
    while True:
        async with uow_factory() as uow:
            n = await expire_orders(uow, clock.now(), limit=500)
            await uow.commit()
        total += n
        if n < 500:
            return total


def _locked(
    kv: KeyValueStore, name: str, ttl: float, job: Callable[[], Awaitable[int]], *, lock: str | None = None
) -> Callable[[], Awaitable[None]]:
    """``job`` under the key-value lock ``job:<lock>`` (``lock`` defaults to the job's ``name``).

    The lock is renewed every ``ttl / 3`` while the job runs, so a long run keeps it and a process
    that dies mid-run (or is stopped before it could release it) blocks the job for ``ttl`` at most.
    """
    key = f"job:{lock or name}"

    async def keep(token: str) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                if not await kv.renew_lock(key, token, ttl):
                    log.warning("job %s: its lock expired while it ran", name)
                    return
            except Exception:
                log.warning("job %s: renewing its lock failed", name, exc_info=True)

    async def run() -> None:
        token = await kv.acquire_lock(key, ttl)
        if token is None:
            return  # another scheduler is running it right now
        heartbeat = asyncio.ensure_future(keep(token))
        try:
            n = await job()
            if n:
                log.info("job %s: %d items", name, n)
        except Exception:
            log.exception("job %s failed", name)
        finally:
            heartbeat.cancel()
            await kv.release_lock(key, token)

    return run


def _due(
    kv: KeyValueStore, name: str, period: timedelta, job: Callable[[], Awaitable[int]]
) -> Callable[[], Awaitable[int]]:
    """Run ``job`` at most once per ``period``, remembered in the shared store rather than in a timer.

    A long period (reconciliation: a day) would never come round on an interval timer in a process
    restarted more often than that; checked every few minutes against a key that expires after
    ``period``, it runs soon after a start and then once per period, across restarts and processes.
    """

    async def run() -> int:
        token = await kv.acquire_lock(f"job-due:{name}", period.total_seconds())
        if token is None:
            return 0  # it ran less than ``period`` ago
        try:
            return await job()
        except BaseException:
            await kv.release_lock(f"job-due:{name}", token)  # failed: due again at the next tick
            raise

    return run


def build_scheduler(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    kv: KeyValueStore,
    *,
    notifier: Notifier | None = None,
    community: CommunityGateway | None = None,
    ledger: Ledger | None = None,
    settings: Settings | None = None,
    interval_s: int = 60,
    wechat_pay: Callable[[], Awaitable[int]] | None = None,
    deliver_on: Collection[str] = (),
    rollup: bool = False,
    recommend: RecommendationPush | None = None,
    refit: RecommendationRefit | None = None,
) -> AsyncIOScheduler:
    """The scheduler with every job this deployment can run, each under its own key-value lock.

    * ``expire-orders`` every ``interval_s``;
    * ``subscriptions-lapse`` every 10 minutes;
    * ``community-sweep`` every 30 minutes, when a ``community`` gateway is given (grace and dry run
      from ``settings.community_grace_hours`` / ``community_dry_run``);
    * ``reconcile-stars`` once every ``settings.reconcile_hours`` over that many hours, when a
      ``ledger`` is given;
    * ``reconcile-wechat-pay`` every 5 minutes, when ``wechat_pay`` (the WeChat pay desk's
      reconciliation: orderquery for pending orders, closeorder for expired ones) is given;
    * with ``deliver_on`` (the channels the delivery engine sends on: it sends what these record,
      each to the learner's identity on one of them): ``drip`` every 5 minutes
      (:func:`jobs.drip.plan_drip`) and ``membership-reminders`` hourly
      (:func:`jobs.reminders.plan_reminders`; members of a paid community are left to the
      community sweep when it runs);
    * with ``rollup``: ``analytics-rollup`` daily at 00:15 in the default timezone and
      ``analytics-catch-up`` once at start (:func:`jobs.analytics.rollup_missing`, both under one lock);
    * ``recommendation-push`` weekly (Monday 10:00, default timezone), when ``recommend`` is given (day and
      hour from ``settings.recommend_push_day`` / ``recommend_push_hour``);
    * ``recommendation-refit`` nightly (``settings.recommend_refit_cron``, default timezone) and
      ``recommendation-refit-catch-up`` once at start (only if nothing is live, or it is a day old), both
      under one lock, when ``refit`` is given.

    Every job coalesces missed runs into one and has no misfire limit: a late run still does its
    work (:func:`start_scheduler` restores persisted run times). ``notifier`` sends reminders and
    admin reports; without one they are logged and dropped. ``settings`` None: the defaults of
    :class:`core.config.Settings`.
    """
    grace_h: int = settings.community_grace_hours if settings else _DEFAULTS["community_grace_hours"].default
    dry_run: bool = settings.community_dry_run if settings else _DEFAULTS["community_dry_run"].default
    reconcile_h: int = settings.reconcile_hours if settings else _DEFAULTS["reconcile_hours"].default
    tz: str = settings.default_timezone if settings else DEFAULT_TIMEZONE
    scheduler = AsyncIOScheduler(timezone="UTC", job_defaults={"misfire_grace_time": None, "coalesce": True})

    def add(name: str, every_s: int, job: Callable[[], Awaitable[int]]) -> None:
        scheduler.add_job(
            _locked(kv, name, every_s * 0.9, job),
            IntervalTrigger(seconds=every_s, timezone=UTC),
            id=name,
            name=name,
            max_instances=1,
        )

    def add_cron(name: str, trigger: BaseTrigger, job: Callable[[], Awaitable[int]], **kw: Any) -> None:
        func = _locked(kv, name, CRON_LOCK_S, job, lock=kw.pop("lock", None))
        scheduler.add_job(func, trigger, id=name, name=name, max_instances=1, **kw)

    add("expire-orders", interval_s, lambda: run_expire_orders(uow_factory, clock))
    add("subscriptions-lapse", SUBSCRIPTIONS_INTERVAL_S, lambda: end_lapsed_subscriptions(uow_factory, clock.now()))
    if community is not None:
        gateway = community

        async def sweep() -> int:
            report = await sweep_communities(
                uow_factory, gateway, notifier, clock.now(), grace=timedelta(hours=grace_h), dry_run=dry_run
            )
            return report.count

        add("community-sweep", COMMUNITY_INTERVAL_S, sweep)
    if ledger is not None:
        stars = ledger
        period = timedelta(hours=reconcile_h)

        async def reconcile() -> int:
            return len(await reconcile_stars(uow_factory, stars, notifier, clock.now(), window=period))

        add("reconcile-stars", RECONCILE_TICK_S, _due(kv, "reconcile-stars", period, reconcile))
    if wechat_pay is not None:
        add("reconcile-wechat-pay", WECHAT_PAY_INTERVAL_S, wechat_pay)
    if deliver_on:
        channels, skip_members = frozenset(deliver_on), community is not None
        add("drip", DRIP_INTERVAL_S, lambda: plan_drip(uow_factory, clock, channels=channels))
        add(
            "membership-reminders",
            REMINDERS_INTERVAL_S,
            lambda: plan_reminders(uow_factory, clock, skip_community_members=skip_members, channels=channels),
        )
    if rollup:

        async def analytics() -> int:
            return await rollup_missing(uow_factory, clock, tz)

        hour, minute = ANALYTICS_AT
        add_cron("analytics-rollup", CronTrigger(hour=hour, minute=minute, timezone=tz), analytics, lock="analytics")
        add_cron("analytics-catch-up", DateTrigger(timezone=UTC), analytics, lock="analytics")
    if recommend is not None:
        push = recommend
        day, hour = (settings.recommend_push_day, settings.recommend_push_hour) if settings else RECOMMEND_AT
        weekly = CronTrigger(day_of_week=day, hour=hour, timezone=tz)
        add_cron("recommendation-push", weekly, lambda: push(clock.now()))
    if refit is not None:
        fit = refit
        cron: str = settings.recommend_refit_cron if settings else _DEFAULTS["recommend_refit_cron"].default
        lock = "recommendation-refit"  # the CLI's --refit takes it too (jobs.recommend.REFIT_LOCK)
        add_cron("recommendation-refit", CronTrigger.from_crontab(cron, timezone=tz), lambda: fit(False), lock=lock)
        add_cron("recommendation-refit-catch-up", DateTrigger(timezone=UTC), lambda: fit(True), lock=lock)
    return scheduler


# -- the persisted schedule -------------------------------------------------------------------------


async def start_scheduler(scheduler: AsyncIOScheduler, uow_factory: UnitOfWorkFactory) -> None:
    """Restore each job's persisted next run time, record run times from now on, and start.

    A persisted time earlier than the trigger's own next one wins (it was missed: it fires at
    once, coalesced into one run); a later one never delays a job past its current schedule.
    One-off jobs (a date trigger) are not persisted. Times are APScheduler's (the real clock).
    """
    async with uow_factory() as uow:
        runs = await SqlJobRuns(session_of(uow)).load()
    now = datetime.now(UTC)
    for job in scheduler.get_jobs():
        stored = runs.get(job.id)
        if isinstance(job.trigger, DateTrigger) or stored is None or stored.next_run_at is None:
            continue
        natural = job.trigger.get_next_fire_time(None, now)
        if natural is not None and stored.next_run_at < natural:
            job.modify(next_run_time=stored.next_run_at)
            log.info("job %s was due at %s: it runs now", job.id, stored.next_run_at.isoformat())
    pending: set[asyncio.Task[None]] = set()

    async def save(job_id: str, ran: datetime, next_at: datetime | None) -> None:
        try:
            async with uow_factory() as uow:
                await SqlJobRuns(session_of(uow)).save(
                    job_id, last_run_at=ran, next_run_at=next_at, now=datetime.now(UTC)
                )
                await uow.commit()
        except Exception:
            log.exception("recording the run of job %s failed", job_id)

    def ran(event: JobExecutionEvent) -> None:
        job = scheduler.get_job(event.job_id)
        if job is None or isinstance(job.trigger, DateTrigger):
            return
        task = asyncio.ensure_future(save(event.job_id, event.scheduled_run_time, job.next_run_time))
        pending.add(task)
        task.add_done_callback(pending.discard)

    scheduler.add_listener(ran, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()


class LeadingScheduler:
    """A scheduler that runs only while this process is the leader (:class:`jobs.leader.LeaderLock`).

    Each time the process becomes the leader it builds a fresh scheduler with ``build`` and starts
    it with the persisted run times (:func:`start_scheduler`); when it loses the lead, that
    scheduler is shut down at once (a job already running finishes, under its own lock).
    ``shutdown`` matches APScheduler's, so ``bot.py`` stops it like a scheduler.
    """

    def __init__(
        self,
        build: Callable[[], AsyncIOScheduler],
        uow_factory: UnitOfWorkFactory,
        kv: KeyValueStore,
        *,
        name: str = "scheduler",
        ttl: float = 15.0,
        retry: float = 2.0,
    ) -> None:
        self.build = build
        self.uow_factory = uow_factory
        self.lock = LeaderLock(kv, name, ttl=ttl, retry=retry, on_elected=self._elected, on_deposed=self._deposed)
        self.scheduler: AsyncIOScheduler | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try to lead at once (a single process starts its jobs before this returns), then keep trying."""
        try:
            leading = await self.lock.attempt()
        except Exception:
            log.exception("leader lock: the key-value store failed; retrying")
            leading = False
        if not leading:
            log.info("scheduler on standby: another process is the leader; taking over if it stops")
        self._task = asyncio.ensure_future(self.lock.run(self._stop))

    def shutdown(self, wait: bool = False) -> None:
        """Stop firing now; the lock is released in the background (it expires by itself anyway)."""
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=wait)
            self.scheduler = None

    async def aclose(self) -> None:
        """Stop and wait until the lock is released."""
        self.shutdown()
        if self._task is not None:
            await self._task

    async def _elected(self) -> None:
        scheduler = self.build()
        await start_scheduler(scheduler, self.uow_factory)
        self.scheduler = scheduler
        log.info("scheduler started: this process is the leader (%d jobs)", len(scheduler.get_jobs()))

    async def _deposed(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
            log.warning("scheduler stopped: this process is no longer the leader")
