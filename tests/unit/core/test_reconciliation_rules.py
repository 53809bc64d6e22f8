"""Stars reconciliation rules: every kind of difference between Telegram's ledger and our records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.money import Money
from core.orders import ItemKind, Order, OrderStatus
from core.ports import PaymentRecord
from core.reconciliation import LedgerEntry, Mismatch, MismatchKind, reconcile

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
P = "telegram_stars"
STARS_250 = Money(250, "XTR")


def order(oid: int, code: str, status: OrderStatus = OrderStatus.PAID) -> Order:
    return Order(oid, code, 7, ItemKind.PLAN, 1, STARS_250, P, status, T, T + timedelta(minutes=30), paid_at=T)


def charge(
    cid: str, oid: int | None, outcome: str = "applied", total: Money = STARS_250, at: datetime = T
) -> PaymentRecord:
    return PaymentRecord(P, cid, oid, total, outcome, at)


def paid(cid: str, payload: str = "ord1code", amount: Money = STARS_250, at: datetime = T) -> LedgerEntry:
    return LedgerEntry(cid, "42", amount, payload, at, refund=False)


def refunded(cid: str, at: datetime = T + timedelta(hours=1)) -> LedgerEntry:
    return LedgerEntry(cid, "42", STARS_250, "ord1code", at, refund=True)


def kinds(found: list[Mismatch]) -> list[MismatchKind]:
    return [m.kind for m in found]


def test_books_that_agree_have_no_mismatch() -> None:
    o = order(1, "ord1code")
    c = charge("ch1", 1)
    assert reconcile([paid("ch1")], [(o, [c])], {"ch1": c}) == []


def test_a_charge_we_never_recorded_is_a_lost_payment() -> None:
    found = reconcile([paid("ch9", payload="lostorder1")], [], {})
    assert kinds(found) == [MismatchKind.MISSING_LOCALLY]
    assert found[0].charge_id == "ch9" and found[0].order_code is None
    assert "lostorder1" in found[0].detail and "42" in found[0].detail


def test_an_honoured_charge_the_provider_does_not_list() -> None:
    o = order(1, "ord1code")
    found = reconcile([], [(o, [charge("ch1", 1)])], {})
    assert [(m.kind, m.charge_id, m.order_code) for m in found] == [
        (MismatchKind.MISSING_AT_PROVIDER, "ch1", "ord1code")
    ]


def test_only_charges_inside_the_period_must_be_listed() -> None:
    """A charge recorded before the ledger's period (or after it was fetched) is not a difference."""
    o = order(1, "ord1code")
    early, late = charge("ch1", 1, at=T - timedelta(days=2)), charge("ch2", 1, "renewed", at=T + timedelta(hours=3))
    found = reconcile([], [(o, [early, late])], {}, since=T - timedelta(days=1), until=T + timedelta(hours=2))
    assert found == []


def test_charges_recorded_only_to_be_refunded_need_not_be_listed_as_honoured() -> None:
    o = order(1, "ord1code")
    extra = charge("ch2", 1, "extra")
    assert reconcile([paid("ch1")], [(o, [charge("ch1", 1), extra])], {"ch1": charge("ch1", 1)}) == []


def test_amount_or_currency_differ() -> None:
    o = order(1, "ord1code")
    c = charge("ch1", 1, total=Money(200, "XTR"))
    found = reconcile([paid("ch1")], [(o, [c])], {"ch1": c})
    assert kinds(found) == [MismatchKind.AMOUNT]
    assert found[0].order_code == "ord1code" and "250" in found[0].detail and "200" in found[0].detail


def test_refunded_at_the_provider_while_our_order_is_still_paid() -> None:
    o = order(1, "ord1code")
    c = charge("ch1", 1)
    found = reconcile([paid("ch1"), refunded("ch1")], [(o, [c])], {"ch1": c})
    assert [(m.kind, m.order_code) for m in found] == [(MismatchKind.REFUNDED_AT_PROVIDER, "ord1code")]


def test_a_refund_of_an_older_payment_is_still_checked() -> None:
    """The payment is older than the ledger's period; only its refund is listed."""
    o = order(1, "ord1code")
    c = charge("ch1", 1, at=T - timedelta(days=5))
    found = reconcile([refunded("ch1")], [(o, [c])], {"ch1": c}, since=T - timedelta(days=1))
    assert kinds(found) == [MismatchKind.REFUNDED_AT_PROVIDER]


def test_refunded_on_both_sides_is_fine() -> None:
    o = order(1, "ord1code", OrderStatus.REFUNDED)
    c = charge("ch1", 1)
    assert reconcile([paid("ch1"), refunded("ch1")], [(o, [c])], {"ch1": c}) == []


def test_an_order_we_refunded_whose_charge_the_provider_did_not_refund() -> None:
    o = order(1, "ord1code", OrderStatus.REFUNDED)
    c = charge("ch1", 1)
    found = reconcile([paid("ch1")], [(o, [c])], {"ch1": c})
    assert [(m.kind, m.charge_id, m.order_code) for m in found] == [
        (MismatchKind.NOT_REFUNDED_AT_PROVIDER, "ch1", "ord1code")
    ]


def test_a_subscription_refund_settles_with_any_one_of_its_charges() -> None:
    """We refund the current period's charge; earlier renewals stay paid at the provider, rightly."""
    o = order(1, "ord1code", OrderStatus.REFUNDED)
    first, renewal = charge("ch1", 1), charge("ch2", 1, "renewed", at=T + timedelta(days=30))
    entries = [paid("ch1"), paid("ch2", at=T + timedelta(days=30)), refunded("ch2", T + timedelta(days=31))]
    assert reconcile(entries, [(o, [first, renewal])], {"ch1": first, "ch2": renewal}) == []
    found = reconcile(entries[:2], [(o, [first, renewal])], {"ch1": first, "ch2": renewal})
    assert [(m.kind, m.charge_id) for m in found] == [(MismatchKind.NOT_REFUNDED_AT_PROVIDER, "ch2")]


def test_a_charge_due_back_that_the_provider_still_shows_paid() -> None:
    o = order(1, "ord1code")
    applied, extra = charge("ch1", 1), charge("ch2", 1, "extra")
    found = reconcile([paid("ch1"), paid("ch2")], [(o, [applied, extra])], {"ch1": applied, "ch2": extra})
    assert [(m.kind, m.charge_id) for m in found] == [(MismatchKind.REFUND_OWED, "ch2")]
    settled = reconcile(
        [paid("ch1"), paid("ch2"), refunded("ch2")], [(o, [applied, extra])], {"ch1": applied, "ch2": extra}
    )
    assert settled == []


def test_the_lost_payment_comes_first() -> None:
    o = order(1, "ord1code")
    c = charge("ch1", 1, total=Money(1, "XTR"))
    found = reconcile([paid("ch1"), paid("ch9")], [(o, [c])], {"ch1": c})
    assert kinds(found) == [MismatchKind.MISSING_LOCALLY, MismatchKind.AMOUNT]
