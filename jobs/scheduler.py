"""Scheduled jobs on APScheduler's AsyncIOScheduler.

Jobs recompute their due work from stored state (no in-memory timers), so a
restart never loses or repeats work. Each run takes a short lock in the
shared key-value store, so two scheduler processes never run the same job at
the same moment (issue 5 adds leader election and a persisted job store).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.clock import Clock
from core.ports import KeyValueStore, UnitOfWorkFactory
from core.purchasing import expire_orders

__all__ = ["build_scheduler", "run_expire_orders"]

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


def build_scheduler(
    uow_factory: UnitOfWorkFactory, clock: Clock, kv: KeyValueStore, *, interval_s: int = 60
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        _locked(kv, "expire-orders", interval_s * 0.9, lambda: run_expire_orders(uow_factory, clock)),
        "interval",
        seconds=interval_s,
        id="expire-orders",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
