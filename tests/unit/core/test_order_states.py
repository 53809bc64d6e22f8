"""The order state machine (core.orders): one table of legal transitions."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from core.money import Money
from core.orders import TRANSITIONS, IllegalTransition, ItemKind, Order, OrderStatus

CREATED = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LATER = CREATED + timedelta(minutes=7)

LEGAL = [
    (OrderStatus.PENDING, OrderStatus.PAID),
    (OrderStatus.PENDING, OrderStatus.EXPIRED),
    (OrderStatus.PENDING, OrderStatus.CANCELLED),
    (OrderStatus.PAID, OrderStatus.REFUNDED),
    # late payments are honoured (see core.purchasing.confirm_payment)
    (OrderStatus.EXPIRED, OrderStatus.PAID),
    (OrderStatus.CANCELLED, OrderStatus.PAID),
]
ILLEGAL = [pair for pair in itertools.product(OrderStatus, OrderStatus) if pair not in LEGAL]


def order(status: OrderStatus, *, paid_at: datetime | None = None) -> Order:
    return Order(
        id=1,
        code="abc123def456",
        user_id=7,
        item_kind=ItemKind.COURSE,
        item_id=3,
        price=Money(1999, "USD"),
        provider="sandbox",
        status=status,
        created_at=CREATED,
        expires_at=CREATED + timedelta(minutes=30),
        paid_at=paid_at,
    )


def test_table_is_exactly_the_documented_one() -> None:
    assert set(TRANSITIONS) == set(LEGAL)
    assert len(ILLEGAL) == len(OrderStatus) ** 2 - 6


def test_pay_sets_paid_at_only() -> None:
    paid = order(OrderStatus.PENDING).transition(OrderStatus.PAID, LATER)
    assert paid.status is OrderStatus.PAID
    assert paid.paid_at == LATER
    assert paid.closed_at is None
    # everything else is untouched
    assert (paid.id, paid.code, paid.price, paid.created_at) == (1, "abc123def456", Money(1999, "USD"), CREATED)


@pytest.mark.parametrize("to", [OrderStatus.EXPIRED, OrderStatus.CANCELLED])
def test_closing_a_pending_order_sets_closed_at(to: OrderStatus) -> None:
    closed = order(OrderStatus.PENDING).transition(to, LATER)
    assert closed.status is to
    assert closed.closed_at == LATER
    assert closed.paid_at is None


def test_refund_keeps_paid_at_and_sets_closed_at() -> None:
    paid = order(OrderStatus.PENDING).transition(OrderStatus.PAID, LATER)
    refunded = paid.transition(OrderStatus.REFUNDED, LATER + timedelta(days=2))
    assert refunded.status is OrderStatus.REFUNDED
    assert refunded.paid_at == LATER
    assert refunded.closed_at == LATER + timedelta(days=2)


def test_transition_returns_a_new_order() -> None:
    pending = order(OrderStatus.PENDING)
    pending.transition(OrderStatus.PAID, LATER)
    assert pending.status is OrderStatus.PENDING
    assert pending.paid_at is None


@pytest.mark.parametrize(("frm", "to"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_raises(frm: OrderStatus, to: OrderStatus) -> None:
    start = order(frm, paid_at=CREATED if frm in (OrderStatus.PAID, OrderStatus.REFUNDED) else None)
    with pytest.raises(IllegalTransition) as excinfo:
        start.transition(to, LATER)
    assert excinfo.value.frm is frm
    assert excinfo.value.to is to
    assert "abc123def456" in str(excinfo.value)


def test_a_refunded_order_cannot_be_paid_again() -> None:
    refunded = order(OrderStatus.PENDING).transition(OrderStatus.PAID, LATER).transition(OrderStatus.REFUNDED, LATER)
    with pytest.raises(IllegalTransition):
        refunded.transition(OrderStatus.PAID, LATER)
