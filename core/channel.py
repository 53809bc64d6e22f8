"""What a messenger can do, declared by its adapter and consulted by the core.

The core never guesses ("is this Telegram?"): it asks the capabilities.
Handlers use them to pick a price the channel's payment provider can
collect; the delivery engine (issue 5) will use the send window and quotas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Capabilities"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    channel: str  # "console", "telegram", "wechat"
    buttons: bool = False  # native buttons (else numbered options)
    invoices: bool = False  # can present an InvoiceReply natively
    payment_provider: str | None = None  # who collects money here ("sandbox", "telegram_stars", "wechat_pay")
    currencies: frozenset[str] | None = None  # what that provider accepts (None: any)
    preferred_currency: str | None = None  # charge in this one when the item has it (Telegram: Stars)
    max_text: int = 4096  # longest single text message, in characters
    send_window: timedelta | None = None  # proactive messages only inside this window (WeChat: 48 h)
    quota_per_inbound: int | None = None  # proactive messages per inbound message (WeChat: 5)
    media: bool = True
    subscriptions: frozenset[int] = frozenset()  # periods (days) the provider renews automatically
    share_url: str | None = None  # deep-link base for sharing, e.g. "https://t.me/<bot>?start="
    sells: bool = True  # False: show no prices or buy buttons here (WeChat on iOS: virtual goods are forbidden)
