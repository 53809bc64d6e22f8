"""Memberships that renew by themselves: shown under /my, renewal switched off or on there."""

from __future__ import annotations

import re

from core.replies import Button, Reply, TextReply
from core.subscriptions import set_renewal
from handlers.actions import A
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["router", "subscription_replies"]

router = Router()
_ARG = re.compile(r"^([0-9]{1,12})\.([01])$")


async def subscription_replies(ctx: Ctx) -> list[Reply]:
    """One message per running subscription, with a button to stop or resume renewal."""
    out: list[Reply] = []
    t = ctx.t
    for sub in await ctx.uow.subscriptions.for_user(ctx.user.id):
        if not sub.active(ctx.now):
            continue
        plan = await ctx.uow.catalog.get_plan_by_id(sub.plan_id)
        title = plan.title if plan else ""
        when = t.when(sub.period_end, ctx.user.timezone)
        if sub.auto_renew:
            text, button = t("sub.renews", title=title, when=when), Button(t("btn.sub_off"), A.of(A.SUB, f"{sub.id}.0"))
        else:
            text, button = t("sub.ends", title=title, when=when), Button(t("btn.sub_on"), A.of(A.SUB, f"{sub.id}.1"))
        out.append(TextReply(text, ((button,),)))
    return out


@router.action(A.SUB)
async def renewal_action(ctx: Ctx, arg: str) -> list[Reply]:
    m = _ARG.match(arg)
    if m is None:
        return [TextReply(ctx.t("menu.expired"))]
    enabled = m.group(2) == "1"
    sub = await set_renewal(ctx.uow, ctx.services.gateways, ctx.user, int(m.group(1)), enabled=enabled, now=ctx.now)
    when = ctx.t.when(sub.period_end, ctx.user.timezone)
    return [TextReply(ctx.t("sub.renewal_on" if enabled else "sub.renewal_off", when=when))]
