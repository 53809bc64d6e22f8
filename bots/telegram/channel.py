"""The Telegram channel: a real python-telegram-bot Application around the shared handlers.

Updates arrive by long polling (no ``PUBLIC_BASE_URL``) or at
``POST /telegram/webhook`` on the project's aiohttp server (with the secret
header checked in constant time). Either way each update is:

1. deduplicated on ``update_id`` (KV ``set_if_absent``: Redis or in-process),
2. mapped to a neutral event (:mod:`bots.telegram.updates`); a photo the
   user sent is downloaded and stored first (:mod:`bots.telegram.photos`),
3. handled by the shared :class:`handlers.Dispatcher` in one transaction,
4. rendered back (:mod:`bots.telegram.render`) through one fast aiohttp
   transport, with 429s and network errors retried.

Pre-checkout queries bypass the concurrency limit and are answered within a
deadline, whatever else the bot is doing (Telegram cancels the payment
after 10 s). A user who blocked the bot is marked unreachable and skipped by
proactive messages until they write again. No error ever stops the loop: the
user gets a short apology in their language and the log keeps the context.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from telegram import BotCommand, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, ContextTypes, SimpleUpdateProcessor, TypeHandler

from bots.telegram import photos, retry
from bots.telegram.callbacks import CallbackCodec
from bots.telegram.checkout_desk import CheckoutDesk, DeskParts, decide_and_answer
from bots.telegram.gateways import TelegramCommunity, TelegramPayments
from bots.telegram.render import FileIdStore, RenderConfig, Renderer
from bots.telegram.transport import AiohttpRequest
from bots.telegram.updates import ALLOWED_UPDATES, PROVIDER, Inbound, to_event
from core.channel import Capabilities
from core.clock import Clock
from core.config import Settings
from core.events import ButtonPress, Message, Photo, PreCheckout
from core.i18n import translator
from core.money import STARS
from core.ports import KeyValueStore, UnitOfWorkFactory
from core.replies import Reply, TextReply
from core.users import Ref, language_from_code
from handlers import Dispatcher

__all__ = ["COMMANDS", "WEBHOOK_PATH", "TelegramChannel", "TelegramConfig"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: Commands shown in Telegram's menu, in this order (each has a ``cmd.<name>`` description).
COMMANDS = (
    "start",
    "catalog",
    "my",
    "next",
    "recommend",
    "plans",
    "search",
    "settings",
    "help",
    "terms",
    "paysupport",
    "privacy",
)
#: Button actions whose answer replaces the message in place (paging through the catalog).
EDIT_IN_PLACE = frozenset({"cat"})
DEDUP_TTL = 24 * 3600.0  # Telegram stops re-sending an update long before this
BLOCKED_TTL = 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    token: str
    api_url: str = "https://api.telegram.org/bot"
    webhook_url: str | None = None  # None: long polling
    webhook_secret: str | None = None
    provider_token: str = ""  # fiat provider (optional)
    fiat_currency: str = "CNY"
    protect_content: bool = True
    concurrency: int = 64
    poll_timeout: int = 10
    media_dir: Path = Path("./var/media")  # where photos users send are stored (Settings.media_dir)

    @classmethod
    def from_settings(cls, s: Settings) -> TelegramConfig | None:
        if s.telegram_bot_token is None:
            return None
        base = s.public_base_url.rstrip("/") if s.public_base_url else None
        return cls(
            token=s.telegram_bot_token.get_secret_value(),
            api_url=s.telegram_api_url,
            webhook_url=f"{base}{WEBHOOK_PATH}" if base else None,
            webhook_secret=s.telegram_webhook_secret.get_secret_value() if s.telegram_webhook_secret else None,
            provider_token=s.telegram_provider_token.get_secret_value() if s.telegram_provider_token else "",
            fiat_currency=s.telegram_fiat_currency,
            protect_content=s.telegram_protect_content,
            concurrency=s.telegram_concurrency,
            media_dir=s.media_dir,
        )

    @property
    def file_url(self) -> str:
        base = self.api_url
        return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base.rstrip("/") + "/file/bot"


class PriorityGate:
    """While a payment is being decided, no other update *starts* (those in flight finish).

    Telegram cancels a payment whose pre-checkout query is not answered within 10 s. On a busy
    event loop every ``await`` of the pre-checkout waits behind the steps of every other update
    in flight, so keeping new ones out for those few milliseconds is what keeps the answer fast.
    """

    def __init__(self) -> None:
        self._urgent = 0
        self._calm = asyncio.Event()
        self._calm.set()

    async def wait(self) -> None:
        await self._calm.wait()

    def __enter__(self) -> None:
        self._urgent += 1
        self._calm.clear()

    def __exit__(self, *exc: object) -> None:
        self._urgent -= 1
        if self._urgent == 0:
            self._calm.set()


class _Processor(SimpleUpdateProcessor):
    """PTB's concurrent processor, except that pre-checkout queries never wait for a free slot,
    and other updates wait while one is being answered (:class:`PriorityGate`)."""

    def __init__(self, max_concurrent_updates: int, gate: PriorityGate) -> None:
        super().__init__(max_concurrent_updates)
        self.gate = gate

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if isinstance(update, Update) and update.pre_checkout_query is not None:
            await coroutine
            return
        await self.gate.wait()
        await super().process_update(update, coroutine)


class TelegramChannel:
    def __init__(
        self,
        config: TelegramConfig,
        *,
        dispatcher: Dispatcher,
        kv: KeyValueStore,
        files: FileIdStore,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        desk: Callable[[], Awaitable[DeskParts]] | None = None,
    ) -> None:
        if config.webhook_url and not config.webhook_secret:
            raise ValueError("a Telegram webhook needs TELEGRAM_WEBHOOK_SECRET (16-256 characters of A-Za-z0-9_-)")
        self.config = config
        self.dispatcher = dispatcher
        self.kv = kv
        self.uow_factory = uow_factory
        self.clock = clock
        self.request = AiohttpRequest(connection_pool_size=max(8, config.concurrency))
        self.gate = PriorityGate()
        self._urgent_tasks: set[asyncio.Task[None]] = set()
        builder = (
            Application.builder()
            .token(config.token)
            .base_url(config.api_url)
            .base_file_url(config.file_url)
            .request(self.request)
            .concurrent_updates(_Processor(config.concurrency, self.gate))
        )
        if config.webhook_url:
            builder = builder.updater(None)
        else:
            poll = AiohttpRequest(connection_pool_size=1, read_timeout=config.poll_timeout + 10.0)
            builder = builder.get_updates_request(poll)
        self.app = builder.build()
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.app.add_error_handler(self._on_error)
        self.bot = self.app.bot
        self.codec = CallbackCodec(kv)
        self.renderer = Renderer(
            self.bot,
            self.codec,
            files,
            RenderConfig(protect_content=config.protect_content, provider_token=config.provider_token),
            clock,
        )
        self.payments = TelegramPayments(self.bot)
        self.community = TelegramCommunity(self.bot)
        currencies = {STARS} | ({config.fiat_currency} if config.provider_token else set())
        self.caps = Capabilities(
            channel="telegram",
            buttons=True,
            invoices=True,
            payment_provider=PROVIDER,
            currencies=frozenset(currencies),
            preferred_currency=STARS,
            max_text=4096,
            subscriptions=frozenset({30}),  # Telegram renews Stars subscriptions every 30 days only
        )
        self.desk = (
            CheckoutDesk(desk, token=config.token, api_url=config.api_url, file_url=config.file_url) if desk else None
        )
        self._running = False
        self.processed: deque[int] = deque(maxlen=4096)  # update_ids handled lately (observability, tests)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.desk is not None:
            await self.desk.start()
        await self.app.initialize()  # getMe
        self.caps = replace(self.caps, share_url=f"https://t.me/{self.bot.username}?start=")
        await self.register_commands()
        if self.config.webhook_url:
            await retry.call(
                lambda: self.bot.set_webhook(
                    self.config.webhook_url or "",
                    secret_token=self.config.webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                    max_connections=min(100, self.config.concurrency),
                ),
                what="setWebhook",
            )
        else:
            await retry.call(lambda: self.bot.delete_webhook(), what="deleteWebhook")
        await self.app.start()
        if not self.config.webhook_url and self.app.updater is not None:
            await self.app.updater.start_polling(
                poll_interval=0.0,
                timeout=self.config.poll_timeout,
                allowed_updates=ALLOWED_UPDATES,
                error_callback=self._polling_error,
            )
        self._running = True
        log.info("Telegram: @%s via %s", self.bot.username, "webhook" if self.config.webhook_url else "long polling")

    async def stop(self) -> None:
        if not self._running:
            return
        self._running = False
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()
        if self.desk is not None:
            await self.desk.stop()

    async def register_commands(self) -> None:
        """The command menu and the bot's descriptions, in English (the default) and Chinese."""
        for code in (None, "en", "zh"):
            t = translator(code or "en")
            commands = [BotCommand(name, t(f"cmd.{name}")) for name in COMMANDS]
            bot = self.bot
            await retry.call(partial(bot.set_my_commands, commands, language_code=code), what="setMyCommands")
            await retry.call(partial(bot.set_my_description, t("tg.description"), code), what="setMyDescription")
            await retry.call(
                partial(bot.set_my_short_description, t("tg.short_description"), code), what="setMyShortDescription"
            )

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("Telegram polling: %s", exc.message)  # PTB keeps polling with backoff

    # -- webhook ------------------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)]

    async def webhook(self, request: web.Request) -> web.Response:
        expected = (self.config.webhook_secret or "").encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            return web.Response(status=403, text="forbidden")
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, self.bot) if isinstance(data, dict) else None
        except (ValueError, TypeError, KeyError):
            update = None
        if update is None or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="not a Telegram update")
        if update.pre_checkout_query is not None and self.desk is not None:
            self._to_desk(update)
        elif update.pre_checkout_query is not None:
            # Straight to work: not behind the updates already queued (Telegram waits at most 10 s).
            task = asyncio.create_task(self.process(update))
            self._urgent_tasks.add(task)
            task.add_done_callback(self._urgent_tasks.discard)
        else:
            await self.app.update_queue.put(update)
        return web.Response(text="ok")

    def _to_desk(self, update: Update) -> None:
        """A pre-checkout query straight to the desk's thread, from inside the webhook request.

        No dedup here: deciding is read-only, and Telegram refuses a second answer to the same query.
        """
        assert self.desk is not None
        inbound = to_event(update)
        if inbound is None or not isinstance(inbound.event, PreCheckout) or inbound.pre_checkout_id is None:
            return
        loop = asyncio.get_running_loop()
        self.gate.__enter__()
        try:
            done = self.desk.submit(inbound.pre_checkout_id, inbound.event, self.caps)
        except Exception:  # the desk is gone: never leave the gate shut
            self.gate.__exit__()
            log.exception("pre-checkout %s could not reach the desk", inbound.pre_checkout_id)
            return

        def finished(future: Future[None]) -> None:
            if future.exception() is not None:
                log.error("pre-checkout %s failed", inbound.pre_checkout_id, exc_info=future.exception())
            loop.call_soon_threadsafe(self._desk_done, update.update_id)

        done.add_done_callback(finished)

    def _desk_done(self, update_id: int) -> None:
        self.gate.__exit__()
        self.processed.append(update_id)

    # -- processing ---------------------------------------------------------------------------------------------

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.process(update)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        uid = update.update_id if isinstance(update, Update) else None
        log.error("update %s failed", uid, exc_info=context.error)

    async def process(self, update: Update) -> None:
        """Handle one update end to end. Never raises: failures are logged and apologized for."""
        try:
            await self._process(update)
        finally:
            self.processed.append(update.update_id)

    async def _process(self, update: Update) -> None:
        if not await self.kv.set_if_absent(f"tg:update:{self.bot.id}:{update.update_id}", DEDUP_TTL):
            log.debug("update %s seen before: skipped", update.update_id)
            return
        inbound: Inbound | None = None
        try:
            inbound = await self._inbound(update)
            if inbound is None:
                await self._other(update)
                return
            await self._handle(inbound)
        except Forbidden:
            if inbound is not None:
                await self.mark_unreachable(inbound.chat_id)
        except Exception as exc:
            if isinstance(exc, BadRequest) and "chat not found" in exc.message:
                # e.g. someone removed from a paid group who never started the bot: nobody to tell
                log.info("update %s: chat not found, reply dropped", update.update_id)
                return
            log.exception("update %s (%s) failed", update.update_id, _kind(update))
            if inbound is not None and inbound.pre_checkout_id is None:
                await self._apologize(update, inbound.chat_id)

    async def _inbound(self, update: Update) -> Inbound | None:
        action: str | None = None
        if update.callback_query is not None:
            action = await self.codec.decode(update.callback_query.data, update.callback_query.from_user.id)
        inbound = to_event(update, action)
        if inbound is not None and inbound.photo is not None and isinstance(inbound.event, Message):
            got = await photos.fetch(self.bot, inbound.photo, self.config.media_dir, self.renderer.files, self.clock)
            msg = inbound.event
            event = replace(msg, photo=got) if isinstance(got, Photo) else replace(msg, photo_problem=got)
            inbound = replace(inbound, event=event, photo=None)
        return inbound

    async def _handle(self, inbound: Inbound) -> None:
        if inbound.pre_checkout_id is not None:
            await self._pre_checkout(inbound)
            return
        if inbound.callback_id is not None:
            await self._answer_callback(inbound.callback_id)
        event = inbound.event
        if event is None:  # a button whose data was forged, tampered with or expired
            lang = language_from_code(inbound.language_code)
            await self.renderer.send(inbound.chat_id, [TextReply(translator(lang)("menu.expired"))])
            return
        if isinstance(event, Message | ButtonPress):
            await self._clear_unreachable(inbound.chat_id)
        replies = await self.dispatcher.dispatch(event, self.caps)
        if not replies:
            return
        prefix = inbound.action.split(":", 1)[0]
        edit = inbound.callback_message_id if prefix in EDIT_IN_PLACE else None
        await self.renderer.send(inbound.chat_id, replies, edit_message_id=edit)

    async def _pre_checkout(self, inbound: Inbound) -> None:
        event, qid = inbound.event, inbound.pre_checkout_id
        assert isinstance(event, PreCheckout) and qid is not None
        with self.gate:
            if self.desk is not None:
                await self.desk.answer(qid, event, self.caps)
            else:
                await decide_and_answer(self.dispatcher, self.bot, qid, event, self.caps)

    async def _answer_callback(self, callback_id: str) -> None:
        try:
            await self.bot.answer_callback_query(callback_id)
        except TelegramError as exc:  # a stale query: the user still gets the reply message
            log.debug("answerCallbackQuery: %s", exc.message)

    async def _other(self, update: Update) -> None:
        change = update.my_chat_member
        if change is not None and change.chat.type == "private":
            if change.new_chat_member.status == "kicked":
                await self.mark_unreachable(change.chat.id)
            elif change.new_chat_member.status == "member":
                await self._clear_unreachable(change.chat.id)

    async def _apologize(self, update: Update, chat_id: int) -> None:
        user = update.effective_user
        t = translator(language_from_code(user.language_code if user else None))
        try:
            await self.renderer.send(chat_id, [TextReply(t("error.internal"))])
        except Exception:  # the apology is best effort: the log already has the failure
            log.warning("could not apologize to chat %s", chat_id)

    # -- reachability and proactive messages --------------------------------------------------------------------

    async def mark_unreachable(self, chat_id: int) -> None:
        ref = Ref("telegram", str(chat_id))
        log.info("%s blocked the bot: marked unreachable", ref)
        await self.kv.set_state(f"tg:blocked:{chat_id}", {"at": self.clock.now().isoformat()}, ttl=BLOCKED_TTL)
        async with self.uow_factory() as uow:
            await uow.users.set_unreachable(ref, self.clock.now())
            await uow.commit()

    async def _clear_unreachable(self, chat_id: int) -> None:
        key = f"tg:blocked:{chat_id}"
        if await self.kv.get_state(key) is None:
            return
        await self.kv.clear_state(key)
        async with self.uow_factory() as uow:
            await uow.users.set_unreachable(Ref("telegram", str(chat_id)), None)
            await uow.commit()

    async def push(self, ref: Ref, replies: Sequence[Reply], *, important: str | None = None) -> bool:
        """Send to a user who did not just write (a notice). False when Telegram refuses."""
        if ref.channel != "telegram" or not ref.external_id.isdigit():
            return False
        chat_id = int(ref.external_id)
        try:
            await self.renderer.send(chat_id, replies)
        except Forbidden:
            await self.mark_unreachable(chat_id)
            return False
        except TelegramError as exc:
            log.warning("notice to %s failed: %s", ref, exc.message)
            return False
        return True


def _kind(update: Update) -> str:
    for name in ("message", "callback_query", "pre_checkout_query", "chat_member", "chat_join_request"):
        if getattr(update, name, None) is not None:
            return name
    return "other"
