"""Scheduled jobs on APScheduler's AsyncIOScheduler.

Jobs recompute their due work from stored state (no in-memory timers), so a
restart never loses or repeats work. Each run takes a short lock in the
shared key-value store, so two scheduler processes never run the same job at
the same moment (issue 5 adds leader election and a persisted job store).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.clock import Clock
from core.config import Settings
from core.ports import CommunityGateway, KeyValueStore, Notifier, UnitOfWorkFactory
from core.purchasing import expire_orders
from core.reconciliation import Ledger
from jobs.community import sweep_communities
from jobs.reconcile import reconcile_stars
from jobs.subscriptions import end_lapsed_subscriptions

__all__ = [
    "COMMUNITY_INTERVAL_S",
    "RECONCILE_TICK_S",
    "SUBSCRIPTIONS_INTERVAL_S",
    "build_scheduler",
    "run_expire_orders",
]

SUBSCRIPTIONS_INTERVAL_S = 10 * 60
WECHAT_PAY_INTERVAL_S = 300
COMMUNITY_INTERVAL_S = 30 * 60
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
    kv: KeyValueStore, name: str, ttl: float, job: Callable[[], Awaitable[int]]
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        token = await kv.acquire_lock(f"job:{name}", ttl)
        if token is None:
            return  # another scheduler is running it right now
        try:
            n = await job()
            if n:
                log.info("job %s: %d items", name, n)
        except Exception:
            log.exception("job %s failed", name)
        finally:
            await kv.release_lock(f"job:{name}", token)

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
) -> AsyncIOScheduler:
    """The scheduler with every job this deployment can run, each under its own key-value lock.

    * ``expire-orders`` every ``interval_s``;
    * ``subscriptions-lapse`` every 10 minutes;
    * ``community-sweep`` every 30 minutes, when a ``community`` gateway is given (grace and dry run
      from ``settings.community_grace_hours`` / ``community_dry_run``);
    * ``reconcile-stars`` once every ``settings.reconcile_hours`` over that many hours, when a
      ``ledger`` is given;
    * ``reconcile-wechat-pay`` every 5 minutes, when ``wechat_pay`` (the WeChat pay desk's
      reconciliation: orderquery for pending orders, closeorder for expired ones) is given.

    ``notifier`` sends reminders and admin reports; without one they are logged and dropped.
    ``settings`` None: the defaults of :class:`core.config.Settings`.
    """
    grace_h: int = settings.community_grace_hours if settings else _DEFAULTS["community_grace_hours"].default
    dry_run: bool = settings.community_dry_run if settings else _DEFAULTS["community_dry_run"].default
    reconcile_h: int = settings.reconcile_hours if settings else _DEFAULTS["reconcile_hours"].default
    scheduler = AsyncIOScheduler(timezone="UTC")

    def add(name: str, every_s: int, job: Callable[[], Awaitable[int]]) -> None:
        scheduler.add_job(
            _locked(kv, name, every_s * 0.9, job),
            "interval",
            seconds=every_s,
            id=name,
            max_instances=1,
            coalesce=True,
        )

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
    return scheduler
