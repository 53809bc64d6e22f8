"""Telegram updates → neutral events (and where the replies should go).

Only what the bot handles becomes an event; everything else is ignored
(and logged at debug level). The mapping never trusts client-side data:
a callback's data is decoded by :class:`CallbackCodec`, a payment is only
ever reported by Telegram itself (``successful_payment``), and the sender
is always Telegram's ``from`` user, never a field of the payload.

Private messages become a :class:`core.events.Message` when they carry text,
a photo, or were forwarded (``forward_origin``): the text or caption, its
entities as Markdown (:mod:`bots.telegram.entities`; escaped when forwarded),
and for a photo the largest size within :data:`core.photos.MAX_PHOTO_BYTES`
as :attr:`Inbound.photo`, which the channel downloads before dispatching
(:mod:`bots.telegram.photos`). Stickers, voice notes and the like that were
not forwarded are ignored, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telegram import ChatMember, ChatMemberUpdated, PhotoSize, Update, User
from telegram import Message as TgMessage

from bots.telegram.entities import to_markdown
from core.events import (
    ButtonPress,
    Event,
    JoinRequest,
    MemberJoined,
    MemberLeft,
    Message,
    PaymentRefunded,
    PaymentSucceeded,
    PhotoProblem,
    PreCheckout,
    Sender,
)
from core.money import Money
from core.photos import MAX_PHOTO_BYTES
from core.users import Ref

__all__ = ["ALLOWED_UPDATES", "PROVIDER", "Inbound", "PhotoFile", "largest_photo", "sender_of", "to_event"]

PROVIDER = "telegram_stars"  # every Telegram charge (Stars, and fiat through a provider token)

#: Every update type the bot handles: passed to setWebhook / getUpdates explicitly,
#: because chat_member is not delivered unless asked for.
ALLOWED_UPDATES = [
    "message",
    "callback_query",
    "pre_checkout_query",
    "chat_member",
    "chat_join_request",
    "my_chat_member",
]

_IN = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER)
_OUT = (ChatMember.LEFT, ChatMember.BANNED)


#: What a forwarded message may hold besides text and a photo, in the order we name it.
_OTHER_CONTENT = (
    "animation",
    "video",
    "video_note",
    "audio",
    "voice",
    "document",
    "sticker",
    "poll",
    "location",
    "venue",
    "contact",
    "dice",
    "game",
    "story",
    "paid_media",
)


@dataclass(frozen=True, slots=True)
class PhotoFile:
    """A photo Telegram holds for us: which size to download before the event is dispatched."""

    file_id: str
    file_size: int | None = None  # as Telegram reports it (None: unknown until downloaded)


@dataclass(frozen=True, slots=True)
class Inbound:
    """A neutral event plus what the adapter needs to answer it."""

    event: Event | None  # None: a button whose data didn't decode ("menu expired")
    chat_id: int  # where replies go (the user's private chat)
    callback_id: str | None = None
    callback_message_id: int | None = None
    pre_checkout_id: str | None = None
    action: str = ""
    language_code: str | None = None  # for the adapter's own words when there is no event
    photo: PhotoFile | None = None  # the event is a Message whose photo the channel still has to download


def sender_of(user: User) -> Sender:
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return Sender(Ref("telegram", str(user.id)), user.language_code, name[:128])


def _is_member(member: ChatMember) -> bool:
    if member.status in _IN:
        return True
    return member.status == ChatMember.RESTRICTED and bool(getattr(member, "is_member", False))


def _membership(change: ChatMemberUpdated) -> Event | None:
    user = change.new_chat_member.user
    if user.is_bot:
        return None
    was, now = _is_member(change.old_chat_member), _is_member(change.new_chat_member)
    chat_id = str(change.chat.id)
    if now and not was:
        link = change.invite_link.invite_link if change.invite_link else None
        return MemberJoined(sender_of(user), chat_id, link)
    if was and not now and change.new_chat_member.status in (*_OUT, ChatMember.RESTRICTED):
        return MemberLeft(sender_of(user), chat_id)
    return None


def largest_photo(sizes: Sequence[PhotoSize], limit: int = MAX_PHOTO_BYTES) -> PhotoSize | None:
    """The biggest size (by pixels) Telegram says is within ``limit`` bytes; None when every size is over it."""
    fitting = [p for p in sizes if p.file_size is None or p.file_size <= limit]
    return max(fitting, key=lambda p: (p.width * p.height, p.file_size or 0), default=None)


def _other_content(msg: TgMessage) -> str:
    return next((name for name in _OTHER_CONTENT if getattr(msg, name, None)), "")


def _message(msg: TgMessage, who: Sender) -> Inbound | None:
    """Text, a photo, or anything forwarded; None for what the bot doesn't read (a sticker sent as such)."""
    forwarded = msg.forward_origin is not None
    if msg.text is None and not msg.photo and not forwarded:
        return None
    text = msg.text if msg.text is not None else (msg.caption or "")
    entities = msg.entities if msg.text is not None else msg.caption_entities
    markdown = to_markdown(text, entities, escape=forwarded) if text else None
    photo: PhotoFile | None = None
    problem: PhotoProblem | None = None
    if msg.photo:
        size = largest_photo(msg.photo)
        if size is None:
            problem = PhotoProblem.TOO_LARGE
        else:
            photo = PhotoFile(size.file_id, size.file_size)
    unsupported = _other_content(msg) if forwarded else ""
    event = Message(who, text, markdown=markdown, forwarded=forwarded, photo_problem=problem, unsupported=unsupported)
    return Inbound(event, msg.chat.id, photo=photo)


def to_event(update: Update, action: str | None = None) -> Inbound | None:
    """Map one update; ``action`` is the already-decoded callback data (None if it didn't decode)."""
    if update.callback_query is not None:
        q = update.callback_query
        chat_id = q.message.chat.id if q.message is not None else q.from_user.id
        mid = q.message.message_id if q.message is not None else None
        event = ButtonPress(sender_of(q.from_user), action) if action else None
        return Inbound(
            event,
            chat_id,
            callback_id=q.id,
            callback_message_id=mid,
            action=action or "",
            language_code=q.from_user.language_code,
        )
    if update.pre_checkout_query is not None:
        p = update.pre_checkout_query
        total = Money(p.total_amount, p.currency)
        return Inbound(
            PreCheckout(sender_of(p.from_user), p.invoice_payload, total), p.from_user.id, pre_checkout_id=p.id
        )
    msg = update.message
    if msg is not None and msg.from_user is not None and msg.chat.type == "private":
        who = sender_of(msg.from_user)
        if msg.successful_payment is not None:
            sp = msg.successful_payment
            event: Event = PaymentSucceeded(
                who,
                PROVIDER,
                sp.telegram_payment_charge_id,
                sp.invoice_payload,
                Money(sp.total_amount, sp.currency),
                recurring=bool(sp.is_recurring),
                first_recurring=bool(sp.is_first_recurring),
                period_end=sp.subscription_expiration_date,
            )
            return Inbound(event, msg.chat.id)
        if msg.refunded_payment is not None:
            rp = msg.refunded_payment
            total = Money(rp.total_amount, rp.currency)
            refunded = PaymentRefunded(who, PROVIDER, rp.telegram_payment_charge_id, rp.invoice_payload, total)
            return Inbound(refunded, msg.chat.id)
        return _message(msg, who)
    if update.chat_join_request is not None:
        r = update.chat_join_request
        return Inbound(JoinRequest(sender_of(r.from_user), str(r.chat.id)), r.user_chat_id)
    if update.chat_member is not None:
        change = _membership(update.chat_member)
        if change is not None:
            return Inbound(change, update.chat_member.new_chat_member.user.id)
    return None
