"""Orders and the payment state machine.

One table of legal transitions, in one place::

    pending ──pay──▶ paid ──refund──▶ refunded
       │               ▲
       ├──expire──▶ expired ─┤ late pay (honoured: see core.purchasing)
       └──cancel──▶ cancelled ┘

Anything else raises :class:`IllegalTransition`. Confirmation outcomes are an
explicit enumeration so every channel reacts the same way (grant, ignore a
duplicate, flag a mismatch, or hand a late payment to the refund path).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from core.money import Money

__all__ = [
    "REFUND_DUE",
    "TRANSITIONS",
    "IllegalTransition",
    "ItemKind",
    "Order",
    "OrderStatus",
    "PaymentEventKind",
    "PaymentOutcome",
]


class OrderStatus(enum.StrEnum):
    PENDING = "pending"  # created, waiting for the provider's confirmation
    PAID = "paid"  # confirmed by the provider; access granted
    REFUNDED = "refunded"  # money returned; access revoked
    EXPIRED = "expired"  # nobody paid in time
    CANCELLED = "cancelled"  # the buyer gave up


class ItemKind(enum.StrEnum):
    COURSE = "course"
    PLAN = "plan"


#: (from, to) pairs that are legal. The only place that says so.
TRANSITIONS: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    {
        (OrderStatus.PENDING, OrderStatus.PAID),
        (OrderStatus.PENDING, OrderStatus.EXPIRED),
        (OrderStatus.PENDING, OrderStatus.CANCELLED),
        (OrderStatus.PAID, OrderStatus.REFUNDED),
        # A charge the provider completed after we closed the order (the buyer passed the
        # pre-checkout a moment before expiry, or paid an invoice still on screen) is honoured.
        (OrderStatus.EXPIRED, OrderStatus.PAID),
        (OrderStatus.CANCELLED, OrderStatus.PAID),
    }
)


class IllegalTransition(Exception):
    def __init__(self, order_code: str, frm: OrderStatus, to: OrderStatus) -> None:
        super().__init__(f"order {order_code}: illegal transition {frm} -> {to}")
        self.frm, self.to = frm, to


class PaymentOutcome(enum.StrEnum):
    """What confirming a provider charge did."""

    APPLIED = "applied"  # the order is now paid and access granted
    DUPLICATE = "duplicate"  # this (provider, charge id) was processed before: nothing changed
    MISMATCH = "mismatch"  # amount or currency differ from the order: not paid, recorded
    LATE = "late"  # the order had expired or was cancelled: honoured, paid and access granted
    RENEWED = "renewed"  # a subscription renewal: the membership now runs to the new period end
    EXTRA = "extra"  # a second charge for something already paid or owned: to be refunded
    UNKNOWN_ORDER = "unknown_order"  # no such order: recorded, nothing granted


class PaymentEventKind(enum.StrEnum):
    """Append-only payment history; stats and audits are recomputed from it."""

    CREATED = "created"
    CONFIRMED = "confirmed"
    MISMATCH = "mismatch"
    LATE = "late"
    RENEWED = "renewed"
    EXTRA = "extra"
    UNKNOWN_ORDER = "unknown_order"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    CHARGE_REFUNDED = "charge_refunded"  # a charge that never paid the order was given back


#: Outcomes after which the money must go back to the buyer.
REFUND_DUE: frozenset[PaymentOutcome] = frozenset(
    {PaymentOutcome.EXTRA, PaymentOutcome.MISMATCH, PaymentOutcome.UNKNOWN_ORDER}
)


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    code: str  # public, unguessable id used in invoice payloads and /refund
    user_id: int
    item_kind: ItemKind
    item_id: int
    price: Money
    provider: str
    status: OrderStatus
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None = None
    closed_at: datetime | None = None

    def transition(self, to: OrderStatus, at: datetime) -> Order:
        """Return this order moved to ``to``; raise if the move is illegal."""
        if (self.status, to) not in TRANSITIONS:
            raise IllegalTransition(self.code, self.status, to)
        if to is OrderStatus.PAID:
            return replace(self, status=to, paid_at=at)
        return replace(self, status=to, closed_at=at)
