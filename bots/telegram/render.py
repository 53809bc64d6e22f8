"""Neutral replies → Bot API calls.

* Text: lesson Markdown becomes Telegram HTML, UI text is escaped; long text
  is split at paragraph/sentence boundaries (:mod:`bots.telegram.markup`),
  and the buttons go on the last piece. If Telegram still refuses the markup
  (a renderer bug), the text is re-sent without formatting rather than lost.
* Buttons become inline keyboards; link buttons open URLs.
* Media is uploaded once per bot and re-sent by its cached ``file_id`` (a photo
  a user sent the bot is cached from the start, :mod:`bots.telegram.photos`);
  consecutive photos/videos (or audios, or documents) go as one album.
* Media with buttons (a broadcast's photo) carries them as its inline keyboard
  and never joins an album (albums take no keyboard). A Markdown caption is
  rendered like text; one over the 1024-character caption limit goes as the
  photo alone, then the whole text with the buttons as a message, so the text
  is never cut in two.
* Paid content is sent with ``protect_content`` (configurable).
* Invoices: ``sendInvoice`` (Stars: XTR, one price, no provider token), or a
  ``createInvoiceLink`` with ``subscription_period`` for memberships that renew.
* The bulk lane (:mod:`bots.telegram.bulk`) renders with its own instance:
  ``retry_flood=False`` raises a 429 at once (the delivery engine reschedules),
  and while :data:`PAID` is set every send carries ``allow_paid_broadcast``.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    LabeledPrice,
    LinkPreviewOptions,
)
from telegram import Message as TgMessage
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bots.telegram import retry
from bots.telegram.callbacks import CallbackCodec
from bots.telegram.markup import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    caption_and_rest,
    markdown_to_html,
    plain_to_html,
    split_html,
    visible_length,
)
from core.catalog import MediaKind
from core.clock import Clock
from core.money import STARS
from core.replies import Button, InvoiceReply, MediaReply, Reply, TextReply

__all__ = ["PAID", "FileIdStore", "RenderConfig", "Renderer", "file_sender"]

log = logging.getLogger(__name__)

#: True while a paid broadcast is being sent (set by the bulk sender around one send): every send call
#: then carries ``allow_paid_broadcast`` (up to 1000 messages/s, paid in Stars).
PAID: ContextVar[bool] = ContextVar("telegram_paid_broadcast", default=False)
T = TypeVar("T")
_TAG = re.compile(r"<[^>]*>")
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_GROUPS = {
    MediaKind.PHOTO: "visual",
    MediaKind.VIDEO: "visual",
    MediaKind.AUDIO: "audio",
    MediaKind.DOCUMENT: "document",
}
_INPUT_MEDIA = {
    MediaKind.PHOTO: InputMediaPhoto,
    MediaKind.VIDEO: InputMediaVideo,
    MediaKind.AUDIO: InputMediaAudio,
    MediaKind.DOCUMENT: InputMediaDocument,
}


class FileIdStore(Protocol):
    async def get(self, sender: str, sha256: str, kind: str) -> str | None: ...
    async def put(self, sender: str, sha256: str, kind: str, file_id: str, now: datetime) -> None: ...
    async def forget(self, sender: str, sha256: str, kind: str) -> None: ...


@dataclass(frozen=True, slots=True)
class RenderConfig:
    protect_content: bool = True
    provider_token: str = ""  # for fiat invoices only
    disable_previews: bool = True


def file_sender(bot_id: int) -> str:
    """Whose file ids these are, in the :class:`FileIdStore`: a file_id is only valid for the bot that got it."""
    return f"telegram:{bot_id}"


def _plain(html_text: str) -> str:
    return html.unescape(_TAG.sub("", html_text))


def _file_id(msg: TgMessage, kind: MediaKind) -> str | None:
    if kind is MediaKind.PHOTO:
        return msg.photo[-1].file_id if msg.photo else None
    obj = getattr(msg, kind.value, None)
    if obj is None and kind is MediaKind.ANIMATION:
        obj = msg.document
    return getattr(obj, "file_id", None)


def _title(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _paid() -> bool | None:
    """``allow_paid_broadcast`` for a send call: True inside a paid broadcast, else left out (None)."""
    return True if PAID.get() else None


class Renderer:
    """Sends replies to one chat. Raises ``telegram.error.Forbidden`` when the user blocked the bot.

    ``retry_flood=False``: a 429 raises ``telegram.error.RetryAfter`` at once instead of waiting and
    retrying (network errors are still retried).
    """

    def __init__(
        self,
        bot: Bot,
        codec: CallbackCodec,
        files: FileIdStore,
        config: RenderConfig,
        clock: Clock,
        *,
        retry_flood: bool = True,
    ) -> None:
        self.bot = bot
        self.codec = codec
        self.files = files
        self.config = config
        self._clock = clock
        self._retry_flood = retry_flood

    async def _call(self, fn: Callable[[], Awaitable[T]], *, what: str) -> T:
        return await retry.call(fn, what=what, retry_flood=self._retry_flood)

    @property
    def _sender(self) -> str:
        return file_sender(self.bot.id)

    async def keyboard(self, rows: Sequence[Sequence[Button]], user_id: int) -> InlineKeyboardMarkup | None:
        """The keyboard as PTB objects (for calls made through PTB's typed methods)."""
        plain = await self.keyboard_json(rows, user_id)
        return InlineKeyboardMarkup.de_json(plain, self.bot) if plain else None

    async def keyboard_json(self, rows: Sequence[Sequence[Button]], user_id: int) -> dict[str, object] | None:
        """The inline keyboard exactly as the Bot API takes it (no PTB objects to build and serialize again)."""
        out: list[list[dict[str, str]]] = []
        for row in rows:
            line = []
            for b in row:
                if b.is_link:
                    line.append({"text": b.label[:64], "url": b.url})
                else:
                    line.append({"text": b.label[:64], "callback_data": await self.codec.encode(b.action, user_id)})
            if line:
                out.append(line)
        return {"inline_keyboard": out} if out else None

    async def send(self, chat_id: int, replies: Sequence[Reply], *, edit_message_id: int | None = None) -> None:
        """Render ``replies`` in order; a single text reply may replace the message ``edit_message_id``."""
        single = len(replies) == 1 and isinstance(replies[0], TextReply)
        if edit_message_id is not None and single and await self._edit(chat_id, edit_message_id, replies[0]):  # type: ignore[arg-type]
            return
        i = 0
        while i < len(replies):
            reply = replies[i]
            if isinstance(reply, MediaReply):
                group = self._album(replies, i)
                if len(group) >= 2:
                    await self._send_album(chat_id, group)
                    i += len(group)
                    continue
                await self._send_media(chat_id, reply)
            elif isinstance(reply, TextReply):
                await self._send_text(chat_id, reply)
            elif isinstance(reply, InvoiceReply):
                await self._send_invoice(chat_id, reply)
            i += 1

    # -- text ---------------------------------------------------------------------------------------------------

    def _html(self, reply: TextReply) -> str:
        return markdown_to_html(reply.text) if reply.markdown else plain_to_html(reply.text)

    async def _send_text(self, chat_id: int, reply: TextReply) -> None:
        chunks = split_html(self._html(reply), TEXT_LIMIT) or [plain_to_html(" ")]
        markup = await self.keyboard_json(reply.buttons, chat_id)
        protect = reply.protect and self.config.protect_content
        for n, chunk in enumerate(chunks):
            last = n == len(chunks) - 1
            await self._text_call(chat_id, chunk, markup if last else None, protect)

    async def _raw(self, method: str, data: dict[str, object]) -> object:
        """Call ``method`` without turning the answer into PTB objects we never read.

        Building a ``Message`` from every reply costs PTB about 150 µs; a text reply needs none of it.
        ``Bot._post`` is the one method every PTB API call goes through (defaults, None-dropping,
        serialization and error mapping included).
        """
        return await self.bot._post(method, data)

    async def _text_call(self, chat_id: int, chunk: str, markup: dict[str, object] | None, protect: bool) -> None:
        data: dict[str, object] = {
            "chat_id": chat_id,
            "text": chunk,
            "parse_mode": ParseMode.HTML,
            "reply_markup": markup,
            "protect_content": protect or None,
            "link_preview_options": _NO_PREVIEW if self.config.disable_previews else None,
            "allow_paid_broadcast": _paid(),
        }

        async def send_html() -> object:
            return await self._raw("sendMessage", dict(data))

        try:
            await self._call(send_html, what="sendMessage")
        except BadRequest as exc:
            if "parse entities" not in exc.message:
                raise
            log.error("Telegram refused our HTML (%s); sending the text unformatted", exc.message)
            plain = _plain(chunk)

            async def send_plain() -> object:
                data = {
                    "chat_id": chat_id,
                    "text": plain,
                    "reply_markup": markup,
                    "protect_content": protect or None,
                    "allow_paid_broadcast": _paid(),
                }
                return await self._raw("sendMessage", data)

            await self._call(send_plain, what="sendMessage")

    async def _edit(self, chat_id: int, message_id: int, reply: TextReply) -> bool:
        chunks = split_html(self._html(reply), TEXT_LIMIT)
        if len(chunks) != 1:
            return False
        markup = await self.keyboard_json(reply.buttons, chat_id)

        data: dict[str, object] = {
            "chat_id": chat_id,
            "message_id": message_id,
            "text": chunks[0],
            "parse_mode": ParseMode.HTML,
            "reply_markup": markup,
            "link_preview_options": _NO_PREVIEW if self.config.disable_previews else None,
        }

        async def edit() -> object:
            return await self._raw("editMessageText", dict(data))

        try:
            await self._call(edit, what="editMessageText")
        except BadRequest as exc:
            if "not modified" in exc.message:
                return True
            log.info("could not edit message %s in place (%s); sending a new one", message_id, exc.message)
            return False
        return True

    # -- media --------------------------------------------------------------------------------------------------

    @staticmethod
    def _album(replies: Sequence[Reply], start: int) -> list[MediaReply]:
        first = replies[start]
        assert isinstance(first, MediaReply)
        group_kind = _GROUPS.get(first.kind)
        if group_kind is None or first.buttons:
            return [first]
        out: list[MediaReply] = []
        for r in replies[start : start + 10]:
            if (
                not isinstance(r, MediaReply)
                or _GROUPS.get(r.kind) != group_kind
                or r.buttons
                or not Path(r.path).is_file()
            ):
                break
            out.append(r)
        return out

    async def _caption(self, chat_id: int, caption: str) -> tuple[str | None, str]:
        if not caption:
            return None, ""
        head, rest = caption_and_rest(plain_to_html(caption), CAPTION_LIMIT)
        return head or None, rest

    async def _media_caption(self, chat_id: int, reply: MediaReply) -> tuple[str | None, TextReply | None]:
        """The caption to send with the media, and the text message to send after it (or None).

        A lesson file's plain caption that is too long is cut: its head is the caption, the rest a message.
        A Markdown caption or one with buttons (a broadcast) is never cut: if it doesn't fit, the media goes
        alone and the whole text follows, with the buttons.
        """
        if not (reply.markdown or reply.buttons):
            caption, rest = await self._caption(chat_id, reply.caption)
            return caption, TextReply(_plain(rest), protect=reply.protect) if rest else None
        html_caption = markdown_to_html(reply.caption) if reply.markdown else plain_to_html(reply.caption)
        if visible_length(html_caption) <= CAPTION_LIMIT:
            return html_caption or None, None
        return None, TextReply(reply.caption, reply.buttons, markdown=reply.markdown, protect=reply.protect)

    async def _send_media(self, chat_id: int, reply: MediaReply) -> None:
        protect = reply.protect and self.config.protect_content
        caption, after = await self._media_caption(chat_id, reply)
        markup = await self.keyboard(reply.buttons, chat_id) if after is None or not after.buttons else None
        cached = await self.files.get(self._sender, reply.sha256, reply.kind.value)
        path = Path(reply.path)
        if cached is None and not path.is_file():
            log.error("media file missing: %s", reply.path)
            return
        method = getattr(self.bot, f"send_{reply.kind.value}")

        async def send(media: object) -> TgMessage:
            return await self._call(
                lambda: method(
                    chat_id,
                    media,
                    caption=caption,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    protect_content=protect,
                    allow_paid_broadcast=_paid(),
                ),
                what=f"send_{reply.kind.value}",
            )

        msg: TgMessage | None = None
        if cached is not None:
            try:
                msg = await send(cached)
            except BadRequest as exc:
                log.warning("cached file id refused (%s); uploading again", exc.message)
                await self.files.forget(self._sender, reply.sha256, reply.kind.value)
        if msg is None:
            msg = await send(path)
            file_id = _file_id(msg, reply.kind)
            if file_id:
                await self.files.put(self._sender, reply.sha256, reply.kind.value, file_id, self._clock.now())
        if after is not None:
            await self._send_text(chat_id, after)

    async def _send_album(self, chat_id: int, group: list[MediaReply]) -> None:
        protect = any(r.protect for r in group) and self.config.protect_content
        items = []
        uploads: list[int] = []
        rests: list[str] = []
        for n, r in enumerate(group):
            caption, rest = await self._caption(chat_id, r.caption)
            if rest:
                rests.append(rest)
            cached = await self.files.get(self._sender, r.sha256, r.kind.value)
            media: object = cached if cached is not None else Path(r.path)
            if cached is None:
                uploads.append(n)
            items.append(_INPUT_MEDIA[r.kind](media, caption=caption, parse_mode=ParseMode.HTML))  # type: ignore[arg-type]

        async def send() -> Sequence[TgMessage]:
            return await self.bot.send_media_group(
                chat_id, items, protect_content=protect, allow_paid_broadcast=_paid()
            )

        try:
            messages = await self._call(send, what="sendMediaGroup")
        except BadRequest as exc:
            log.warning("album refused (%s); sending the items one by one", exc.message)
            for r in group:
                await self.files.forget(self._sender, r.sha256, r.kind.value)
                await self._send_media(chat_id, r)
            return
        for n in uploads:
            if n < len(messages):
                file_id = _file_id(messages[n], group[n].kind)
                if file_id:
                    await self.files.put(self._sender, group[n].sha256, group[n].kind.value, file_id, self._clock.now())
        for rest in rests:
            await self._send_text(chat_id, TextReply(_plain(rest), protect=protect))

    # -- invoices -----------------------------------------------------------------------------------------------

    async def _send_invoice(self, chat_id: int, reply: InvoiceReply) -> None:
        currency = reply.price.currency
        title = _title(reply.title, 32)
        description = _title(reply.description, 255) or title
        prices = [LabeledPrice(_title(reply.title, 32), reply.price.amount)]
        token = "" if currency == STARS else self.config.provider_token
        if reply.subscription_days:
            link = await self._call(
                lambda: self.bot.create_invoice_link(
                    title,
                    description,
                    reply.order_code,
                    currency,
                    prices,
                    provider_token=token or None,
                    subscription_period=timedelta(days=reply.subscription_days or 30),
                ),
                what="createInvoiceLink",
            )
            rows = ((Button(reply.pay_label, url=link),), *reply.buttons)
            await self._send_text(chat_id, TextReply(reply.prompt or reply.title, rows))
            return
        pay = [[InlineKeyboardButton(reply.pay_label[:64] or title, pay=True)]]
        extra = await self.keyboard(reply.buttons, chat_id)
        markup = InlineKeyboardMarkup(pay + [list(r) for r in (extra.inline_keyboard if extra else ())])
        await self._call(
            lambda: self.bot.send_invoice(
                chat_id,
                title,
                description,
                reply.order_code,
                currency,
                prices,
                provider_token=token or None,
                reply_markup=markup,
                allow_paid_broadcast=_paid(),
            ),
            what="sendInvoice",
        )
