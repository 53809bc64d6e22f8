"""Neutral replies: what handlers return and every adapter renders.

Adapters render as well as their messenger allows and degrade the rest
(Rasa's OutputChannel idea): buttons become inline keyboards on Telegram and
numbered options on WeChat and the console; media becomes a link or a note
where it cannot be sent. A drip lesson, a broadcast and a reply to a user are
the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.catalog import MediaKind
from core.money import Money

__all__ = [
    "Button",
    "CheckoutAnswer",
    "InvoiceReply",
    "MediaReply",
    "Reply",
    "TextReply",
]


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action: str = ""  # opaque, short, ASCII: e.g. "c:python-101" (see handlers.actions)
    url: str = ""  # a link button (an invite link, a share link) instead of an action

    @property
    def is_link(self) -> bool:
        return bool(self.url)


@dataclass(frozen=True, slots=True)
class TextReply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    markdown: bool = False  # lesson bodies are Markdown; UI text is plain
    protect: bool = False  # paid content: adapters forbid forwarding where they can


@dataclass(frozen=True, slots=True)
class MediaReply:
    kind: MediaKind
    path: str
    sha256: str
    caption: str = ""
    protect: bool = False


@dataclass(frozen=True, slots=True)
class InvoiceReply:
    """Ask the channel's payment provider to collect ``price`` for an order."""

    order_code: str
    title: str
    description: str
    price: Money
    pay_label: str = ""  # localized "Pay ¥99.00", for channels that draw their own pay button
    buttons: tuple[tuple[Button, ...], ...] = field(default_factory=tuple)
    subscription_days: int | None = None  # renews automatically every so many days (Stars subscriptions)
    prompt: str = ""  # text shown with a payment link, where the channel sends a link instead of an invoice


@dataclass(frozen=True, slots=True)
class CheckoutAnswer:
    """The answer to a :class:`core.events.PreCheckout`: ok, or why not."""

    ok: bool
    error: str = ""


Reply = TextReply | MediaReply | InvoiceReply | CheckoutAnswer
