"""Neutral inbound events: what any messenger's adapter turns its updates into.

Handlers see only these. A command is just a :class:`Message` whose text
starts with ``/``; a button press carries the opaque ``action`` string the
bot itself attached to the button (and which handlers still validate, since
callback data can be forged on some messengers).

A message may carry more than its text: a :class:`Photo` the adapter has
already downloaded and stored (so handlers never talk to a messenger to get
it, and any channel can send it again), the text *with its formatting* as our
Markdown dialect, and whether it was forwarded from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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
    "Photo",
    "PhotoProblem",
    "PreCheckout",
    "Sender",
]


@dataclass(frozen=True, slots=True)
class Sender:
    ref: Ref
    language_code: str | None = None  # as the messenger reports it
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class Photo:
    """An image the user sent, downloaded by the adapter and stored content-addressed in the media
    folder (:func:`core.photos.store_photo`): ``path`` and ``sha256`` exactly as a
    :class:`core.replies.MediaReply` names course media, so it can be sent again on any channel."""

    path: str
    sha256: str


class PhotoProblem(StrEnum):
    """Why the adapter could not take the photo a user sent (the dispatcher tells them; nothing else runs)."""

    TOO_LARGE = "too_large"  # over core.photos.MAX_PHOTO_BYTES
    NOT_AN_IMAGE = "not_an_image"  # not JPEG, PNG or WebP
    UNAVAILABLE = "unavailable"  # the messenger would not hand it over (network, expired media id, missing file)


@dataclass(frozen=True, slots=True)
class Message:
    """What the user wrote.

    ``text`` is the raw text (a photo's caption): commands, search and typed answers read it.
    ``markdown`` is the same text with the messenger's formatting written as our Markdown dialect
    (what :mod:`bots.telegram.markup` renders), or None where the messenger has no formatting. In
    the sender's own message the characters they typed are kept as typed, so Markdown they type
    still works beside the messenger's bold and links; a *forwarded* message's text is escaped, so
    it reads exactly as it did where it came from.
    ``unsupported`` names content the adapter could not carry over (``"video"``, ``"sticker"``…), so
    a handler that needs the whole message can refuse it instead of silently dropping part of it.
    """

    sender: Sender
    text: str
    markdown: str | None = None
    photo: Photo | None = None
    photo_problem: PhotoProblem | None = None  # the user sent a photo we could not take
    forwarded: bool = False
    unsupported: str = ""


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
