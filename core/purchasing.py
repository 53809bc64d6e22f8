"""Purchasing: orders from checkout to confirmation, refund and expiry.

The rules (Saleor-style): an order is created before the provider is asked
to collect money; only a provider's confirmation marks it paid, and the
confirmation is keyed by (provider, charge id) and processed exactly once,
under a row lock and a unique constraint. A confirmation whose amount or
currency differs from the order never pays it. Every step appends a payment
event so stats and audits can be recomputed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from core.catalog import Course, Plan
from core.errors import NotFound, UserFacingError
from core.ids import new_code
from core.learning import access_to
from core.money import Money
from core.orders import ItemKind, Order, OrderStatus, PaymentEventKind, PaymentOutcome
from core.ports import PaymentRecord, UnitOfWork
from core.recommendations import record_purchase
from core.subscriptions import Subscription, SubscriptionStatus
from core.users import User

__all__ = [
    "HONOURED",
    "Checkout",
    "Confirmation",
    "cancel_order",
    "check_pre_checkout",
    "confirm_payment",
    "expire_orders",
    "refund_charge",
    "refund_order",
    "refundable_charge",
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
    subscription: Subscription | None = None


async def _owns(uow: UnitOfWork, user: User, course: Course, now: datetime) -> bool:
    return await access_to(uow, user, course, now) is not None


async def _subscribed(uow: UnitOfWork, user: User, plan_id: int, now: datetime) -> bool:
    """A running subscription renews by itself: selling the plan again would bill the member twice."""
    return any(s.plan_id == plan_id and s.active(now) for s in await uow.subscriptions.for_user(user.id))


async def start_checkout(
    uow: UnitOfWork,
    user: User,
    slug: str,
    *,
    provider: str,
    currencies: frozenset[str] | None,
    now: datetime,
    ttl: timedelta,
    prefer: str | None = None,
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
        price, kind, item_id = course.price.in_currencies(currencies, prefer), ItemKind.COURSE, course.id
    elif plan is not None and plan.published:
        if await _subscribed(uow, user, plan.id, now):
            raise UserFacingError("buy.already_subscribed", title=plan.title)
        price, kind, item_id = plan.price.in_currencies(currencies, prefer), ItemKind.PLAN, plan.id
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
    elif await _subscribed(uow, user, order.item_id, now):
        return "checkout.already_subscribed"
    return None


async def _grant(
    uow: UnitOfWork, order: Order, now: datetime, period_end: datetime | None = None
) -> tuple[Course | None, Plan | None]:
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
    ends = starts + timedelta(days=plan.period_days)
    if period_end is not None and period_end > now:
        ends = max(period_end, starts + timedelta(minutes=1))  # the provider's period is authoritative
    await uow.entitlements.add(
        user_id=order.user_id,
        course_id=None,
        plan_id=plan.id,
        order_id=order.id,
        starts_at=starts,
        expires_at=ends,
    )
    return None, plan


#: Charges that paid for something (as opposed to ones recorded only to be refunded).
HONOURED = frozenset({PaymentOutcome.APPLIED.value, PaymentOutcome.LATE.value, PaymentOutcome.RENEWED.value})


async def confirm_payment(
    uow: UnitOfWork,
    *,
    provider: str,
    charge_id: str,
    payload: str,
    total: Money,
    now: datetime,
    recurring: bool = False,
    first_recurring: bool = False,
    period_end: datetime | None = None,
) -> Confirmation:
    """Apply a provider's confirmation exactly once. The caller commits.

    Policy for charges that arrive when the order is no longer pending:

    * expired or cancelled order (the buyer passed the pre-checkout just before we
      closed it, or paid an invoice still on screen): **honoured**: paid and access
      granted, outcome ``LATE``; unless the course is owned by now, which is ``EXTRA``;
    * a renewal of a subscription (``recurring`` and not ``first_recurring``):
      ``RENEWED``, the membership runs to the provider's new ``period_end``;
    * anything else for a paid order, a wrong amount or an unknown payload:
      recorded and nothing granted (``EXTRA``, ``MISMATCH``, ``UNKNOWN_ORDER``);
      the caller gives the money back (see :data:`core.orders.REFUND_DUE`).
    """
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

    async def refuse(outcome: PaymentOutcome, kind: PaymentEventKind, detail: str) -> Confirmation:
        ok = await record(outcome, kind, detail)
        return Confirmation(outcome if ok else PaymentOutcome.DUPLICATE, order)

    if order is None:
        ok = await record(PaymentOutcome.UNKNOWN_ORDER, PaymentEventKind.UNKNOWN_ORDER, f"payload={payload[:64]}")
        return Confirmation(PaymentOutcome.UNKNOWN_ORDER if ok else PaymentOutcome.DUPLICATE, None)
    if total != order.price:
        return await refuse(PaymentOutcome.MISMATCH, PaymentEventKind.MISMATCH, f"expected {order.price}, got {total}")
    if recurring and not first_recurring:
        return await _renew(uow, order, record, refuse, now, period_end)
    outcome, kind = PaymentOutcome.APPLIED, PaymentEventKind.CONFIRMED
    if recurring and order.item_kind is ItemKind.PLAN:
        buyer = await uow.users.get(order.user_id)
        if buyer is not None and await _subscribed(uow, buyer, order.item_id, now):
            return await refuse(PaymentOutcome.EXTRA, PaymentEventKind.EXTRA, "already subscribed to this plan")
    if order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        if order.item_kind is ItemKind.COURSE:
            course = await uow.catalog.get_course_by_id(order.item_id)
            user = await uow.users.get(order.user_id)
            if course is None or user is None or await _owns(uow, user, course, now):
                return await refuse(PaymentOutcome.EXTRA, PaymentEventKind.EXTRA, f"order was {order.status}; owned")
        outcome, kind = PaymentOutcome.LATE, PaymentEventKind.LATE
    elif order.status is not OrderStatus.PENDING:
        return await refuse(PaymentOutcome.EXTRA, PaymentEventKind.EXTRA, f"order was {order.status}")
    if not await record(outcome, kind, f"order was {order.status}; honoured" if outcome is PaymentOutcome.LATE else ""):
        return Confirmation(PaymentOutcome.DUPLICATE, order)  # a concurrent twin won the unique key
    paid = order.transition(OrderStatus.PAID, now)
    await uow.orders.save(paid)
    course, plan = await _grant(uow, paid, now, period_end)
    if course is not None:  # a purchase signal for the recommender, attributed to a push the buyer pressed
        await record_purchase(uow, paid.user_id, course.id, paid.id, now)
    subscription = None
    if plan is not None and recurring and period_end is not None:
        subscription = await uow.subscriptions.add(
            user_id=paid.user_id,
            plan_id=plan.id,
            order_id=paid.id,
            provider=provider,
            charge_id=charge_id,
            period_end=period_end,
            now=now,
        )
    return Confirmation(outcome, paid, course, plan, subscription)


async def _renew(
    uow: UnitOfWork,
    order: Order,
    record: Callable[[PaymentOutcome, PaymentEventKind, str], Awaitable[bool]],
    refuse: Callable[[PaymentOutcome, PaymentEventKind, str], Awaitable[Confirmation]],
    now: datetime,
    period_end: datetime | None,
) -> Confirmation:
    sub = await uow.subscriptions.by_order(order.id, for_update=True)
    plan = await uow.catalog.get_plan_by_id(order.item_id) if order.item_kind is ItemKind.PLAN else None
    if sub is None or plan is None or order.status is not OrderStatus.PAID or sub.status is SubscriptionStatus.REFUNDED:
        return await refuse(PaymentOutcome.EXTRA, PaymentEventKind.EXTRA, "renewal without an active subscription")
    if not await record(PaymentOutcome.RENEWED, PaymentEventKind.RENEWED, ""):
        return Confirmation(PaymentOutcome.DUPLICATE, order)
    starts = max(sub.period_end, now)
    ends = period_end if period_end is not None and period_end > starts else starts + timedelta(days=plan.period_days)
    await uow.entitlements.add(
        user_id=order.user_id, course_id=None, plan_id=plan.id, order_id=order.id, starts_at=starts, expires_at=ends
    )
    renewed = replace(sub, period_end=ends, status=SubscriptionStatus.ACTIVE)
    await uow.subscriptions.save(renewed, now)
    return Confirmation(PaymentOutcome.RENEWED, order, None, plan, renewed)


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
    """Mark a paid order refunded and revoke what it granted (the provider refund is the channel's job).

    A subscription's order ends the subscription too: refunding any of its charges ends the membership.
    """
    order = await uow.orders.get_by_code(code, for_update=True)
    if order is None:
        raise NotFound("order.not_found")
    if order.status is not OrderStatus.PAID:
        raise UserFacingError("refund.not_paid", code=order.code, status=order.status.value)
    refunded = order.transition(OrderStatus.REFUNDED, now)
    await uow.orders.save(refunded)
    await uow.entitlements.revoke_for_order(order.id, now)
    await uow.orders.add_event(order_id=order.id, kind=PaymentEventKind.REFUNDED, at=now, detail=reason[:500])
    sub = await uow.subscriptions.by_order(order.id, for_update=True)
    if sub is not None and sub.status is not SubscriptionStatus.REFUNDED:
        await uow.subscriptions.save(replace(sub, status=SubscriptionStatus.REFUNDED, auto_renew=False), now)
    return refunded


async def refundable_charge(uow: UnitOfWork, order: Order) -> PaymentRecord | None:
    """The charge to give back for a paid order: its latest honoured one (a subscription's current period)."""
    honoured = [p for p in await uow.orders.payments_for(order.id) if p.outcome in HONOURED]
    return honoured[-1] if honoured else None


async def refund_charge(uow: UnitOfWork, provider: str, charge_id: str, now: datetime) -> Order | None:
    """The provider says a charge went back (e.g. Telegram's refunded_payment): revoke what it paid for.

    Idempotent: returns the refunded order the first time only; None when nothing changed
    (unknown charge, a charge that never granted anything, or an order already refunded).
    """
    payment = await uow.orders.get_payment(provider, charge_id)
    if payment is None or payment.order_id is None:
        return None
    order = await uow.orders.get(payment.order_id, for_update=True)
    if order is None:
        return None
    if payment.outcome not in HONOURED or order.status is not OrderStatus.PAID:
        await uow.orders.add_event(
            order_id=order.id,
            kind=PaymentEventKind.CHARGE_REFUNDED,
            at=now,
            provider=provider,
            charge_id=charge_id,
            total=payment.total,
        )
        return None
    return await refund_order(uow, order.code, now, reason=f"refunded by the provider (charge {charge_id[:64]})")
