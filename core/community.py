"""Paid communities: a plan may open a private Telegram group or channel.

Only entitled members are let in (a one-time invite link or an approved
join request); anyone else who gets in is removed. When a membership runs
out, reminders go out 3 days and 1 day before, and after a grace period
the member is removed (ban plus unban, so they can rejoin after renewing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.catalog import Plan
    from core.ports import UnitOfWork

__all__ = ["CommunityMember", "MemberStatus", "community_plans", "entitled_until"]


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


async def entitled_until(uow: UnitOfWork, user_id: int, chat_id: str, now: datetime) -> datetime | None:
    """Until when ``user_id`` may be in ``chat_id`` (None: not entitled now).

    Any active plan entitlement whose plan opens the chat counts; a renewal
    bought ahead of time (starting when the current period ends) extends it.
    """
    plans = {p.id: p for p in await uow.catalog.list_plans(published_only=False) if p.community_chat == chat_id}
    if not plans:
        return None
    ents = [e for e in await uow.entitlements.for_user(user_id) if e.plan_id in plans]
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
