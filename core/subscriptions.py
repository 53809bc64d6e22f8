"""Subscriptions: plans the provider renews by itself (Telegram Stars subscriptions).

The first charge creates the subscription and an entitlement up to the
period end the provider reports; each renewal charge (same invoice payload,
new charge id) adds the next period. Access is never extended by a timer on
our side: only a confirmed renewal extends it, so a cancelled or failed
renewal simply lets the entitlement run out. Turning renewal off or on is
done at the provider first, then recorded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from core.errors import NotFound, UserFacingError

if TYPE_CHECKING:
    from core.ports import PaymentGateway, UnitOfWork
    from core.users import User

__all__ = ["Subscription", "SubscriptionStatus", "end_lapsed", "set_renewal"]


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"  # the current period runs (renewal may be switched off)
    ENDED = "ended"  # the period passed without a renewal
    REFUNDED = "refunded"  # a charge was refunded: access ended


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    user_id: int
    plan_id: int
    order_id: int
    provider: str
    charge_id: str  # the first charge: how the provider names the subscription
    period_end: datetime
    auto_renew: bool
    status: SubscriptionStatus
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.status is SubscriptionStatus.ACTIVE and now < self.period_end


async def set_renewal(
    uow: UnitOfWork,
    gateways: dict[str, PaymentGateway],
    user: User,
    sub_id: int,
    *,
    enabled: bool,
    now: datetime,
) -> Subscription:
    """Switch automatic renewal off (the member keeps access to the period's end) or back on."""
    sub = await uow.subscriptions.get(sub_id, for_update=True)
    if sub is None or sub.user_id != user.id:
        raise NotFound("sub.not_found")
    if not sub.active(now):
        raise UserFacingError("sub.not_active")
    if sub.auto_renew == enabled:
        return sub
    gateway = gateways.get(sub.provider)
    if gateway is None:
        raise UserFacingError("sub.manage_elsewhere")
    refs = [r for r in await uow.users.refs(user.id) if r.channel == gateway.channel]
    if not refs:
        raise UserFacingError("sub.manage_elsewhere")
    from core.errors import GatewayError

    try:
        await gateway.set_renewal(refs[0], sub.charge_id, enabled=enabled)
    except GatewayError as exc:
        raise UserFacingError("sub.provider_failed", reason=exc.reason[:200]) from None
    changed = replace(sub, auto_renew=enabled)
    await uow.subscriptions.save(changed, now)
    return changed


async def end_lapsed(uow: UnitOfWork, now: datetime, *, limit: int = 500) -> list[Subscription]:
    """Mark subscriptions whose period passed without renewal as ended (access ran out with the period)."""
    ended: list[Subscription] = []
    for sub in await uow.subscriptions.lapsed(now, limit):
        locked = await uow.subscriptions.get(sub.id, for_update=True)
        if locked is None or locked.status is not SubscriptionStatus.ACTIVE or locked.period_end > now:
            continue
        done = replace(locked, status=SubscriptionStatus.ENDED)
        await uow.subscriptions.save(done, now)
        ended.append(done)
    return ended
