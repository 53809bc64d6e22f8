"""Membership expiry reminders: 3 days and 1 day before a plan runs out, through the delivery engine.

Access itself ends on its own (an entitlement is open until ``expires_at``;
:func:`core.learning.may_open` stops at that moment, and a renewal adds an
entitlement that continues the chain). What was missing is telling the
member in time. Every hour the scheduler runs :func:`plan_reminders`: each
plan entitlement that ends within 3 days gets a delivery row
``remind:<entitlement>:<3|1>`` (once each, by its key), in the member's
language and timezone, marked ``important="reminder"`` so WeChat sends its
template notice when the 48-hour window is closed.

No reminder goes out when it would be wrong: the member renewed (a later
entitlement to the same plan continues this one), or a subscription renews
it by itself. Paid-community members are reminded by the community sweep
(``community.reminder``), so ``skip_community_members`` leaves them out when
that sweep runs. A job that was down for a while sends only the more urgent
reminder, as the community sweep does.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from core.catalog import Plan
from core.clock import Clock
from core.community import REMINDER_DAYS, MemberStatus
from core.delivery import NewDelivery
from core.entitlements import Entitlement
from core.i18n import translator
from core.ports import UnitOfWork, UnitOfWorkFactory
from core.replies import Button, TextReply
from core.subscriptions import SubscriptionStatus
from handlers.actions import A
from storage.jobs_repo import SqlJobQueries, session_of

__all__ = ["BATCH", "plan_reminders", "reminder_days"]

BATCH = 500


def reminder_days(expires_at: datetime, now: datetime) -> int | None:
    """Which reminder is due for a plan ending at ``expires_at``: 3, 1, or None (not yet, or over)."""
    left = expires_at - now
    if left <= timedelta(0):
        return None
    for days in sorted(REMINDER_DAYS):
        if left <= timedelta(days=days):
            return days
    return None


async def plan_reminders(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    *,
    batch: int = BATCH,
    skip_community_members: bool = False,
    channels: Collection[str] | None = None,
) -> int:
    """Record the due expiry reminders; returns how many rows were new.

    Each goes to the member's first reachable identity on one of ``channels`` (those the delivery
    engine can send on; None: any); members with none are left for a later run.
    """
    now = clock.now()
    until = now + timedelta(days=max(REMINDER_DAYS))
    after, total = 0, 0
    while True:
        async with uow_factory() as uow:
            ents = await SqlJobQueries(session_of(uow)).expiring_plans(now, until, after, batch)
            rows = [r for e in ents if (r := await _reminder(uow, e, now, skip_community_members, channels))]
            total += await uow.deliveries.add(rows)
            await uow.commit()
        if len(ents) < batch:
            return total
        after = ents[-1].id


async def _reminder(
    uow: UnitOfWork, ent: Entitlement, now: datetime, skip_members: bool, channels: Collection[str] | None
) -> NewDelivery | None:
    assert ent.plan_id is not None and ent.expires_at is not None
    days = reminder_days(ent.expires_at, now)
    user = await uow.users.get(ent.user_id)
    plan = await uow.catalog.get_plan_by_id(ent.plan_id)
    if days is None or user is None or plan is None:
        return None
    if await _continued(uow, ent, plan, skip_members):
        return None
    refs = [r for r in await uow.users.reachable_refs(user.id) if channels is None or r.channel in channels]
    if not refs:
        return None
    t = translator(user.lang)
    text = t("membership.reminder", title=plan.title, when=t.when(ent.expires_at, user.timezone))
    buttons = ((Button(t("btn.renew", title=plan.title), A.of(A.BUY, plan.slug)),),) if plan.published else ()
    return NewDelivery(
        key=f"remind:{ent.id}:{days}",
        ref=refs[0],
        user_id=user.id,
        next_at=now,
        content="replies",
        replies=(TextReply(text, buttons),),
        important="reminder",
    )


async def _continued(uow: UnitOfWork, ent: Entitlement, plan: Plan, skip_members: bool) -> bool:
    """Whether the membership goes on past ``ent`` (or someone else reminds the member of its end)."""
    assert ent.expires_at is not None
    end = ent.expires_at
    for other in await uow.entitlements.for_user(ent.user_id):
        later = other.expires_at is None or other.expires_at > end
        if other.id != ent.id and other.plan_id == plan.id and other.starts_at <= end and later:
            return True  # renewed: a later entitlement to the same plan takes over
    for sub in await uow.subscriptions.for_user(ent.user_id):
        renews = sub.status is SubscriptionStatus.ACTIVE and sub.auto_renew and sub.period_end >= end
        if sub.plan_id == plan.id and renews:
            return True  # the provider renews it by itself
    if skip_members and plan.community_chat:
        member = await uow.community.get(ent.user_id, plan.community_chat)
        if member is not None and member.status is MemberStatus.MEMBER:
            return True  # the community sweep sends its own reminder
    return False
