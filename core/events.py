"""Neutral inbound events: what any messenger's adapter turns its updates into.

Handlers see only these. A command is just a :class:`Message` whose text
starts with ``/``; a button press carries the opaque ``action`` string the
bot itself attached to the button (and which handlers still validate, since
callback data can be forged on some messengers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.money import Money
from core.users import Ref

__all__ = [
    "ButtonPress",
    "Event",
    "JoinRequest",
    "MemberJoined",
    "MemberLeft",
    "Message",
    "PaymentRefunded",
    "PaymentSucceeded",
    "PreCheckout",
    "Sender",
]


@dataclass(frozen=True, slots=True)
class Sender:
    ref: Ref
    language_code: str | None = None  # as the messenger reports it
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    sender: Sender
    text: str


@dataclass(frozen=True, slots=True)
class ButtonPress:
    sender: Sender
    action: str


@dataclass(frozen=True, slots=True)
class PreCheckout:
    """The provider asks: may this payment go ahead? (Telegram's pre_checkout_query.)"""

    sender: Sender
    payload: str  # the invoice payload we created: the order code
    total: Money


@dataclass(frozen=True, slots=True)
class PaymentSucceeded:
    """The provider confirms a charge. Only this ever grants access."""

    sender: Sender
    provider: str
    charge_id: str
    payload: str
    total: Money
    # Subscriptions (Telegram Stars): the first charge and every renewal carry the period's end.
    recurring: bool = False
    first_recurring: bool = False
    period_end: datetime | None = None

    @property
    def is_renewal(self) -> bool:
        return self.recurring and not self.first_recurring


@dataclass(frozen=True, slots=True)
class PaymentRefunded:
    """The provider reports that a charge was refunded (Telegram's refunded_payment)."""

    sender: Sender
    provider: str
    charge_id: str
    payload: str
    total: Money


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """``sender`` asks to join the community chat ``chat_id`` (Telegram's chat_join_request)."""

    sender: Sender
    chat_id: str


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """``sender`` became a member of ``chat_id``; ``invite_link`` is the link they used, if any."""

    sender: Sender
    chat_id: str
    invite_link: str | None = None


@dataclass(frozen=True, slots=True)
class MemberLeft:
    """``sender`` left ``chat_id`` or was removed from it."""

    sender: Sender
    chat_id: str


Event = (
    Message | ButtonPress | PreCheckout | PaymentSucceeded | PaymentRefunded | JoinRequest | MemberJoined | MemberLeft
)
