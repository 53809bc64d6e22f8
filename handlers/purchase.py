"""Purchase journey: /buy, invoices, pre-checkout, confirmation, cancellation.

The handler only asks the core to create an order and returns an
:class:`InvoiceReply`; the channel's payment provider collects the money and
comes back with :class:`PreCheckout` and :class:`PaymentSucceeded`. Access
is granted only from a confirmed payment, never from a client-side signal.
"""

from __future__ import annotations

from core.errors import UserFacingError
from core.events import PaymentSucceeded, PreCheckout
from core.learning import next_lesson
from core.orders import PaymentOutcome
from core.purchasing import cancel_order, check_pre_checkout, confirm_payment, start_checkout
from core.replies import Button, CheckoutAnswer, InvoiceReply, Reply, TextReply
from handlers.actions import A, parse_code, parse_slug
from handlers.context import Ctx
from handlers.router import Router
from handlers.views import next_replies

__all__ = ["router"]

router = Router()


async def _buy(ctx: Ctx, slug: str) -> list[Reply]:
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
        now=ctx.now,
        ttl=ctx.config.order_ttl,
    )
    order = checkout.order
    item = checkout.course or checkout.plan
    assert item is not None
    if checkout.plan is not None:
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
            pay_label=ctx.t("btn.pay", price=ctx.t.money(order.price)),
            buttons=((Button(ctx.t("btn.cancel_order"), A.of(A.CANCEL, order.code)),),),
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
    )
    t = ctx.t
    if result.outcome is PaymentOutcome.DUPLICATE:
        return [TextReply(t("pay.duplicate"))]
    if result.outcome is PaymentOutcome.MISMATCH:
        return [TextReply(t("pay.mismatch", contact=ctx.config.support_contact))]
    if result.outcome is not PaymentOutcome.APPLIED:
        return [TextReply(t("pay.needs_refund", contact=ctx.config.support_contact))]
    item = result.course or result.plan
    if result.order is None or item is None:
        raise UserFacingError("catalog.not_found", slug="")
    paid = t("pay.ok", title=item.title, price=t.money(result.order.price))
    if result.plan is not None:
        ents = [
            e for e in await ctx.uow.entitlements.for_user(ctx.user.id) if e.plan_id == result.plan.id and e.expires_at
        ]
        until = max(e.expires_at for e in ents if e.expires_at)
        text = paid + "\n" + t("pay.plan_until", when=t.when(until, ctx.user.timezone))
        return [TextReply(text, ((Button(t("btn.catalog"), A.of(A.CATALOG, 0)), Button(t("btn.my"), A.MY)),))]
    assert result.course is not None
    first = await next_lesson(ctx.uow, ctx.user, result.course, ctx.now)
    return [TextReply(paid), *next_replies(ctx, first)]
