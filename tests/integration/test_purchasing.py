"""Purchasing (core.purchasing) through a real unit of work on the demo catalog.

Checkout, provider confirmation (exactly once, whatever the provider sends),
refunds, cancellation, pre-checkout and membership plans.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from support import checkout, confirm, new_user

import bot
from core.catalog import Lesson
from core.clock import FrozenClock
from core.entitlements import Access
from core.errors import NotFound, UserFacingError
from core.learning import may_open
from core.money import Money
from core.orders import ItemKind, Order, OrderStatus, PaymentEventKind, PaymentOutcome
from core.purchasing import (
    cancel_order,
    check_pre_checkout,
    confirm_payment,
    expire_orders,
    refund_order,
)
from core.users import User

TTL = timedelta(minutes=30)
PROVIDER = "sandbox"
USD_PRICE = Money(1999, "USD")  # python-basics
STARS_PRICE = Money(400, "XTR")
PLAN_PRICE = Money(4900, "CNY")  # all-access


# --------------------------------------------------------------------------- helpers


def frozen(app: bot.App) -> FrozenClock:
    assert isinstance(app.clock, FrozenClock)
    return app.clock


async def buy(app: bot.App, user: User, slug: str = "python-basics", charge_id: str | None = None) -> Order:
    order = await checkout(app, user, slug)
    result = await confirm(app, order, charge_id or f"ch-{order.code}")
    assert result.outcome is PaymentOutcome.APPLIED
    assert result.order is not None
    return result.order


async def paid_lesson(app: bot.App, slug: str, position: int = 1) -> Lesson:
    async with app.uow() as uow:
        course = await uow.catalog.get_course(slug)
        assert course is not None
        lessons = await uow.catalog.lessons(course.id)
    assert not lessons[position].free
    return lessons[position]


async def access_to(app: bot.App, user: User, lesson: Lesson) -> Access:
    async with app.uow() as uow:
        return (await may_open(uow, user, lesson, app.clock.now())).access


async def count(app: bot.App, sql: str, **params: object) -> int:
    async with app.db.engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def entitlements(app: bot.App, user: User) -> int:
    return await count(app, "SELECT COUNT(*) FROM entitlements WHERE user_id = :u", u=user.id)


async def events_of(app: bot.App, order: Order) -> list[PaymentEventKind]:
    async with app.uow() as uow:
        return [kind for kind, _ in await uow.orders.events(order.id)]


async def order_now(app: bot.App, order: Order) -> Order:
    async with app.uow() as uow:
        found = await uow.orders.get_by_code(order.code)
    assert found is not None
    return found


# --------------------------------------------------------------------------- checkout


async def test_checkout_creates_pending_order_in_fiat_first(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice, currencies=None)
    assert order.status is OrderStatus.PENDING
    assert order.price == USD_PRICE
    assert order.user_id == alice.id
    assert order.item_kind is ItemKind.COURSE
    assert order.provider == PROVIDER
    assert order.expires_at == demo.clock.now() + TTL
    async with demo.uow() as uow:
        course = await uow.catalog.get_course("python-basics")
        assert course is not None and order.item_id == course.id
        stored = await uow.orders.for_user(alice.id)
    assert [o.code for o in stored] == [order.code]
    assert await events_of(demo, order) == [PaymentEventKind.CREATED]


async def test_checkout_in_stars_when_only_stars_are_accepted(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice, currencies=frozenset({"XTR"}))
    assert order.price == STARS_PRICE


async def test_checkout_without_an_acceptable_currency_is_refused(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    with pytest.raises(UserFacingError) as excinfo:
        await checkout(demo, alice, currencies=frozenset({"JPY"}))
    assert excinfo.value.key == "buy.no_price_here"


async def test_checkout_reuses_the_pending_order(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    first = await checkout(demo, alice)
    frozen(demo).advance(timedelta(minutes=5))
    again = await checkout(demo, alice)
    assert again.code == first.code
    # A different currency is a different order; the fiat one is still reused.
    stars = await checkout(demo, alice, currencies=frozenset({"XTR"}))
    assert stars.code != first.code
    assert (await checkout(demo, alice)).code == first.code
    async with demo.uow() as uow:
        assert len(await uow.orders.for_user(alice.id)) == 2
    assert await events_of(demo, first) == [PaymentEventKind.CREATED]


async def test_checkout_after_the_pending_order_expired_creates_a_new_one(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    first = await checkout(demo, alice)
    frozen(demo).advance(TTL)
    second = await checkout(demo, alice)
    assert second.code != first.code
    assert second.status is OrderStatus.PENDING


async def test_pending_order_of_another_user_is_not_reused(demo: bot.App) -> None:
    alice, bob = await new_user(demo, "alice"), await new_user(demo, "bob")
    assert (await checkout(demo, alice)).code != (await checkout(demo, bob)).code


async def test_already_owned_course_cannot_be_bought_again(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    await buy(demo, alice)
    with pytest.raises(UserFacingError) as excinfo:
        await checkout(demo, alice)
    assert excinfo.value.key == "buy.already_owned"
    assert excinfo.value.params["title"] == "Python for Beginners"


async def test_unknown_slug_is_not_found(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    with pytest.raises(NotFound) as excinfo:
        await checkout(demo, alice, slug="no-such-course")
    assert excinfo.value.key == "catalog.not_found"


# --------------------------------------------------------------------------- confirmation


async def test_applied_confirmation_grants_access(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    lesson = await paid_lesson(demo, "public-speaking", 3)
    assert await access_to(demo, alice, lesson) is Access.NEEDS_PURCHASE
    order = await checkout(demo, alice, "public-speaking")
    result = await confirm(demo, order, "charge-1")
    assert result.outcome is PaymentOutcome.APPLIED
    assert result.course is not None and result.course.slug == "public-speaking"
    assert result.order is not None and result.order.status is OrderStatus.PAID
    assert result.order.paid_at == demo.clock.now()
    assert await access_to(demo, alice, lesson) is Access.OPEN
    assert (await order_now(demo, order)).status is OrderStatus.PAID
    assert await entitlements(demo, alice) == 1
    assert await events_of(demo, order) == [PaymentEventKind.CREATED, PaymentEventKind.CONFIRMED]


async def test_applied_confirmation_in_stars(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    lesson = await paid_lesson(demo, "python-basics", 1)
    order = await checkout(demo, alice, currencies=frozenset({"XTR"}))
    assert (await confirm(demo, order, "star-1")).outcome is PaymentOutcome.APPLIED
    # on_complete course: no longer a purchase question, just "finish lesson 1 first"
    assert await access_to(demo, alice, lesson) is Access.NEEDS_COMPLETION


async def test_payment_for_one_user_does_not_open_for_another(demo: bot.App) -> None:
    alice, bob = await new_user(demo, "alice"), await new_user(demo, "bob")
    lesson = await paid_lesson(demo, "public-speaking", 2)
    await buy(demo, alice, "public-speaking")
    assert await access_to(demo, bob, lesson) is Access.NEEDS_PURCHASE


async def test_same_charge_twice_is_a_duplicate_and_changes_nothing(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice)
    assert (await confirm(demo, order, "charge-1")).outcome is PaymentOutcome.APPLIED
    ents, evs = await entitlements(demo, alice), await events_of(demo, order)
    payments = await count(demo, "SELECT COUNT(*) FROM payments")
    frozen(demo).advance(timedelta(minutes=1))
    again = await confirm(demo, order, "charge-1")
    assert again.outcome is PaymentOutcome.DUPLICATE
    assert await entitlements(demo, alice) == ents == 1
    assert await events_of(demo, order) == evs
    assert await count(demo, "SELECT COUNT(*) FROM payments") == payments == 1
    assert (await order_now(demo, order)).paid_at == demo.clock.now() - timedelta(minutes=1)


@pytest.mark.parametrize(
    "wrong",
    [Money(1998, "USD"), Money(1999, "CNY"), Money(1999, "XTR")],
    ids=["one-cent-short", "currency-cny", "currency-stars"],
)
async def test_amount_or_currency_mismatch_never_pays(demo: bot.App, wrong: Money) -> None:
    alice = await new_user(demo, "alice")
    lesson = await paid_lesson(demo, "python-basics", 1)
    order = await checkout(demo, alice)
    result = await confirm(demo, order, "charge-x", total=wrong)
    assert result.outcome is PaymentOutcome.MISMATCH
    assert (await order_now(demo, order)).status is OrderStatus.PENDING
    assert await entitlements(demo, alice) == 0
    assert await access_to(demo, alice, lesson) is Access.NEEDS_PURCHASE
    async with demo.uow() as uow:
        events = await uow.orders.events(order.id)
    assert [k for k, _ in events] == [PaymentEventKind.CREATED, PaymentEventKind.MISMATCH]
    assert str(wrong) in events[-1][1]
    # Replaying the same mismatched charge is a duplicate, not a second mismatch.
    assert (await confirm(demo, order, "charge-x", total=wrong)).outcome is PaymentOutcome.DUPLICATE
    assert await events_of(demo, order) == [PaymentEventKind.CREATED, PaymentEventKind.MISMATCH]
    # The right amount afterwards still pays the order.
    assert (await confirm(demo, order, "charge-y")).outcome is PaymentOutcome.APPLIED


async def test_payment_for_an_expired_order_is_honoured(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    lesson = await paid_lesson(demo, "public-speaking", 1)
    order = await checkout(demo, alice, "public-speaking")
    frozen(demo).advance(TTL + timedelta(seconds=1))
    async with demo.uow() as uow:
        assert await expire_orders(uow, demo.clock.now()) == 1
        await uow.commit()
    expired = await order_now(demo, order)
    assert expired.status is OrderStatus.EXPIRED
    assert expired.closed_at == demo.clock.now()
    assert await access_to(demo, alice, lesson) is Access.NEEDS_PURCHASE
    result = await confirm(demo, order, "late-1")
    assert result.outcome is PaymentOutcome.LATE
    assert (await order_now(demo, order)).status is OrderStatus.PAID
    assert await entitlements(demo, alice) == 1
    assert await access_to(demo, alice, lesson) is Access.OPEN
    assert await events_of(demo, order) == [
        PaymentEventKind.CREATED,
        PaymentEventKind.EXPIRED,
        PaymentEventKind.LATE,
    ]


async def test_expire_orders_leaves_live_and_paid_orders_alone(demo: bot.App) -> None:
    alice, bob = await new_user(demo, "alice"), await new_user(demo, "bob")
    stale = await checkout(demo, alice, "public-speaking")
    paid = await buy(demo, bob, "public-speaking")
    frozen(demo).advance(TTL - timedelta(minutes=1))
    fresh = await checkout(demo, bob, "python-basics")
    frozen(demo).advance(timedelta(minutes=1))
    async with demo.uow() as uow:
        assert await expire_orders(uow, demo.clock.now()) == 1
        await uow.commit()
    assert (await order_now(demo, stale)).status is OrderStatus.EXPIRED
    assert (await order_now(demo, paid)).status is OrderStatus.PAID
    assert (await order_now(demo, fresh)).status is OrderStatus.PENDING
    async with demo.uow() as uow:
        assert await expire_orders(uow, demo.clock.now()) == 0


async def test_payment_for_a_cancelled_order_is_honoured(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice)
    async with demo.uow() as uow:
        await cancel_order(uow, alice, order.code, demo.clock.now())
        await uow.commit()
    assert (await confirm(demo, order, "late-2")).outcome is PaymentOutcome.LATE
    assert await entitlements(demo, alice) == 1


async def test_late_payment_for_a_course_owned_by_now_is_extra(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    first = await checkout(demo, alice, "public-speaking")
    async with demo.uow() as uow:
        await cancel_order(uow, alice, first.code, demo.clock.now())
        await uow.commit()
    second = await checkout(demo, alice, "public-speaking")
    assert (await confirm(demo, second, "paid-2")).outcome is PaymentOutcome.APPLIED
    assert (await confirm(demo, first, "late-3")).outcome is PaymentOutcome.EXTRA
    assert (await order_now(demo, first)).status is OrderStatus.CANCELLED
    assert await entitlements(demo, alice) == 1


async def test_second_different_charge_for_a_paid_order_is_extra(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice)
    assert (await confirm(demo, order, "charge-1")).outcome is PaymentOutcome.APPLIED
    extra = await confirm(demo, order, "charge-2")
    assert extra.outcome is PaymentOutcome.EXTRA
    assert await entitlements(demo, alice) == 1
    assert await events_of(demo, order) == [
        PaymentEventKind.CREATED,
        PaymentEventKind.CONFIRMED,
        PaymentEventKind.EXTRA,
    ]
    assert await count(demo, "SELECT COUNT(*) FROM payments WHERE outcome = 'extra'") == 1


async def test_unknown_payload_is_recorded_and_grants_nothing(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    async with demo.uow() as uow:
        result = await confirm_payment(
            uow, provider=PROVIDER, charge_id="ghost", payload="nosuchorder0", total=USD_PRICE, now=demo.clock.now()
        )
        await uow.commit()
    assert result.outcome is PaymentOutcome.UNKNOWN_ORDER
    assert result.order is None
    assert await entitlements(demo, alice) == 0
    assert await count(demo, "SELECT COUNT(*) FROM payment_events WHERE kind = 'unknown_order'") == 1
    assert await count(demo, "SELECT COUNT(*) FROM payments WHERE charge_id = 'ghost'") == 1


async def test_same_charge_id_from_another_provider_is_a_different_charge(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice)
    assert (await confirm(demo, order, "c-1")).outcome is PaymentOutcome.APPLIED
    async with demo.uow() as uow:
        other = await confirm_payment(
            uow, provider="telegram", charge_id="c-1", payload=order.code, total=order.price, now=demo.clock.now()
        )
        await uow.commit()
    assert other.outcome is PaymentOutcome.EXTRA


# --------------------------------------------------------------------------- refund and cancel


async def test_refund_revokes_access(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    lesson = await paid_lesson(demo, "public-speaking", 1)
    order = await buy(demo, alice, "public-speaking")
    assert await access_to(demo, alice, lesson) is Access.OPEN
    frozen(demo).advance(timedelta(days=3))
    async with demo.uow() as uow:
        refunded = await refund_order(uow, order.code, demo.clock.now(), reason="asked nicely")
        await uow.commit()
    assert refunded.status is OrderStatus.REFUNDED
    assert refunded.closed_at == demo.clock.now()
    stored = await order_now(demo, order)
    assert stored.status is OrderStatus.REFUNDED
    assert stored.paid_at == demo.clock.now() - timedelta(days=3)
    assert await access_to(demo, alice, lesson) is Access.NEEDS_PURCHASE
    # The revoked row is kept (history), just not active.
    assert await count(demo, "SELECT COUNT(*) FROM entitlements WHERE revoked_at IS NOT NULL") == 1
    # After a refund the course can be bought again.
    again = await checkout(demo, alice, "public-speaking")
    assert again.code != order.code and again.status is OrderStatus.PENDING


async def test_refunding_a_pending_order_is_illegal(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice)
    async with demo.uow() as uow:
        with pytest.raises(UserFacingError, match=r"refund\.not_paid"):
            await refund_order(uow, order.code, demo.clock.now())
    assert (await order_now(demo, order)).status is OrderStatus.PENDING
    assert await events_of(demo, order) == [PaymentEventKind.CREATED]


async def test_refunding_twice_is_illegal(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await buy(demo, alice)
    async with demo.uow() as uow:
        await refund_order(uow, order.code, demo.clock.now())
        await uow.commit()
    async with demo.uow() as uow:
        with pytest.raises(UserFacingError, match=r"refund\.not_paid"):
            await refund_order(uow, order.code, demo.clock.now())


async def test_refunding_an_unknown_order_is_not_found(demo: bot.App) -> None:
    async with demo.uow() as uow:
        with pytest.raises(NotFound):
            await refund_order(uow, "nosuchorder0", demo.clock.now())


async def test_cancel_by_another_user_is_not_found(demo: bot.App) -> None:
    alice, mallory = await new_user(demo, "alice"), await new_user(demo, "mallory")
    order = await checkout(demo, alice)
    async with demo.uow() as uow:
        with pytest.raises(NotFound) as excinfo:
            await cancel_order(uow, mallory, order.code, demo.clock.now())
        await uow.commit()
    assert excinfo.value.key == "order.not_found"
    assert (await order_now(demo, order)).status is OrderStatus.PENDING


async def test_cancel_by_the_buyer(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice)
    async with demo.uow() as uow:
        cancelled = await cancel_order(uow, alice, order.code, demo.clock.now())
        await uow.commit()
    assert cancelled.status is OrderStatus.CANCELLED
    assert (await order_now(demo, order)).status is OrderStatus.CANCELLED
    assert await events_of(demo, order) == [PaymentEventKind.CREATED, PaymentEventKind.CANCELLED]
    async with demo.uow() as uow:
        with pytest.raises(UserFacingError) as excinfo:
            await cancel_order(uow, alice, order.code, demo.clock.now())
    assert excinfo.value.key == "order.not_pending"
    # A cancelled order is not reused by the next checkout.
    assert (await checkout(demo, alice)).code != order.code


# --------------------------------------------------------------------------- pre-checkout


async def test_pre_checkout(demo: bot.App) -> None:
    alice, bob = await new_user(demo, "alice"), await new_user(demo, "bob")
    order = await checkout(demo, alice)
    now = demo.clock.now()
    async with demo.uow() as uow:
        assert await check_pre_checkout(uow, alice, order.code, order.price, now) is None
        assert await check_pre_checkout(uow, bob, order.code, order.price, now) == "checkout.unknown_order"
        assert await check_pre_checkout(uow, alice, "nosuchorder0", order.price, now) == "checkout.unknown_order"
        assert await check_pre_checkout(uow, alice, order.code, Money(1998, "USD"), now) == "checkout.amount_mismatch"
        assert await check_pre_checkout(uow, alice, order.code, Money(1999, "CNY"), now) == "checkout.amount_mismatch"
        # past its deadline, even before the expiry job ran
        assert await check_pre_checkout(uow, alice, order.code, order.price, now + TTL) == "checkout.not_pending"
        assert await check_pre_checkout(uow, alice, order.code, order.price, now + TTL - timedelta(seconds=1)) is None


async def test_pre_checkout_refuses_a_paid_order(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await buy(demo, alice)
    async with demo.uow() as uow:
        assert await check_pre_checkout(uow, alice, order.code, order.price, demo.clock.now()) == "checkout.not_pending"


# --------------------------------------------------------------------------- membership plans


async def test_plan_opens_every_course_until_it_expires(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    bought_at = demo.clock.now()
    order = await checkout(demo, alice, "all-access")
    assert order.item_kind is ItemKind.PLAN
    assert order.price == PLAN_PRICE
    result = await confirm(demo, order, "plan-1")
    assert result.outcome is PaymentOutcome.APPLIED
    assert result.plan is not None and result.plan.slug == "all-access"
    async with demo.uow() as uow:
        ents = await uow.entitlements.for_user(alice.id)
    assert len(ents) == 1
    assert ents[0].starts_at == bought_at
    assert ents[0].expires_at == bought_at + timedelta(days=30)
    lessons = [await paid_lesson(demo, slug, 2) for slug in ("public-speaking", "photo-composition-zh")]
    for lesson in lessons:
        assert await access_to(demo, alice, lesson) is Access.OPEN
    # A course the plan covers counts as owned.
    with pytest.raises(UserFacingError) as excinfo:
        await checkout(demo, alice, "public-speaking")
    assert excinfo.value.key == "buy.already_owned"
    frozen(demo).set(bought_at + timedelta(days=30) - timedelta(seconds=1))
    for lesson in lessons:
        assert await access_to(demo, alice, lesson) is Access.OPEN
    frozen(demo).set(bought_at + timedelta(days=30))
    for lesson in lessons:
        assert await access_to(demo, alice, lesson) is Access.NEEDS_PURCHASE


async def test_plan_bought_again_before_expiry_extends_to_sixty_days(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    bought_at = demo.clock.now()
    await buy(demo, alice, "all-access")
    frozen(demo).advance(timedelta(days=10))
    await buy(demo, alice, "all-access")
    async with demo.uow() as uow:
        ents = sorted(await uow.entitlements.for_user(alice.id), key=lambda e: e.starts_at)
    assert [(e.starts_at, e.expires_at) for e in ents] == [
        (bought_at, bought_at + timedelta(days=30)),
        (bought_at + timedelta(days=30), bought_at + timedelta(days=60)),
    ]
    lesson = await paid_lesson(demo, "public-speaking", 3)
    frozen(demo).set(bought_at + timedelta(days=45))
    assert await access_to(demo, alice, lesson) is Access.OPEN
    frozen(demo).set(bought_at + timedelta(days=60) - timedelta(seconds=1))
    assert await access_to(demo, alice, lesson) is Access.OPEN
    frozen(demo).set(bought_at + timedelta(days=60))
    assert await access_to(demo, alice, lesson) is Access.NEEDS_PURCHASE


async def test_refunding_a_plan_revokes_its_courses(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await buy(demo, alice, "all-access")
    lesson = await paid_lesson(demo, "public-speaking", 3)
    async with demo.uow() as uow:
        await refund_order(uow, order.code, demo.clock.now())
        await uow.commit()
    assert await access_to(demo, alice, lesson) is Access.NEEDS_PURCHASE


# --------------------------------------------------------------------------- the event log


async def test_payment_events_are_append_only_over_a_full_lifecycle(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    order = await checkout(demo, alice)
    frozen(demo).advance(timedelta(minutes=2))
    await confirm(demo, order, "life-1")
    await confirm(demo, order, "life-1")  # duplicate: adds nothing
    frozen(demo).advance(timedelta(days=1))
    async with demo.uow() as uow:
        await refund_order(uow, order.code, demo.clock.now(), reason="changed my mind")
        await uow.commit()
    async with demo.uow() as uow:
        events = await uow.orders.events(order.id)
    assert [kind for kind, _ in events] == [
        PaymentEventKind.CREATED,
        PaymentEventKind.CONFIRMED,
        PaymentEventKind.REFUNDED,
    ]
    assert events[-1][1] == "changed my mind"
    assert await count(demo, "SELECT COUNT(*) FROM payment_events WHERE order_id = :o", o=order.id) == 3


async def test_pre_checkout_refuses_an_invoice_for_a_course_paid_meanwhile(demo: bot.App) -> None:
    """Two open invoices in two currencies: once one is paid, the other may not take money too."""
    alice = await new_user(demo, "alice2")
    fiat = await checkout(demo, alice)
    stars = await checkout(demo, alice, currencies=frozenset({"XTR"}))
    assert (fiat.price, stars.price) == (USD_PRICE, STARS_PRICE)
    assert (await confirm(demo, fiat, "charge-fiat")).outcome is PaymentOutcome.APPLIED
    async with demo.uow() as uow:
        answer = await check_pre_checkout(uow, alice, stars.code, stars.price, demo.clock.now())
    assert answer == "checkout.already_owned"
