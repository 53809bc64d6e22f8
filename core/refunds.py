"""Refunds an admin asks for: the provider gives the money back, then access ends.

The permission check lives here, in the core, so every channel (a Telegram
admin's ``/refund``, the console, a future web panel) gets the same rule.
The provider is called first: if it refuses, nothing changes locally and
the admin sees why. If our commit then fails, the provider's own refund
notice (Telegram's refunded_payment) or the reconciliation job catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.errors import GatewayError, NotFound, PermissionDenied, UserFacingError
from core.orders import Order, OrderStatus
from core.ports import PaymentGateway, UnitOfWork
from core.purchasing import refund_order, refundable_charge
from core.users import Role, User

__all__ = ["Refund", "admin_refund"]


@dataclass(frozen=True, slots=True)
class Refund:
    order: Order
    buyer: User
    charge_id: str


async def admin_refund(
    uow: UnitOfWork,
    gateways: dict[str, PaymentGateway],
    actor: User,
    code: str,
    now: datetime,
    *,
    reason: str = "",
) -> Refund:
    if not actor.has_role(Role.ADMIN):
        raise PermissionDenied()
    order = await uow.orders.get_by_code(code, for_update=True)
    if order is None:
        raise NotFound("order.not_found")
    if order.status is not OrderStatus.PAID:
        raise UserFacingError("refund.not_paid", code=order.code, status=order.status.value)
    buyer = await uow.users.get(order.user_id)
    charge = await refundable_charge(uow, order)
    if buyer is None or charge is None:
        raise UserFacingError("refund.no_charge", code=order.code)
    gateway = gateways.get(order.provider)
    if gateway is None:
        raise UserFacingError("refund.unsupported", provider=order.provider)
    refs = [r for r in await uow.users.refs(buyer.id) if r.channel == gateway.channel]
    if not refs:
        raise UserFacingError("refund.unsupported", provider=order.provider)
    try:
        await gateway.refund(refs[0], charge.charge_id)
    except GatewayError as exc:
        raise UserFacingError("refund.failed", reason=exc.reason[:200]) from None
    who = f"admin {actor.id}" + (f": {reason}" if reason else "")
    refunded = await refund_order(uow, order.code, now, reason=who)
    return Refund(refunded, buyer, charge.charge_id)
