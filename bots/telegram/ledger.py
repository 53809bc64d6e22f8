"""The Telegram Stars ledger (``getStarTransactions``) as a :class:`core.reconciliation.Ledger`.

Incoming payments are transactions whose ``source`` is a user paying an
invoice (``TransactionPartnerUser`` with ``transaction_type ==
"invoice_payment"``); a refund is the same charge id going out again, with
the user as ``receiver``. Everything else (withdrawals, ads, paid media, gifts)
is not ours to reconcile and is skipped. Amounts are whole Stars (``XTR``).

Paging: the Bot API documents the list as chronological, while Telegram's own
clients list Stars history newest first. So this pages with ``offset`` until
a short page (the end) and stops early only when the listing visibly runs
backwards in time and has passed ``since``; in oldest-first order it reads
to the end, which is correct either way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import Bot, StarTransaction, TransactionPartnerUser
from telegram.error import TelegramError

from core.errors import GatewayError
from core.money import STARS, Money
from core.reconciliation import LedgerEntry

__all__ = ["StarLedger"]

log = logging.getLogger(__name__)

PAGE = 100  # the Bot API's maximum
_INVOICE = "invoice_payment"


class StarLedger:
    """Reads a bot's Stars transactions; ``max_pages`` bounds one reading (100 transactions a page)."""

    def __init__(self, bot: Bot, *, page_size: int = PAGE, max_pages: int = 1000) -> None:
        if not 1 <= page_size <= PAGE:
            raise ValueError(f"page_size must be 1..{PAGE}")
        self.bot = bot
        self.page_size = page_size
        self.max_pages = max_pages

    async def entries(self, since: datetime) -> list[LedgerEntry]:
        """Every invoice payment and refund dated at or after ``since``, deduplicated, oldest first."""
        found: dict[tuple[str, bool], LedgerEntry] = {}
        offset = 0
        first: datetime | None = None
        for _ in range(self.max_pages):
            try:
                page = await self.bot.get_star_transactions(offset=offset, limit=self.page_size)
            except TelegramError as exc:
                raise GatewayError(f"getStarTransactions failed: {exc.message[:200]}") from None
            txs = page.transactions
            for tx in txs:
                entry = _entry(tx)
                if entry is not None and entry.at >= since:
                    found.setdefault((entry.charge_id, entry.refund), entry)
            if len(txs) < self.page_size:
                break
            offset += len(txs)
            first = first or _aware(txs[0].date)
            oldest = _aware(txs[-1].date)
            if oldest < first and oldest < since:
                break  # newest-first listing, and everything further is older than ``since``
        else:
            log.warning("star ledger: stopped after %d pages; older transactions were not read", self.max_pages)
        return sorted(found.values(), key=lambda e: (e.at, e.refund))


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _entry(tx: StarTransaction) -> LedgerEntry | None:
    """A payment (``source`` a user paying an invoice) or a refund (``receiver`` that user); else None."""
    partner, refund = (tx.source, False) if tx.source is not None else (tx.receiver, True)
    if not isinstance(partner, TransactionPartnerUser) or partner.transaction_type != _INVOICE:
        return None
    return LedgerEntry(
        charge_id=tx.id,
        user_external_id=str(partner.user.id),
        amount=Money(tx.amount, STARS),
        payload=partner.invoice_payload or "",
        at=_aware(tx.date),
        refund=refund,
    )
