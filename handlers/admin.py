"""Admin journey: /refund ORDER [reason].

The core checks the permission and calls the order's payment provider; the
handler only parses, reports to the admin and tells the buyer (after the
transaction commits, in the buyer's own language).
"""

from __future__ import annotations

from core.i18n import translator
from core.orders import ItemKind
from core.refunds import admin_refund
from core.replies import Reply, TextReply
from handlers.actions import parse_code
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["router"]

router = Router()


@router.command("refund")
async def refund_command(ctx: Ctx, args: str) -> list[Reply]:
    parts = args.split(maxsplit=1)
    code = parse_code(parts[0].lower()) if parts else None
    if code is None:
        return [TextReply(ctx.t("refund.usage"))]
    reason = parts[1].strip()[:200] if len(parts) > 1 else ""
    done = await admin_refund(ctx.uow, ctx.services.gateways, ctx.user, code, ctx.now, reason=reason)
    order = done.order
    if order.item_kind is ItemKind.COURSE:
        item = await ctx.uow.catalog.get_course_by_id(order.item_id)
    else:
        item = await ctx.uow.catalog.get_plan_by_id(order.item_id)  # type: ignore[assignment]
    title = item.title if item else order.code
    tb = translator(done.buyer.lang)
    ctx.notify(done.buyer.id, [TextReply(tb("refund.user_notice", title=title, price=tb.money(order.price)))])
    return [TextReply(ctx.t("refund.done", code=order.code, title=title, price=ctx.t.money(order.price)))]
