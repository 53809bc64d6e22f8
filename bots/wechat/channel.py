"""The WeChat Official Account channel: ``/wechat`` in, passive replies and customer-service messages out.

One request from WeChat is handled like this:

1. :class:`bots.wechat.inbound.Verifier` checks the signature, the timestamp
   (403 when bad or stale), parses defensively and decrypts in safe mode.
2. A retry of a message already seen (MsgId, or FromUserName+CreateTime for
   events) gets the reply we gave the first time, or ``success``: a retry
   never repeats a side effect.
3. The message becomes a neutral event: text (a number presses the option
   with that number, a ``/command`` is a command, anything else searches), an
   image (downloaded by its MediaId through the API and stored, so it can be
   broadcast on any channel; too big, not an image or gone: the user is told), a
   menu CLICK (a button action), subscribe/SCAN (``/start`` with the QR
   scene, so ``c_<slug>`` opens a course and ``r_<code>`` records a referral),
   unsubscribe (recorded; nothing is sent).
4. The dispatcher runs it. If it answers within ``reply_deadline`` (4.5 s;
   WeChat gives up at 5), the first message goes back as the passive reply;
   otherwise we answer ``success`` and everything goes by customer-service
   message. The rest follows through :class:`bots.wechat.outbound.Outbound`,
   which respects the 48-hour window and the quota, then delivers anything
   that was waiting for this user.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from wechatpy.replies import ImageReply, TextReply

from bots.tasks import BackgroundTasks
from bots.wechat.api import WeChatAPI, WeChatAPIError
from bots.wechat.config import PROVIDER, QUOTA, WINDOW, WeChatConfig
from bots.wechat.inbound import Rejected, Verifier, parse
from bots.wechat.outbound import Outbound
from bots.wechat.pay import PayConfig, WeChatPayClient
from bots.wechat.paydesk import PayDesk, WeChatPayGateway
from bots.wechat.render import Out, Rendered
from bots.wechat.windows import Conversations
from core.channel import Capabilities
from core.clock import Clock
from core.contacts import Platform
from core.delivery import Outcome, SendResult
from core.events import ButtonPress, Event, Message, PhotoProblem, Sender
from core.i18n import translator
from core.photos import MAX_PHOTO_BYTES, PhotoRejected, store_photo
from core.ports import KeyValueStore, SendLimits, UnitOfWorkFactory
from core.replies import Reply
from core.users import Ref
from handlers.dispatcher import Dispatcher
from storage.media_files_repo import SqlFileIds

__all__ = ["WeChatChannel"]

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
_OPTION = re.compile(r"^\s*([0-9]{1,2})\s*$")
_SCENE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_SEEN_TTL = 600.0
_REPLY_TTL = 60.0
_PLATFORM_MEMO = 50_000


class WeChatChannel:
    def __init__(
        self,
        config: WeChatConfig,
        *,
        dispatcher: Dispatcher,
        kv: KeyValueStore,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        files: SqlFileIds,
    ) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.kv = kv
        self.uow_factory = uow_factory
        self.clock = clock
        self.verifier = Verifier(config.token, config.app_id, config.aes_key)
        self.api = WeChatAPI(
            app_id=config.app_id, app_secret=config.app_secret, api_url=config.api_url, kv=kv, clock=clock
        )
        self.pay: WeChatPayClient | None = None
        if config.pay_enabled:
            assert config.mch_id is not None and config.pay_api_key is not None
            self.pay = WeChatPayClient(
                PayConfig(
                    app_id=config.app_id,
                    mch_id=config.mch_id,
                    api_key=config.pay_api_key,
                    api_url=config.pay_api_url,
                    notify_url=f"{config.public_base_url}/wechat/pay/notify",
                    refund_notify_url=f"{config.public_base_url}/wechat/pay/refund-notify",
                    cert_path=config.pay_cert,
                    key_path=config.pay_key,
                )
            )
        self.caps = Capabilities(
            channel="wechat",
            buttons=False,
            invoices=self.pay is not None,
            payment_provider=PROVIDER if self.pay is not None else None,
            currencies=frozenset({"CNY"}),
            preferred_currency="CNY",
            max_text=2048,
            send_window=WINDOW,
            quota_per_inbound=QUOTA,
        )
        self.caps_no_sale = replace(self.caps, payment_provider=None, invoices=False, sells=False)
        self.convo = Conversations(kv, config.app_id)
        templates = {k: v for k, v in (("payment", config.template_payment), ("reminder", config.template_reminder))}
        self.outbound = Outbound(
            self.api,
            caps=self.caps,
            conversations=self.convo,
            uow_factory=uow_factory,
            clock=clock,
            files=files,
            app_id=config.app_id,
            templates={k: v for k, v in templates.items() if v},
            language_of=self._language_of,
        )
        self.desk: PayDesk | None = None
        self.payments: WeChatPayGateway | None = None
        if self.pay is not None:
            self.desk = PayDesk(
                config,
                pay=self.pay,
                api=self.api,
                dispatcher=dispatcher,
                uow_factory=uow_factory,
                kv=kv,
                clock=clock,
                caps=self.caps,
                deliver=self._deliver_notice,
                record_platform=self.record_platform,
            )
            self.outbound.invoicer = self.desk
            self.payments = WeChatPayGateway(self.pay, uow_factory)
        self._platforms: OrderedDict[str, bool] = OrderedDict()
        self.tasks = BackgroundTasks("sending to a WeChat user", log)
        self.handled = 0  # requests fully handled (tests wait on it)

    # -- wiring ---------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        out = [web.get("/wechat", self.on_get), web.post("/wechat", self.on_post)]
        if self.desk is not None:
            out += [
                web.post("/wechat/pay/notify", self.desk.notify),
                web.post("/wechat/pay/refund-notify", self.desk.refund_notify),
                web.get("/pay/wechat/{order}", self.desk.page),
            ]
        return out

    async def start(self) -> None:
        await self.api.start()

    async def stop(self) -> None:
        await self.drain()
        if self.desk is not None:
            await self.desk.drain()
        await self.api.close()
        if self.pay is not None:
            await self.pay.close()

    async def drain(self) -> None:
        """Wait for the customer-service sends still under way (shutdown, tests)."""
        await self.tasks.drain()

    # -- HTTP -----------------------------------------------------------------------------------

    async def on_get(self, request: web.Request) -> web.Response:
        try:
            echo = self.verifier.echo(request.query, self.clock.now())
        except Rejected as exc:
            log.warning("WeChat URL verification refused: %s", exc.reason)
            return web.Response(status=exc.status, text="forbidden" if exc.status == 403 else "bad request")
        return web.Response(text=echo)

    async def on_post(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.Response(status=413, text="too large")
        query = request.query
        try:
            xml, encrypted = self.verifier.open(query, body, self.clock.now())
            msg = parse(xml)
        except Rejected as exc:
            log.warning("WeChat message refused: %s", exc.reason)
            return web.Response(status=exc.status, text="forbidden" if exc.status == 403 else "bad request")
        except UnicodeDecodeError:
            return web.Response(status=400, text="bad request")
        openid = str(getattr(msg, "source", "") or "")
        if not _valid_openid(openid):
            return web.Response(status=400, text="bad request")
        key = _dedup_key(msg)
        if not await self.kv.set_if_absent(f"wechat:seen:{key}", _SEEN_TTL):
            cached = await self.kv.get_state(f"wechat:reply:{key}")
            xml_reply = cached.get("xml") if cached else None
            return self._respond(xml_reply if isinstance(xml_reply, str) else None, query, encrypted)
        work = asyncio.ensure_future(self._handle(msg, openid))
        remaining = max(0.05, self.config.reply_deadline - (time.monotonic() - started))
        done, _ = await asyncio.wait({work}, timeout=remaining)
        if not done:
            log.warning("a WeChat message took over %.1f s: answering by customer-service message", remaining)
            work.add_done_callback(lambda w: self._after(w, openid))
            return self._respond(None, query, encrypted)
        passive_xml = await self._finish(work, openid, msg)
        if passive_xml is not None:
            await self.kv.set_state(f"wechat:reply:{key}", {"xml": passive_xml}, _REPLY_TTL)
        return self._respond(passive_xml, query, encrypted)

    def _respond(self, reply_xml: str | None, query: Any, encrypted: bool) -> web.Response:
        if reply_xml is None:
            return web.Response(text="success")
        if encrypted:
            nonce = query.get("nonce", "")
            reply_xml = self.verifier.seal(reply_xml, nonce, str(int(self.clock.now().timestamp())))
        return web.Response(text=reply_xml, content_type="application/xml")

    # -- handling -------------------------------------------------------------------------------

    async def _handle(self, msg: Any, openid: str) -> tuple[list[Reply], Rendered | None, str]:
        """Run the message through the dispatcher. Returns the replies, their rendering and the user's language."""
        now = self.clock.now()
        await self.convo.inbound(openid, now)  # any message reopens the window and resets the quota
        event = await self._event(msg, openid)
        if event is None:
            return [], None, "zh"
        caps = await self._caps_for(openid)
        replies, lang = await self.dispatcher.dispatch_with_language(event, caps)
        if not replies:
            return [], None, lang
        rendered = self.outbound.rendered(replies, translator(lang))
        await self.convo.set_options(openid, rendered.options)
        return replies, rendered, lang

    async def _finish(self, work: asyncio.Future[Any], openid: str, msg: Any) -> str | None:
        """The passive reply (first message, if it can be one); the rest goes out in the background."""
        try:
            replies, rendered, lang = work.result()
        except Exception:
            log.exception("handling a WeChat message failed")
            return None
        first: Out | None = rendered.messages[0] if rendered and rendered.messages else None
        passive: str | None = None
        skip = 0
        if first is not None and first.kind == "text":
            passive = TextReply(message=msg, content=first.text).render()
            skip = 1
        elif first is not None and first.kind == "image":
            media_id = await self.outbound.cached_media_id(first)
            if media_id is not None:
                passive = ImageReply(message=msg, media_id=media_id).render()
                skip = 1
        self.tasks.spawn(self._follow_up(openid, replies, rendered, lang, skip))
        return passive

    def _after(self, work: asyncio.Future[Any], openid: str) -> None:
        if work.cancelled() or work.exception() is not None:
            log.error("handling a WeChat message failed", exc_info=work.exception())
            return
        replies, rendered, lang = work.result()
        self.tasks.spawn(self._follow_up(openid, replies, rendered, lang, 0))

    async def _follow_up(
        self, openid: str, replies: list[Reply], rendered: Rendered | None, lang: str, skip: int
    ) -> None:
        try:
            if skip:
                # Let the passive reply reach WeChat first, so the user sees the messages in order.
                await asyncio.sleep(self.config.follow_up_delay)
            if rendered is not None and len(rendered.messages) > skip:
                await self.outbound.deliver(openid, replies, lang=lang, rendered=rendered, skip=skip)
            await self.outbound.flush(openid)
        finally:
            self.handled += 1

    async def _event(self, msg: Any, openid: str) -> Event | None:
        sender = Sender(Ref("wechat", openid), "zh")
        kind = getattr(msg, "type", "")
        if kind == "text":
            text = str(getattr(msg, "content", "") or "")
            m = _OPTION.match(text)
            if m:
                options = await self.convo.options(openid)
                action = options.get(str(int(m.group(1))))
                return ButtonPress(sender, action or "")
            return Message(sender, text)
        if kind == "image":
            return await self._image(sender, str(getattr(msg, "media_id", "") or ""))
        if kind != "event":
            return Message(sender, "")  # voice, locations…: the help hint
        event = getattr(msg, "event", "")
        if event == "click":
            return ButtonPress(sender, str(getattr(msg, "key", "") or ""))
        if event in ("subscribe", "subscribe_scan"):
            scene = str(getattr(msg, "scene_id", "") or "") if event == "subscribe_scan" else ""
            scene = scene if _SCENE.match(scene) else ""
            async with self.uow_factory() as uow:
                await uow.contacts.followed(sender.ref, self.clock.now(), scene=scene or None)
                await uow.users.set_unreachable(sender.ref, None)
                await uow.commit()
            return Message(sender, f"/start {scene}".strip())
        if event == "scan":
            scene = str(getattr(msg, "scene_id", "") or "")
            return Message(sender, f"/start {scene}" if _SCENE.match(scene) else "/start")
        if event == "unsubscribe":
            async with self.uow_factory() as uow:
                await uow.contacts.unfollowed(sender.ref, self.clock.now())
                await uow.users.set_unreachable(sender.ref, self.clock.now())
                await uow.commit()
            return None
        return None  # VIEW, TEMPLATESENDJOBFINISH, LOCATION…: nothing to say

    async def _image(self, sender: Sender, media_id: str) -> Message:
        """The image a user sent, fetched by its MediaId (temporary media, kept 3 days) and stored."""
        if not media_id:
            return Message(sender, "", photo_problem=PhotoProblem.UNAVAILABLE)
        try:
            data = await self.api.get_media(media_id, limit=MAX_PHOTO_BYTES)
        except (WeChatAPIError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not download an image a user sent: %s", exc)
            return Message(sender, "", photo_problem=PhotoProblem.UNAVAILABLE)
        try:
            photo = await asyncio.to_thread(store_photo, data, self.config.media_dir)
        except PhotoRejected as exc:
            return Message(sender, "", photo_problem=exc.problem)
        return Message(sender, "", photo=photo)

    # -- capabilities per user ------------------------------------------------------------------

    async def _caps_for(self, openid: str) -> Capabilities:
        if not self.config.ios_block:
            return self.caps
        ios = self._platforms.get(openid)
        if ios is None:
            async with self.uow_factory() as uow:
                contact = await uow.contacts.get(Ref("wechat", openid))
            ios = contact is not None and contact.platform is Platform.IOS
            self._remember_platform(openid, ios)
        return self.caps_no_sale if ios else self.caps

    def _remember_platform(self, openid: str, ios: bool) -> None:
        self._platforms[openid] = ios
        if len(self._platforms) > _PLATFORM_MEMO:
            self._platforms.popitem(last=False)

    async def record_platform(self, openid: str, platform: Platform) -> None:
        """The H5 pages saw this user's device: remember it (iOS users see no prices when selling is blocked)."""
        async with self.uow_factory() as uow:
            await uow.contacts.set_platform(Ref("wechat", openid), platform)
            await uow.commit()
        self._remember_platform(openid, platform is Platform.IOS)

    async def _language_of(self, ref: Ref) -> str:
        return await self.dispatcher.language_of(Sender(ref, "zh"))

    # -- proactive messages ---------------------------------------------------------------------

    async def push(self, ref: Ref, replies: Sequence[Reply], *, important: str | None = None) -> bool:
        """A notice to a user who did not just write: now, by template, or deferred until they do."""
        if ref.channel != "wechat":
            return False
        result = await self.outbound.deliver(ref.external_id, list(replies), important=important)
        return not result.unreachable

    # -- the delivery engine's lane ---------------------------------------------------------------

    def limits(self, *, paid: bool) -> SendLimits:
        """WeChat publishes no per-second limit for customer-service messages; the window and quota rule."""
        return SendLimits(f"wechat:{self.config.app_id}", per_second=50.0, per_chat=QUOTA)

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        """One delivery row: sent now, or kept in the outbox until the user's window opens (never lost)."""
        if ref.channel != "wechat":
            return SendResult(Outcome.FAILED, "not a WeChat identity")
        try:
            result = await self.outbound.deliver(ref.external_id, list(replies), important=important)
        except WeChatAPIError as exc:
            return SendResult(Outcome.RETRY, str(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendResult(Outcome.RETRY, type(exc).__name__)
        if result.unreachable:
            return SendResult(Outcome.BLOCKED, "unfollowed")
        if result.deferred:
            return SendResult(Outcome.DEFERRED, "outside the 48-hour window or over the quota")
        return SendResult(Outcome.SENT)

    async def _deliver_notice(self, openid: str, replies: list[Reply], important: str | None) -> None:
        await self.outbound.deliver(openid, replies, important=important)

    async def reconcile(self) -> int:
        return await self.desk.reconcile() if self.desk is not None else 0


def _valid_openid(openid: str) -> bool:
    return 6 <= len(openid) <= 64 and all(c.isalnum() or c in "_-" for c in openid)


def _dedup_key(msg: Any) -> str:
    msg_id = getattr(msg, "id", None)
    if msg_id:
        return f"m:{msg_id}"
    created = getattr(msg, "create_time", None)
    stamp = int(created.timestamp()) if hasattr(created, "timestamp") else str(created)
    return f"e:{msg.source}:{stamp}:{getattr(msg, 'event', '')}"
