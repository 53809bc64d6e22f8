"""The Telegram Stars reconciliation job: the provider's ledger against our records.

Every ``RECONCILE_HOURS`` the scheduler fetches the Stars ledger for the last
period, loads our charges and orders for it, and lists the differences
(:func:`core.reconciliation.reconcile`). Each one is logged; admins get one
message listing the first :data:`MAX_LISTED`. Nothing is changed
automatically: a lost payment may need a grant or a refund, and that is an
admin's decision (``/refund``), made with the order code in hand.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.i18n import translator
from core.ports import Notifier, PaymentRecord, UnitOfWorkFactory
from core.reconciliation import Ledger, Mismatch, reconcile
from core.replies import TextReply
from core.users import Role, User

__all__ = ["LEDGER_SLACK", "MAX_LISTED", "PROVIDER", "reconcile_stars"]

log = logging.getLogger(__name__)

PROVIDER = "telegram_stars"
MAX_LISTED = 20
#: The ledger is read this much further back than our records, so a charge we recorded just
#: inside the period (Telegram dated it a little earlier) is not reported as missing there.
LEDGER_SLACK = timedelta(hours=1)


async def reconcile_stars(
    uow_factory: UnitOfWorkFactory,
    ledger: Ledger,
    notifier: Notifier | None,
    now: datetime,
    *,
    window: timedelta,
) -> list[Mismatch]:
    """Compare the last ``window`` of the Stars ledger with our records; log and report every difference.

    The ledger is fetched first and our records are loaded afterwards, bounded by ``now``: a charge
    arriving meanwhile is in neither, never in one side only. Raises what the ledger raises
    (``GatewayError``): the scheduler logs it and the next run tries again.
    """
    since = now - window
    entries = await ledger.entries(since - LEDGER_SLACK)
    async with uow_factory() as uow:
        local_orders = list(await uow.orders.paid_since(PROVIDER, since))
        known = {order.id for order, _ in local_orders}
        charges: dict[str, PaymentRecord] = {}
        for entry in entries:
            if entry.charge_id in charges:
                continue
            record = await uow.orders.get_payment(PROVIDER, entry.charge_id)
            if record is None:
                continue
            charges[entry.charge_id] = record
            if record.order_id is not None and record.order_id not in known:
                # An older order (a subscription renewed in the period, a refund of an earlier charge):
                # its status is needed to judge the charge.
                order = await uow.orders.get(record.order_id)
                if order is not None:
                    local_orders.append((order, await uow.orders.payments_for(order.id)))
                    known.add(order.id)
        admins = await uow.users.with_role(Role.ADMIN)
    mismatches = reconcile(entries, local_orders, charges, since=since, until=now)
    for m in mismatches:
        log.warning("stars reconciliation: %s charge=%s order=%s %s", m.kind.value, m.charge_id, m.order_code, m.detail)
    if mismatches:
        await _tell_admins(notifier, admins, mismatches, since)
    return mismatches


async def _tell_admins(
    notifier: Notifier | None, admins: list[User], mismatches: list[Mismatch], since: datetime
) -> None:
    if notifier is None:
        log.warning("no notifier configured: the reconciliation report was not sent")
        return
    for admin in admins:
        t = translator(admin.lang)
        lines = [t("reconcile.report", since=t.when(since, admin.timezone), count=len(mismatches))]
        for m in mismatches[:MAX_LISTED]:
            kind = t(f"reconcile.kind.{m.kind.value}")
            lines.append(t("reconcile.line", kind=kind, charge=m.charge_id, order=m.order_code or "-", detail=m.detail))
        if len(mismatches) > MAX_LISTED:
            lines.append(t("reconcile.more", count=len(mismatches) - MAX_LISTED))
        try:
            await notifier.notify(admin.id, [TextReply("\n".join(lines))])
        except Exception:
            log.exception("reconciliation report to admin %s failed", admin.id)
