"""Neutral inbound events: what any messenger's adapter turns its updates into.

Handlers see only these. A command is just a :class:`Message` whose text
starts with ``/``; a button press carries the opaque ``action`` string the
bot itself attached to the button (and which handlers still validate, since
callback data can be forged on some messengers).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.money import Money
from core.users import Ref

__all__ = ["ButtonPress", "Event", "Message", "PaymentSucceeded", "PreCheckout", "Sender"]


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


Event = Message | ButtonPress | PreCheckout | PaymentSucceeded
