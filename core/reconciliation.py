"""Reconciliation: compare the provider's own ledger with what we recorded.

Every charge is confirmed exactly once from a provider update, but updates can
be lost (a webhook that failed past Telegram's retries, a crash between the
charge and our commit), and refunds can happen outside the bot (Telegram
support). The provider's ledger (Telegram's ``getStarTransactions``) is the
other side of the books; :func:`reconcile` lists every difference so an admin
can act. It is pure: the job (``jobs/reconcile.py``) gathers the inputs.

What counts as a difference (:class:`MismatchKind`):

* a charge at the provider that we never recorded: the buyer paid and got
  nothing (a lost ``successful_payment``): the most important one;
* a charge we honoured that the provider does not list;
* the same charge with a different amount or currency on each side;
* a charge refunded at the provider while our order is still paid (access
  was not revoked);
* an order we refunded whose charges the provider shows as not refunded (the
  buyer did not get the money back);
* a charge we recorded only to give back (extra, mismatched, unknown order)
  that the provider still shows as paid (the automatic refund failed).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.money import Money
from core.orders import REFUND_DUE, Order, OrderStatus
from core.ports import PaymentRecord
from core.purchasing import HONOURED

__all__ = ["Ledger", "LedgerEntry", "Mismatch", "MismatchKind", "reconcile"]

_TO_GIVE_BACK = frozenset(o.value for o in REFUND_DUE)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement in the provider's ledger: a payment in, or (``refund``) the same charge going back."""

    charge_id: str
    user_external_id: str  # the payer's id on the provider's messenger (a Telegram user id)
    amount: Money
    payload: str  # the invoice payload: our order code
    at: datetime
    refund: bool


class Ledger(Protocol):
    """The provider's ledger, as far back as ``since`` (implemented by ``bots.telegram.ledger.StarLedger``)."""

    async def entries(self, since: datetime) -> list[LedgerEntry]:
        """Every payment and refund at or after ``since``; raise ``core.errors.GatewayError`` when unreachable."""
        ...


class MismatchKind(enum.StrEnum):
    MISSING_LOCALLY = "missing_locally"  # paid at the provider, never recorded here
    MISSING_AT_PROVIDER = "missing_at_provider"  # honoured here, not listed by the provider
    AMOUNT = "amount"  # amount or currency differ
    REFUNDED_AT_PROVIDER = "refunded_at_provider"  # refunded there, order still paid here
    NOT_REFUNDED_AT_PROVIDER = "not_refunded_at_provider"  # order refunded here, charge not refunded there
    REFUND_OWED = "refund_owed"  # recorded to be given back, still paid there


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: MismatchKind
    charge_id: str
    order_code: str | None  # None when no local order is known for the charge
    detail: str  # values only (amounts, ids): shown to admins and logged


def reconcile(
    entries: Sequence[LedgerEntry],
    local_orders: Sequence[tuple[Order, list[PaymentRecord]]],
    local_charges: dict[str, PaymentRecord],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Mismatch]:
    """Every difference between the provider's ledger and our records, most important first.

    ``entries`` is the provider's ledger for the period; ``local_orders`` are our orders of that
    provider paid (or refunded) in the period, with their charges; ``local_charges`` maps the
    charge id of each ledger entry to our record of it, where we have one (their orders should
    be in ``local_orders`` too, so their status is known). ``since``/``until`` bound which of
    our charges the ledger must list: a charge recorded outside them may simply be outside the
    ledger's page of history (or newer than the ledger fetch), which is not a difference.
    """
    paid: dict[str, LedgerEntry] = {}
    refunded: set[str] = set()
    for entry in entries:
        if entry.refund:
            refunded.add(entry.charge_id)
        else:
            paid.setdefault(entry.charge_id, entry)
    orders = {order.id: order for order, _ in local_orders}
    out: list[Mismatch] = []

    for charge_id, entry in paid.items():
        record = local_charges.get(charge_id)
        if record is None:
            detail = f"{entry.amount} payload={entry.payload[:64]} user={entry.user_external_id}"
            out.append(Mismatch(MismatchKind.MISSING_LOCALLY, charge_id, None, detail))
            continue
        order = orders.get(record.order_id) if record.order_id is not None else None
        code = order.code if order else None
        if record.total != entry.amount:
            out.append(Mismatch(MismatchKind.AMOUNT, charge_id, code, f"{entry.amount} != {record.total}"))
        if charge_id not in refunded and record.outcome in _TO_GIVE_BACK:
            out.append(Mismatch(MismatchKind.REFUND_OWED, charge_id, code, f"{entry.amount} {record.outcome}"))

    for charge_id in sorted(refunded):  # the payment itself may be older than the ledger's period
        record = local_charges.get(charge_id)
        order = orders.get(record.order_id) if record is not None and record.order_id is not None else None
        if record is not None and record.outcome in HONOURED and order is not None and order.status is OrderStatus.PAID:
            out.append(Mismatch(MismatchKind.REFUNDED_AT_PROVIDER, charge_id, order.code, f"{record.total}"))

    for order, payments in local_orders:
        honoured = [p for p in payments if p.outcome in HONOURED]
        for record in honoured:
            in_period = (since is None or record.created_at >= since) and (until is None or record.created_at <= until)
            if in_period and record.charge_id not in paid and record.charge_id not in refunded:
                out.append(Mismatch(MismatchKind.MISSING_AT_PROVIDER, record.charge_id, order.code, f"{record.total}"))
        if order.status is OrderStatus.REFUNDED and honoured:
            listed = [p for p in honoured if p.charge_id in paid]
            # Our refund gives back one charge (a subscription's current period); any one of the
            # order's charges going back at the provider settles it. Judge only what the ledger lists.
            if listed and not any(p.charge_id in refunded for p in honoured):
                last = listed[-1]
                out.append(Mismatch(MismatchKind.NOT_REFUNDED_AT_PROVIDER, last.charge_id, order.code, f"{last.total}"))

    order_of_kind = list(MismatchKind)
    return sorted(out, key=lambda m: order_of_kind.index(m.kind))
