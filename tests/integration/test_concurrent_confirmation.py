"""Provider confirmations racing each other in separate units of work.

Telegram (and every other provider) may deliver the same confirmation twice,
at the same moment, to two workers; a buyer may also be charged twice for one
invoice. Whatever the interleaving, an order is paid once and grants once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text
from support import checkout, confirm, new_user

import bot
from core.clock import FrozenClock
from core.errors import UserFacingError
from core.orders import Order, OrderStatus, PaymentEventKind, PaymentOutcome
from core.purchasing import Confirmation, cancel_order, expire_orders
from core.users import User

PROVIDER = "sandbox"
ROUNDS = 3  # a few independent races per test, each on a fresh order

# These races found a real bug on SQLite: a locked read took no lock (SQLite ignores FOR UPDATE and
# Python's sqlite3 reads outside the transaction), so a second worker acted on a stale "pending" order.
# storage.orders_repo now takes the write lock before such a read; these tests keep it that way.


async def race(app: bot.App, order: Order, charge_a: str, charge_b: str) -> list[PaymentOutcome]:
    results = await asyncio.gather(confirm(app, order, charge_a), confirm(app, order, charge_b), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"a concurrent confirmation failed: {errors!r}"
    return sorted(r.outcome for r in results if isinstance(r, Confirmation))


async def scalar(app: bot.App, sql: str, **params: object) -> int:
    async with app.db.engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def state(app: bot.App, order: Order) -> tuple[OrderStatus, list[PaymentEventKind], int, int]:
    async with app.uow() as uow:
        stored = await uow.orders.get(order.id)
        events = [k for k, _ in await uow.orders.events(order.id)]
    assert stored is not None
    ents = await scalar(app, "SELECT COUNT(*) FROM entitlements WHERE order_id = :o", o=order.id)
    payments = await scalar(app, "SELECT COUNT(*) FROM payments WHERE order_id = :o", o=order.id)
    return stored.status, events, ents, payments


async def test_same_charge_twice_at_once_applies_exactly_once(demo: bot.App) -> None:
    for i in range(ROUNDS):
        user = await new_user(demo, timezone="UTC", name=f"twin{i}")
        order = await checkout(demo, user, "python-basics")
        outcomes = await race(demo, order, f"charge-{i}", f"charge-{i}")
        assert outcomes == sorted([PaymentOutcome.APPLIED, PaymentOutcome.DUPLICATE])
        status, events, ents, payments = await state(demo, order)
        assert status is OrderStatus.PAID
        assert events == [PaymentEventKind.CREATED, PaymentEventKind.CONFIRMED]
        assert ents == 1
        assert payments == 1


async def test_two_different_charges_at_once_apply_once_and_flag_the_extra(demo: bot.App) -> None:
    for i in range(ROUNDS):
        user = await new_user(demo, timezone="UTC", name=f"double{i}")
        order = await checkout(demo, user, "public-speaking")
        outcomes = await race(demo, order, f"first-{i}", f"second-{i}")
        assert outcomes == sorted([PaymentOutcome.APPLIED, PaymentOutcome.EXTRA])
        status, events, ents, payments = await state(demo, order)
        assert status is OrderStatus.PAID
        assert sorted(events) == sorted([PaymentEventKind.CREATED, PaymentEventKind.CONFIRMED, PaymentEventKind.EXTRA])
        assert ents == 1  # the buyer is charged twice but granted once; the extra goes to refunds
        assert payments == 2


async def test_plan_confirmed_twice_at_once_grants_one_period(demo: bot.App) -> None:
    user = await new_user(demo, "member")
    order = await checkout(demo, user, "all-access")
    outcomes = await race(demo, order, "plan-charge", "plan-charge")
    assert outcomes == sorted([PaymentOutcome.APPLIED, PaymentOutcome.DUPLICATE])
    async with demo.uow() as uow:
        ents = await uow.entitlements.for_user(user.id)
    assert [(e.starts_at, e.expires_at) for e in ents] == [(demo.clock.now(), demo.clock.now() + timedelta(days=30))]


async def test_plan_charged_twice_at_once_grants_one_period(demo: bot.App) -> None:
    user = await new_user(demo, "member2")
    order = await checkout(demo, user, "all-access")
    outcomes = await race(demo, order, "plan-a", "plan-b")
    assert outcomes == sorted([PaymentOutcome.APPLIED, PaymentOutcome.EXTRA])
    async with demo.uow() as uow:
        ents = await uow.entitlements.for_user(user.id)
    assert [e.expires_at for e in ents] == [demo.clock.now() + timedelta(days=30)]


async def expire_now(app: bot.App) -> int:
    async with app.uow() as uow:
        n = await expire_orders(uow, app.clock.now())
        await uow.commit()
    return n


async def cancel_now(app: bot.App, user: User, order: Order) -> OrderStatus:
    async with app.uow() as uow:
        cancelled = await cancel_order(uow, user, order.code, app.clock.now())
        await uow.commit()
    return cancelled.status


def consistent(outcome: PaymentOutcome, status: OrderStatus, events: list[PaymentEventKind], ents: int) -> bool:
    """Paid and granted exactly once, whether the payment won the race or arrived late (and was honoured)."""
    if outcome is PaymentOutcome.APPLIED:
        return status is OrderStatus.PAID and ents == 1 and events[-1] is PaymentEventKind.CONFIRMED
    return (
        outcome is PaymentOutcome.LATE
        and status is OrderStatus.PAID
        and ents == 1
        and events[-1] is PaymentEventKind.LATE
    )


async def test_confirmation_racing_the_expiry_job_is_paid_or_late(demo: bot.App) -> None:
    clock = demo.clock
    assert isinstance(clock, FrozenClock)
    for i in range(ROUNDS):
        user = await new_user(demo, timezone="UTC", name=f"slow{i}")
        order = await checkout(demo, user, "public-speaking")
        clock.advance(timedelta(minutes=31))  # past the deadline, the provider's confirmation arrives as the job runs
        results = await asyncio.gather(confirm(demo, order, f"slow-{i}"), expire_now(demo), return_exceptions=True)
        assert not [r for r in results if isinstance(r, BaseException)], results
        confirmation = results[0]
        assert isinstance(confirmation, Confirmation)
        status, events, ents, _ = await state(demo, order)
        assert consistent(confirmation.outcome, status, events, ents), (confirmation.outcome, status, events, ents)


async def test_confirmation_racing_a_cancel_is_paid_or_late(demo: bot.App) -> None:
    for i in range(ROUNDS):
        user = await new_user(demo, timezone="UTC", name=f"undecided{i}")
        order = await checkout(demo, user, "public-speaking")
        results = await asyncio.gather(
            confirm(demo, order, f"undecided-{i}"), cancel_now(demo, user, order), return_exceptions=True
        )
        confirmation, cancelled = results
        assert isinstance(confirmation, Confirmation), confirmation
        # The cancel either happened (and the payment is late) or was refused because the order was paid.
        if confirmation.outcome is PaymentOutcome.APPLIED:
            assert isinstance(cancelled, UserFacingError) and cancelled.key == "order.not_pending", cancelled
        else:
            assert cancelled is OrderStatus.CANCELLED
        status, events, ents, _ = await state(demo, order)
        assert consistent(confirmation.outcome, status, events, ents), (confirmation.outcome, status, events, ents)
