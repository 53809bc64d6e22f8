"""Purchasing: orders from checkout to confirmation, refund and expiry.

The rules (Saleor-style): an order is created before the provider is asked
to collect money; only a provider's confirmation marks it paid, and the
confirmation is keyed by (provider, charge id) and processed exactly once,
under a row lock and a unique constraint. A confirmation whose amount or
currency differs from the order never pays it. Every step appends a payment
event so stats and audits can be recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.catalog import Course, Plan
from core.errors import NotFound, UserFacingError
from core.ids import new_code
from core.learning import access_to
from core.money import Money
from core.orders import ItemKind, Order, OrderStatus, PaymentEventKind, PaymentOutcome
from core.ports import PaymentRecord, UnitOfWork
from core.users import User

__all__ = [
    "Checkout",
    "Confirmation",
    "cancel_order",
    "check_pre_checkout",
    "confirm_payment",
    "expire_orders",
    "refund_order",
    "start_checkout",
]


@dataclass(frozen=True, slots=True)
class Checkout:
    order: Order
    course: Course | None
    plan: Plan | None

    @property
    def title(self) -> str:
        item = self.course or self.plan
        assert item is not None
        return item.title


@dataclass(frozen=True, slots=True)
class Confirmation:
    outcome: PaymentOutcome
    order: Order | None
    course: Course | None = None
    plan: Plan | None = None


async def _owns(uow: UnitOfWork, user: User, course: Course, now: datetime) -> bool:
    return await access_to(uow, user, course, now) is not None


async def start_checkout(
    uow: UnitOfWork,
    user: User,
    slug: str,
    *,
    provider: str,
    currencies: frozenset[str] | None,
    now: datetime,
    ttl: timedelta,
) -> Checkout:
    """Create (or reuse) a pending order for the course or plan ``slug``.

    Raises :class:`UserFacingError` when there is nothing to pay for: unknown
    slug, free course, already owned, or no price the channel can collect.
    """
    course = await uow.catalog.get_course(slug)
    plan = None if course else await uow.catalog.get_plan(slug)
    if course is not None and course.published:
        if course.is_free:
            raise UserFacingError("buy.free", title=course.title)
        if await _owns(uow, user, course, now):
            raise UserFacingError("buy.already_owned", title=course.title)
        price, kind, item_id = course.price.in_currencies(currencies), ItemKind.COURSE, course.id
    elif plan is not None and plan.published:
        price, kind, item_id = plan.price.in_currencies(currencies), ItemKind.PLAN, plan.id
        course = None
    else:
        raise NotFound("catalog.not_found", slug=slug[:48])
    if price is None:
        raise UserFacingError("buy.no_price_here")
    existing = await uow.orders.find_pending(user.id, kind, item_id, price.currency, now)
    if existing is not None and existing.price == price and existing.provider == provider:
        return Checkout(existing, course, plan)
    order = await uow.orders.add(
        code=new_code(12),
        user_id=user.id,
        item_kind=kind,
        item_id=item_id,
        price=price,
        provider=provider,
        now=now,
        expires_at=now + ttl,
    )
    await uow.orders.add_event(order_id=order.id, kind=PaymentEventKind.CREATED, at=now, provider=provider, total=price)
    return Checkout(order, course, plan)


async def check_pre_checkout(uow: UnitOfWork, user: User, payload: str, total: Money, now: datetime) -> str | None:
    """None if the provider may take the money; otherwise a translation key saying why not."""
    order = await uow.orders.get_by_code(payload)
    if order is None or order.user_id != user.id:
        return "checkout.unknown_order"
    if order.status is not OrderStatus.PENDING or order.expires_at <= now:
        return "checkout.not_pending"
    if order.price != total:
        return "checkout.amount_mismatch"
    if order.item_kind is ItemKind.COURSE:
        # Another order (say, in another currency) may have been paid since this invoice was made.
        course = await uow.catalog.get_course_by_id(order.item_id)
        if course is None or not course.published:
            return "checkout.unknown_order"
        if await _owns(uow, user, course, now):
            return "checkout.already_owned"
    return None


async def _grant(uow: UnitOfWork, order: Order, now: datetime) -> tuple[Course | None, Plan | None]:
    if order.item_kind is ItemKind.COURSE:
        course = await uow.catalog.get_course_by_id(order.item_id)
        await uow.entitlements.add(
            user_id=order.user_id,
            course_id=order.item_id,
            plan_id=None,
            order_id=order.id,
            starts_at=now,
            expires_at=None,
        )
        return course, None
    plan = await uow.catalog.get_plan_by_id(order.item_id)
    if plan is None:
        raise LookupError(f"order {order.code}: plan {order.item_id} is gone")
    # A renewal bought before the current period ends starts when that period ends.
    starts = now
    for ent in await uow.entitlements.for_user(order.user_id):
        if ent.plan_id == plan.id and ent.expires_at is not None and ent.starts_at <= starts < ent.expires_at:
            starts = ent.expires_at
    await uow.entitlements.add(
        user_id=order.user_id,
        course_id=None,
        plan_id=plan.id,
        order_id=order.id,
        starts_at=starts,
        expires_at=starts + timedelta(days=plan.period_days),
    )
    return None, plan


async def confirm_payment(
    uow: UnitOfWork, *, provider: str, charge_id: str, payload: str, total: Money, now: datetime
) -> Confirmation:
    """Apply a provider's confirmation exactly once. The caller commits."""
    if await uow.orders.get_payment(provider, charge_id) is not None:
        return Confirmation(PaymentOutcome.DUPLICATE, await uow.orders.get_by_code(payload))
    order = await uow.orders.get_by_code(payload, for_update=True)

    async def record(outcome: PaymentOutcome, kind: PaymentEventKind, detail: str = "") -> bool:
        inserted = await uow.orders.add_payment(
            PaymentRecord(provider, charge_id, order.id if order else None, total, outcome.value, now)
        )
        if inserted:
            await uow.orders.add_event(
                order_id=order.id if order else None,
                kind=kind,
                at=now,
                provider=provider,
                charge_id=charge_id,
                total=total,
                detail=detail,
            )
        return inserted

    if order is None:
        ok = await record(PaymentOutcome.UNKNOWN_ORDER, PaymentEventKind.UNKNOWN_ORDER, f"payload={payload[:64]}")
        return Confirmation(PaymentOutcome.UNKNOWN_ORDER if ok else PaymentOutcome.DUPLICATE, None)
    if total != order.price:
        ok = await record(PaymentOutcome.MISMATCH, PaymentEventKind.MISMATCH, f"expected {order.price}, got {total}")
        return Confirmation(PaymentOutcome.MISMATCH if ok else PaymentOutcome.DUPLICATE, order)
    if order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        ok = await record(PaymentOutcome.LATE, PaymentEventKind.LATE, f"order was {order.status}")
        return Confirmation(PaymentOutcome.LATE if ok else PaymentOutcome.DUPLICATE, order)
    if order.status is not OrderStatus.PENDING:
        ok = await record(PaymentOutcome.EXTRA, PaymentEventKind.EXTRA, f"order was {order.status}")
        return Confirmation(PaymentOutcome.EXTRA if ok else PaymentOutcome.DUPLICATE, order)
    if not await record(PaymentOutcome.APPLIED, PaymentEventKind.CONFIRMED):
        return Confirmation(PaymentOutcome.DUPLICATE, order)  # a concurrent twin won the unique key
    paid = order.transition(OrderStatus.PAID, now)
    await uow.orders.save(paid)
    course, plan = await _grant(uow, paid, now)
    return Confirmation(PaymentOutcome.APPLIED, paid, course, plan)


async def cancel_order(uow: UnitOfWork, user: User, code: str, now: datetime) -> Order:
    order = await uow.orders.get_by_code(code, for_update=True)
    if order is None or order.user_id != user.id:
        raise NotFound("order.not_found")
    if order.status is not OrderStatus.PENDING:
        raise UserFacingError("order.not_pending")
    cancelled = order.transition(OrderStatus.CANCELLED, now)
    await uow.orders.save(cancelled)
    await uow.orders.add_event(order_id=order.id, kind=PaymentEventKind.CANCELLED, at=now)
    return cancelled


async def expire_orders(uow: UnitOfWork, now: datetime, *, limit: int = 500) -> int:
    """Expire pending orders past their deadline (recomputed from stored state)."""
    count = 0
    for order in await uow.orders.expired_pending(now, limit):
        locked = await uow.orders.get(order.id, for_update=True)
        if locked is None or locked.status is not OrderStatus.PENDING:
            continue
        await uow.orders.save(locked.transition(OrderStatus.EXPIRED, now))
        await uow.orders.add_event(order_id=order.id, kind=PaymentEventKind.EXPIRED, at=now)
        count += 1
    return count


async def refund_order(uow: UnitOfWork, code: str, now: datetime, *, reason: str = "") -> Order:
    """Mark a paid order refunded and revoke what it granted (the provider refund is the channel's job)."""
    order = await uow.orders.get_by_code(code, for_update=True)
    if order is None:
        raise NotFound("order.not_found")
    refunded = order.transition(OrderStatus.REFUNDED, now)  # raises unless paid
    await uow.orders.save(refunded)
    await uow.entitlements.revoke_for_order(order.id, now)
    await uow.orders.add_event(order_id=order.id, kind=PaymentEventKind.REFUNDED, at=now, detail=reason[:500])
    return refunded
