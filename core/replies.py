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
    """A media file (``path``, named by its ``sha256``) with a caption and, like a text, buttons.

    The buttons belong to the media (a broadcast's photo carries its action buttons): Telegram puts
    them under the photo, WeChat and the console number them after the caption. A caption too long
    for the messenger's caption limit comes as a message of its own right after the media, with the
    buttons. ``markdown``: the caption is Markdown (a broadcast's), not plain text (a lesson file's).
    """

    kind: MediaKind
    path: str
    sha256: str
    caption: str = ""
    protect: bool = False
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    markdown: bool = False


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
