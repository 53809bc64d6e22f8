"""The scheduled order-expiry job works from stored state, in batches, and takes a lock."""

from __future__ import annotations

from datetime import timedelta

import bot
from core.accounts import ensure_user
from core.clock import FrozenClock
from core.events import Sender
from core.orders import OrderStatus
from core.purchasing import start_checkout
from core.users import Ref
from jobs.scheduler import build_scheduler, run_expire_orders


async def test_pending_orders_expire_after_their_deadline(demo: bot.App, clock: FrozenClock) -> None:
    codes = []
    async with demo.uow() as uow:
        for i in range(3):
            user, _ = await ensure_user(uow, Sender(Ref.parse(f"console:buyer{i}")), now=clock.now(), timezone="UTC")
            checkout = await start_checkout(
                uow,
                user,
                "python-basics",
                provider="sandbox",
                currencies=None,
                now=clock.now(),
                ttl=timedelta(minutes=30),
            )
            codes.append(checkout.order.code)
        await uow.commit()
    clock.advance(timedelta(minutes=29))
    assert await run_expire_orders(demo.uow, clock) == 0
    clock.advance(timedelta(minutes=2))
    assert await run_expire_orders(demo.uow, clock) == 3
    assert await run_expire_orders(demo.uow, clock) == 0  # nothing left to do; restart-safe
    async with demo.uow() as uow:
        for code in codes:
            order = await uow.orders.get_by_code(code)
            assert order is not None and order.status is OrderStatus.EXPIRED
            kinds = [k.value for k, _ in await uow.orders.events(order.id)]
            assert kinds == ["created", "expired"]


async def test_scheduler_registers_the_job(demo: bot.App) -> None:
    scheduler = build_scheduler(demo.uow, demo.clock, demo.kv, interval_s=60)
    assert "expire-orders" in [job.id for job in scheduler.get_jobs()]  # with the other jobs (test_scheduler_jobs)
