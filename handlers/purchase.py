"""Purchase journey: /buy, invoices, pre-checkout, confirmation, cancellation.

The handler only asks the core to create an order and returns an
:class:`InvoiceReply`; the channel's payment provider collects the money and
comes back with :class:`PreCheckout` and :class:`PaymentSucceeded`. Access
is granted only from a confirmed payment, never from a client-side signal.
"""

from __future__ import annotations

import logging

from core.errors import GatewayError, UserFacingError
from core.events import PaymentRefunded, PaymentSucceeded, PreCheckout
from core.learning import next_lesson
from core.orders import REFUND_DUE, ItemKind, PaymentEventKind, PaymentOutcome
from core.purchasing import (
    Confirmation,
    cancel_order,
    check_pre_checkout,
    confirm_payment,
    refund_charge,
    start_checkout,
)
from core.replies import Button, CheckoutAnswer, InvoiceReply, Reply, TextReply
from handlers.actions import A, parse_code, parse_slug
from handlers.community import community_replies
from handlers.context import Ctx
from handlers.router import Router
from handlers.views import next_replies

log = logging.getLogger(__name__)

__all__ = ["router"]

router = Router()


async def _buy(ctx: Ctx, slug: str) -> list[Reply]:
    if not ctx.caps.sells:
        return [TextReply(ctx.t("ios.no_sale"))]
    if ctx.caps.payment_provider is None:
        return [TextReply(ctx.t("buy.no_payment_here"))]
    if parse_slug(slug) is None:
        return [TextReply(ctx.t("catalog.not_found", slug=slug[:48]))]
    per_minute = ctx.config.buy_rate_per_minute
    decision = await ctx.kv.take(f"buy:{ctx.user.id}", rate=per_minute / 60.0, burst=max(1, int(per_minute)))
    if not decision.allowed:
        return [TextReply(ctx.t("buy.too_fast", seconds=int(decision.retry_after) + 1))]
    checkout = await start_checkout(
        ctx.uow,
        ctx.user,
        slug,
        provider=ctx.caps.payment_provider,
        currencies=ctx.caps.currencies,
        prefer=ctx.caps.preferred_currency,
        now=ctx.now,
        ttl=ctx.config.order_ttl,
    )
    order = checkout.order
    item = checkout.course or checkout.plan
    assert item is not None
    renews = checkout.plan is not None and checkout.plan.period_days in ctx.caps.subscriptions
    if checkout.plan is not None and renews:
        description = ctx.t("invoice.subscription", days=checkout.plan.period_days)
    elif checkout.plan is not None:
        description = ctx.t("invoice.plan", days=checkout.plan.period_days)
    else:
        description = ctx.t("invoice.course", summary=(checkout.course.summary if checkout.course else "")[:200])
    when = ctx.t.when(order.expires_at, ctx.user.timezone)
    return [
        InvoiceReply(
            order_code=order.code,
            title=item.title,
            description=ctx.t("invoice.description", text=description, when=when),
            price=order.price,
            pay_label=ctx.t("btn.subscribe_pay" if renews else "btn.pay", price=ctx.t.money(order.price)),
            buttons=((Button(ctx.t("btn.cancel_order"), A.of(A.CANCEL, order.code)),),),
            subscription_days=checkout.plan.period_days if renews and checkout.plan else None,
            prompt=ctx.t("invoice.subscription_prompt", title=item.title, price=ctx.t.money(order.price))
            if renews
            else "",
        )
    ]


@router.command("buy")
async def buy_command(ctx: Ctx, args: str) -> list[Reply]:
    if not args:
        return [TextReply(ctx.t("buy.usage"))]
    return await _buy(ctx, args.split()[0].lower())


@router.action(A.BUY)
async def buy_action(ctx: Ctx, arg: str) -> list[Reply]:
    return await _buy(ctx, arg)


@router.action(A.CANCEL)
async def cancel_action(ctx: Ctx, arg: str) -> list[Reply]:
    code = parse_code(arg)
    if code is None:
        return [TextReply(ctx.t("menu.expired"))]
    await cancel_order(ctx.uow, ctx.user, code, ctx.now)
    return [TextReply(ctx.t("order.cancelled"), ((Button(ctx.t("btn.catalog"), A.of(A.CATALOG, 0)),),))]


@router.pre_checkout
async def on_pre_checkout(ctx: Ctx, event: PreCheckout) -> list[Reply]:
    problem = await check_pre_checkout(ctx.uow, ctx.user, event.payload, event.total, ctx.now)
    return [CheckoutAnswer(problem is None, ctx.t(problem) if problem else "")]


@router.payment
async def on_payment(ctx: Ctx, event: PaymentSucceeded) -> list[Reply]:
    result = await confirm_payment(
        ctx.uow,
        provider=event.provider,
        charge_id=event.charge_id,
        payload=event.payload,
        total=event.total,
        now=ctx.now,
        recurring=event.recurring,
        first_recurring=event.first_recurring,
        period_end=event.period_end,
    )
    t = ctx.t
    if result.outcome is PaymentOutcome.DUPLICATE:
        return [TextReply(t("pay.duplicate"))]
    if result.outcome in REFUND_DUE:
        return await _give_back(ctx, event, result)
    if result.outcome is PaymentOutcome.RENEWED and result.subscription is not None and result.plan is not None:
        ends = t.when(result.subscription.period_end, ctx.user.timezone)
        return [TextReply(t("pay.renewed", title=result.plan.title, when=ends))]
    item = result.course or result.plan
    if result.order is None or item is None:
        raise UserFacingError("catalog.not_found", slug="")
    paid = t("pay.ok", title=item.title, price=t.money(result.order.price))
    if result.plan is not None:
        ents = [
            e for e in await ctx.uow.entitlements.for_user(ctx.user.id) if e.plan_id == result.plan.id and e.expires_at
        ]
        until = max(e.expires_at for e in ents if e.expires_at)
        key = "pay.subscription_until" if result.subscription else "pay.plan_until"
        text = paid + "\n" + t(key, when=t.when(until, ctx.user.timezone))
        buttons = ((Button(t("btn.catalog"), A.of(A.CATALOG, 0)), Button(t("btn.my"), A.MY)),)
        return [TextReply(text, buttons), *await community_replies(ctx, result.plan, until)]
    assert result.course is not None
    first = await next_lesson(ctx.uow, ctx.user, result.course, ctx.now)
    return [TextReply(paid), *next_replies(ctx, first)]


async def _give_back(ctx: Ctx, event: PaymentSucceeded, result: Confirmation) -> list[Reply]:
    """A charge that paid for nothing (already owned, wrong amount, unknown order): refund it at once."""
    t, contact = ctx.t, ctx.config.support_contact
    gateway = ctx.services.gateways.get(event.provider)
    if gateway is None:
        return [TextReply(t("pay.needs_refund", contact=contact))]
    try:
        await gateway.refund(event.sender.ref, event.charge_id)
    except GatewayError as exc:
        log.error("automatic refund failed: provider=%s charge=%s: %s", event.provider, event.charge_id, exc.reason)
        return [TextReply(t("pay.needs_refund", contact=contact))]
    await ctx.uow.orders.add_event(
        order_id=result.order.id if result.order else None,
        kind=PaymentEventKind.CHARGE_REFUNDED,
        at=ctx.now,
        provider=event.provider,
        charge_id=event.charge_id,
        total=event.total,
        detail=f"automatic: {result.outcome.value}",
    )
    return [TextReply(t("pay.refunded_auto", price=t.money(event.total)))]


@router.on(PaymentRefunded)
async def on_refunded(ctx: Ctx, event: PaymentRefunded) -> list[Reply]:
    """The provider gave a charge back (e.g. Telegram support, or our own /refund echoed back)."""
    order = await refund_charge(ctx.uow, event.provider, event.charge_id, ctx.now)
    if order is None:
        return []  # nothing it paid for is still open: already handled
    if order.item_kind is ItemKind.COURSE:
        item = await ctx.uow.catalog.get_course_by_id(order.item_id)
    else:
        item = await ctx.uow.catalog.get_plan_by_id(order.item_id)  # type: ignore[assignment]
    title = item.title if item else order.code
    return [TextReply(ctx.t("refund.user_notice", title=title, price=ctx.t.money(order.price)))]
