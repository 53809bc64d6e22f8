"""Paid communities: a plan may open a private Telegram group or channel.

Only entitled members are let in (a one-time invite link or an approved
join request); anyone else who gets in is removed. When a membership runs
out, reminders go out 3 days and 1 day before, and after a grace period
the member is removed (ban plus unban, so they can rejoin after renewing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.catalog import Plan
    from core.entitlements import Entitlement
    from core.ports import UnitOfWork

__all__ = [
    "REMINDER_DAYS",
    "CommunityMember",
    "ExpiryAction",
    "ExpiryDecision",
    "MemberStatus",
    "Membership",
    "community_plans",
    "decide_expiry",
    "entitled_until",
    "membership",
    "membership_end",
]

#: Expiry reminders go out this many days before the membership ends, in this order.
REMINDER_DAYS = (3, 1)


class MemberStatus(enum.StrEnum):
    MEMBER = "member"
    LEFT = "left"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class CommunityMember:
    id: int
    user_id: int
    chat_id: str
    status: MemberStatus
    joined_at: datetime | None
    left_at: datetime | None
    reminded_days: int | None  # the last expiry reminder sent: 3, then 1 (None: none yet)


async def _chat_entitlements(uow: UnitOfWork, user_id: int, chat_id: str) -> tuple[dict[int, Plan], list[Entitlement]]:
    """The plans that open ``chat_id`` (published or not: members keep what they paid for) and the
    user's entitlements to them."""
    plans = {p.id: p for p in await uow.catalog.list_plans(published_only=False) if p.community_chat == chat_id}
    if not plans:
        return plans, []
    return plans, [e for e in await uow.entitlements.for_user(user_id) if e.plan_id in plans]


async def entitled_until(uow: UnitOfWork, user_id: int, chat_id: str, now: datetime) -> datetime | None:
    """Until when ``user_id`` may be in ``chat_id`` (None: not entitled now).

    Any active plan entitlement whose plan opens the chat counts; a renewal
    bought ahead of time (starting when the current period ends) extends it.
    """
    _, ents = await _chat_entitlements(uow, user_id, chat_id)
    until: datetime | None = None
    for ent in ents:
        if ent.active(now):
            if ent.expires_at is None:
                return datetime.max.replace(tzinfo=now.tzinfo)
            until = ent.expires_at if until is None else max(until, ent.expires_at)
    if until is None:
        return None
    for ent in sorted(ents, key=lambda e: e.starts_at):
        if ent.revoked_at is None and ent.expires_at and ent.starts_at <= until < ent.expires_at:
            until = ent.expires_at
    return until


async def community_plans(uow: UnitOfWork, chat_id: str) -> list[Plan]:
    """The published plans that open ``chat_id`` (what to offer someone who is not entitled)."""
    return [p for p in await uow.catalog.list_plans() if p.community_chat == chat_id]


@dataclass(frozen=True, slots=True)
class Membership:
    """The plan entitlement that keeps a member in a chat the longest, and when it ends."""

    plan: Plan
    ends_at: datetime  # ``datetime.max`` (aware) for an entitlement without an end


async def membership(uow: UnitOfWork, user_id: int, chat_id: str) -> Membership | None:
    """The latest-ending plan entitlement of ``user_id`` that opens ``chat_id``, active or not.

    Expired entitlements count (the sweep needs the end of a membership that ran out to apply
    the grace period); revoked ones (refunds) do not, since the repository leaves them out.
    Plans that are unpublished still count: members who paid keep what they paid for.
    None: the user never had such an entitlement (or it was refunded).
    """
    plans, ents = await _chat_entitlements(uow, user_id, chat_id)
    best: Membership | None = None
    for ent in ents:
        if ent.plan_id is None or ent.revoked_at is not None:
            continue
        ends = ent.expires_at or datetime.max.replace(tzinfo=ent.starts_at.tzinfo)
        if best is None or ends > best.ends_at:
            best = Membership(plans[ent.plan_id], ends)
    return best


async def membership_end(uow: UnitOfWork, user_id: int, chat_id: str) -> datetime | None:
    """When the membership of ``user_id`` in ``chat_id`` ends (or ended); None: never entitled."""
    found = await membership(uow, user_id, chat_id)
    return found.ends_at if found else None


class ExpiryAction(enum.StrEnum):
    KEEP = "keep"  # nothing to do now
    REMIND = "remind"  # send the reminder for ``ExpiryDecision.days``
    REMOVE = "remove"  # the membership ended more than the grace period ago (or never existed)


@dataclass(frozen=True, slots=True)
class ExpiryDecision:
    action: ExpiryAction
    days: int | None = None  # REMIND: which reminder (3 or 1) to send and record
    reset: bool = False  # forget the reminders sent: a renewal moved the end beyond the first reminder


def decide_expiry(
    *, now: datetime, end: datetime | None, reminded_days: int | None, grace: timedelta
) -> ExpiryDecision:
    """What the sweep does about one member right now (pure: every input explicit).

    * no plan entitlement ever (``end`` None): remove;
    * ``now >= end + grace``: remove (members keep the chat for ``grace`` after the end, to renew);
    * ``end - now > 3 days``: keep, and reset the reminders if any were sent (a renewal moved the end);
    * ``end - now <= 1 day`` and the 1-day reminder was not sent: remind (1), even if the 3-day one
      was missed (the sweep was down, or the period was short): one reminder, the more urgent one;
    * ``end - now <= 3 days`` and no reminder yet: remind (3).

    Reminders go out only before the end: "your access ends on <a past date>" would be wrong, and
    after the end the member is already told by the removal notice.
    """
    if end is None or now - grace >= end:  # written so that an endless ``end`` cannot overflow
        return ExpiryDecision(ExpiryAction.REMOVE)
    left = end - now
    first, last = REMINDER_DAYS[0], REMINDER_DAYS[-1]
    if left > timedelta(days=first):
        return ExpiryDecision(ExpiryAction.KEEP, reset=reminded_days is not None)
    if left <= timedelta(0):
        return ExpiryDecision(ExpiryAction.KEEP)  # in the grace period
    if left <= timedelta(days=last) and reminded_days != last:
        return ExpiryDecision(ExpiryAction.REMIND, days=last)
    if reminded_days is None:
        return ExpiryDecision(ExpiryAction.REMIND, days=first)
    return ExpiryDecision(ExpiryAction.KEEP)
