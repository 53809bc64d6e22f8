"""Paid communities: invite links after payment, join requests, and who gets in.

Only the core decides who is entitled (:func:`core.community.entitled_until`);
the messenger's side (links, approvals, removals) goes through the
:class:`core.ports.CommunityGateway` the adapter registered.
"""

from __future__ import annotations

import logging
from datetime import datetime

from core.catalog import Plan
from core.community import MemberStatus, community_plans, entitled_until
from core.errors import GatewayError
from core.events import JoinRequest, MemberJoined, MemberLeft
from core.replies import Button, Reply, TextReply
from core.users import Role
from handlers.actions import A
from handlers.context import Ctx
from handlers.router import Router

__all__ = ["community_replies", "router"]

log = logging.getLogger(__name__)
router = Router()


async def community_replies(ctx: Ctx, plan: Plan, until: datetime) -> list[Reply]:
    """After a plan with a community is paid: a one-time invite link, valid for a day at most."""
    gateway = ctx.services.community
    if plan.community_chat is None or gateway is None or gateway.channel != ctx.sender.ref.channel:
        return []
    expires = min(ctx.now + ctx.config.invite_ttl, until)
    try:
        link = await gateway.invite_link(plan.community_chat, name=f"ks-{ctx.user.id}", expires_at=expires)
    except GatewayError as exc:
        log.error("invite link for chat %s failed: %s", plan.community_chat, exc.reason)
        return [TextReply(ctx.t("community.invite_failed", contact=ctx.config.support_contact))]
    when = ctx.t.when(expires, ctx.user.timezone)
    return [
        TextReply(ctx.t("community.invite", title=plan.title, when=when), ((Button(ctx.t("btn.join"), url=link),),))
    ]


def _offer(ctx: Ctx, plans: list[Plan]) -> tuple[tuple[Button, ...], ...]:
    if not ctx.caps.sells:
        return ()
    return tuple(
        (Button(ctx.t("btn.subscribe", title=p.title, price=_price(ctx, p)), A.of(A.BUY, p.slug)),) for p in plans
    )


def _price(ctx: Ctx, plan: Plan) -> str:
    charge = plan.price.in_currencies(ctx.caps.currencies, ctx.caps.preferred_currency)
    return ctx.t.money(charge) if charge else " / ".join(ctx.t.money(m) for m in plan.price.options())


@router.on(JoinRequest)
async def on_join_request(ctx: Ctx, event: JoinRequest) -> list[Reply]:
    gateway = ctx.services.community
    if gateway is None:
        return []
    staff = ctx.user.has_role(Role.CREATOR)
    entitled = staff or await entitled_until(ctx.uow, ctx.user.id, event.chat_id, ctx.now) is not None
    try:
        if entitled:
            await gateway.approve(event.chat_id, ctx.sender.ref)
        else:
            await gateway.decline(event.chat_id, ctx.sender.ref)
    except GatewayError as exc:  # e.g. the request was already handled by a chat admin
        log.warning("join request of user %s to chat %s: %s", ctx.user.id, event.chat_id, exc.reason)
        return []
    if entitled:
        return [TextReply(ctx.t("community.approved"))]
    plans = await community_plans(ctx.uow, event.chat_id)
    return [TextReply(ctx.t("community.members_only"), _offer(ctx, plans))]


@router.on(MemberJoined)
async def on_member_joined(ctx: Ctx, event: MemberJoined) -> list[Reply]:
    gateway = ctx.services.community
    staff = ctx.user.has_role(Role.CREATOR)  # admins and creators run the community without a plan
    if staff or await entitled_until(ctx.uow, ctx.user.id, event.chat_id, ctx.now) is not None:
        await ctx.uow.community.record(ctx.user.id, event.chat_id, MemberStatus.MEMBER, ctx.now)
        return []
    if gateway is None:
        return []
    # Someone got in without an entitlement (a forwarded link, an admin's mistake): out again.
    await gateway.remove(event.chat_id, ctx.sender.ref)
    await ctx.uow.community.record(ctx.user.id, event.chat_id, MemberStatus.REMOVED, ctx.now)
    log.info("removed user %s from chat %s: not entitled", ctx.user.id, event.chat_id)
    plans = await community_plans(ctx.uow, event.chat_id)
    return [TextReply(ctx.t("community.members_only"), _offer(ctx, plans))]


@router.on(MemberLeft)
async def on_member_left(ctx: Ctx, event: MemberLeft) -> list[Reply]:
    member = await ctx.uow.community.get(ctx.user.id, event.chat_id)
    if member is not None and member.status is MemberStatus.MEMBER:
        await ctx.uow.community.record(ctx.user.id, event.chat_id, MemberStatus.LEFT, ctx.now)
    return []
