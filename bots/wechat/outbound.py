"""Sending to a WeChat user: inside the window, by template, or later — never lost.

:meth:`Outbound.deliver` takes neutral replies for one user and

1. renders them (:mod:`bots.wechat.render`) and remembers the numbered options;
2. asks :func:`core.send_window.sendable` how many customer-service messages
   may go out now, and sends that many, in order (media uploaded once as
   permanent material, its media_id cached; an invoice becomes a pay link and
   a QR code);
3. keeps whatever could not go out — the window closed, the quota ran out,
   WeChat answered 45015/45047 — in the outbox (``deferred_messages``), from
   the first reply that did not make it, and flags the user as having mail;
4. for an *important* notice that could not go out, sends the configured
   template notice (payment received, membership ending) so the user learns of
   it at once; the full text still waits in the outbox.

:meth:`Outbound.flush` delivers a user's deferred messages, oldest first, when
they write again (their message reopens the window and resets the quota).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bots.wechat.api import NotFollowing, WeChatAPI, WeChatAPIError, WindowClosed
from bots.wechat.render import Out, Rendered, render
from bots.wechat.windows import Conversations
from core.channel import Capabilities
from core.clock import Clock
from core.i18n import Translator, translator
from core.ports import UnitOfWorkFactory
from core.replies import InvoiceReply, MediaReply, Reply, TextReply
from core.send_window import sendable
from core.users import Ref
from storage.media_files_repo import SqlFileIds

__all__ = ["Delivery", "Invoicer", "Outbound"]

log = logging.getLogger(__name__)

FLUSH_BATCH = 20


class Invoicer:
    """What turns an :class:`InvoiceReply` into something payable in WeChat (the pay desk implements it)."""

    async def present(self, openid: str, invoice: InvoiceReply, t: Translator) -> tuple[str, bytes | None]:
        """The text (with the H5 pay link) and, when there is one, a Native-pay QR code PNG."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Delivery:
    sent: int  # customer-service messages that went out
    deferred: bool  # something waits in the outbox
    unreachable: bool = False  # the user unfollowed


class Outbound:
    def __init__(
        self,
        api: WeChatAPI,
        *,
        caps: Capabilities,
        conversations: Conversations,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        files: SqlFileIds,
        app_id: str,
        templates: dict[str, str],
        language_of: Callable[[Ref], Awaitable[str]],
        invoicer: Invoicer | None = None,
        hide_actions: frozenset[str] = frozenset(),
    ) -> None:
        self.api = api
        self.caps = caps
        self.convo = conversations
        self.uow_factory = uow_factory
        self.clock = clock
        self.files = files
        self.file_sender = f"wechat:{app_id}"
        self.templates = templates
        self.language_of = language_of
        self.invoicer = invoicer
        self.hide_actions = hide_actions
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, openid: str) -> asyncio.Lock:
        """One sender per user at a time in this process, so their messages keep their order."""
        lock = self._locks.get(openid)
        if lock is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[openid] = asyncio.Lock()
        return lock

    def rendered(self, replies: Sequence[Reply], t: Translator) -> Rendered:
        return render(replies, t, hide_actions=self.hide_actions)

    async def deliver(
        self,
        openid: str,
        replies: Sequence[Reply],
        *,
        lang: str | None = None,
        important: str | None = None,
        rendered: Rendered | None = None,
        skip: int = 0,
    ) -> Delivery:
        """Send ``replies`` (their first ``skip`` rendered messages already went out as the passive reply)."""
        if not replies:
            return Delivery(0, False)
        ref = Ref("wechat", openid)
        t = translator(lang or await self.language_of(ref))
        if rendered is None:
            rendered = self.rendered(replies, t)
            await self.convo.set_options(openid, rendered.options)
        async with self._lock(openid):
            result, first_unsent = await self._send(openid, rendered.messages[skip:], t)
            if first_unsent is None:
                return result
            await self._defer(ref, replies[first_unsent:], reason=important or "window")
        if important:
            await self._template(openid, replies, important, t)
        return Delivery(result.sent, True, result.unreachable)

    async def flush(self, openid: str) -> int:
        """Deliver what waits for this user, oldest first, as far as the window allows. Returns messages sent."""
        if not await self.convo.pending_flag(openid):
            return 0
        ref = Ref("wechat", openid)
        t = translator(await self.language_of(ref))
        total = 0
        async with self._lock(openid):
            async with self.uow_factory() as uow:
                rows = await uow.outbox.pending(ref, limit=FLUSH_BATCH)
            for row in rows:
                rendered = self.rendered(row.replies, t)
                result, first_unsent = await self._send(openid, rendered.messages, t)
                total += result.sent
                if result.unreachable:
                    return total
                async with self.uow_factory() as uow:
                    await uow.outbox.mark_delivered([row.id], self.clock.now())
                    if first_unsent is not None:
                        # What's left of this row keeps its place in the queue (same created_at).
                        rest = row.replies[first_unsent:]
                        await uow.outbox.defer(ref, rest, user_id=row.user_id, reason=row.reason, now=row.created_at)
                    await uow.commit()
                await self.convo.set_options(openid, rendered.options)
                if first_unsent is not None:
                    return total
            async with self.uow_factory() as uow:
                left = await uow.outbox.count_pending(ref)
            if left == 0:
                await self.convo.clear_pending(openid)
        return total

    async def _send(self, openid: str, messages: Sequence[Out], t: Translator) -> tuple[Delivery, int | None]:
        """Send in order; stop at the first message the window does not allow. Returns the source to defer from."""
        state = await self.convo.window(openid)
        left = sendable(self.caps, state, self.clock.now())
        sent = 0
        try:
            for out in messages:
                if left is not None and sent >= left:
                    return Delivery(sent, True), out.source
                try:
                    sent += await self._send_one(openid, out, t, None if left is None else left - sent)
                except WindowClosed as exc:
                    log.info("window closed for a WeChat user (%s): deferring", exc.errcode)
                    await self.convo.close_window(openid)
                    return Delivery(sent, True), out.source
                except NotFollowing:
                    await self._unreachable(openid)
                    return Delivery(sent, False, unreachable=True), None
                except WeChatAPIError as exc:
                    log.error("WeChat refused a %s message: %s", out.kind, exc)
            return Delivery(sent, False), None
        finally:
            await self.convo.spent(openid, sent)

    async def _send_one(self, openid: str, out: Out, t: Translator, room: int | None) -> int:
        if out.kind == "text":
            await self.api.send_text(openid, out.text)
            return 1
        if out.kind == "invoice":
            assert out.invoice is not None
            if self.invoicer is None:
                await self.api.send_text(openid, t("buy.no_payment_here"))
                return 1
            text, png = await self.invoicer.present(openid, out.invoice, t)
            await self.api.send_text(openid, text)
            if png is None or (room is not None and room < 2):
                return 1
            media_id = await self.api.upload_media("image", "pay.png", png)
            await self.api.send_image(openid, media_id)
            return 2
        assert out.media is not None
        media_id = await self.media_id(out.kind, out.media)
        if media_id is None:
            # An image's caption follows it as a text message of its own (render): only a video's is lost here.
            caption = out.media.caption.strip() if out.kind == "video" else ""
            note = "\n".join(p for p in (caption, t("wechat.media_unsupported")) if p)
            await self.api.send_text(openid, note)
            return 1
        try:
            await self._send_media(openid, out, media_id)
        except WeChatAPIError as exc:
            if exc.errcode != 40007:  # invalid media_id: the material was deleted; upload again
                raise
            await self.files.forget(self.file_sender, out.media.sha256, out.kind)
            media_id = await self.media_id(out.kind, out.media)
            if media_id is None:
                raise
            await self._send_media(openid, out, media_id)
        return 1

    async def _send_media(self, openid: str, out: Out, media_id: str) -> None:
        assert out.media is not None
        if out.kind == "image":
            await self.api.send_image(openid, media_id)
        elif out.kind == "voice":
            await self.api.send_voice(openid, media_id)
        else:
            await self.api.send_video(openid, media_id, title=out.media.caption[:64], description=out.media.caption)

    async def media_id(self, kind: str, media: MediaReply) -> str | None:
        """The permanent-material media_id for a file: uploaded once, then cached (database + memo)."""
        cached = await self.files.get(self.file_sender, media.sha256, kind)
        if cached is not None:
            return cached
        path = Path(media.path)
        if not path.is_file():
            log.error("media file missing: %s", media.path)
            return None
        content = await asyncio.to_thread(path.read_bytes)
        try:
            media_id = await self.api.add_material(
                kind, path.name, content, title=media.caption[:64] or path.stem, introduction=media.caption[:120]
            )
        except (WindowClosed, NotFollowing):
            raise
        except WeChatAPIError as exc:
            log.error("uploading %s as WeChat material failed: %s", path.name, exc)
            return None
        await self.files.put(self.file_sender, media.sha256, kind, media_id, self.clock.now())
        return media_id

    async def cached_media_id(self, out: Out) -> str | None:
        if out.media is None:
            return None
        return await self.files.get(self.file_sender, out.media.sha256, out.kind)

    async def _defer(self, ref: Ref, replies: Sequence[Reply], *, reason: str) -> None:
        async with self.uow_factory() as uow:
            user = await uow.users.get_by_ref(ref)
            await uow.outbox.defer(ref, replies, user_id=user.id if user else None, reason=reason, now=self.clock.now())
            await uow.commit()
        await self.convo.mark_pending(ref.external_id)

    async def _template(self, openid: str, replies: Sequence[Reply], important: str, t: Translator) -> None:
        template_id = self.templates.get(important)
        if not template_id:
            log.info("no WeChat template configured for %r notices: the notice waits for the user", important)
            return
        lines = [line.strip() for r in replies if isinstance(r, TextReply) for line in r.text.splitlines()]
        lines = [line for line in lines if line]
        data = {
            "first": (lines[0] if lines else "")[:100],
            "keyword1": (lines[1] if len(lines) > 1 else "")[:100],
            "keyword2": t.when(self.clock.now(), "Asia/Shanghai"),
            "remark": t("wechat.template_more"),
        }
        try:
            await self.api.send_template(openid, template_id, data)
        except NotFollowing:
            await self._unreachable(openid)
        except WeChatAPIError as exc:
            log.error("template notice failed: %s", exc)

    async def _unreachable(self, openid: str) -> None:
        async with self.uow_factory() as uow:
            await uow.users.set_unreachable(Ref("wechat", openid), self.clock.now())
            await uow.commit()
