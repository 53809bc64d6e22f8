"""The dispatcher: one neutral event in, neutral replies out, in one transaction.

For each event it opens a unit of work, resolves (or creates) the user,
builds the :class:`Ctx`, routes the event and commits. A message is routed
as: a photo the adapter could not take (too large, not an image) is answered
at once; a plain message's command runs; message handlers see the whole
message (a photo, a forwarded one, formatting); text handlers its text. A
:class:`core.errors.UserFacingError` rolls back and becomes a message in the
user's language; any other exception rolls back, is logged with the REF and
event type (never the message text), and the user gets a short apology.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re

from core.accounts import ensure_user
from core.channel import Capabilities
from core.clock import Clock
from core.errors import Conflict, UserFacingError
from core.events import ButtonPress, Event, Message, PaymentSucceeded, PhotoProblem, PreCheckout, Sender
from core.i18n import Translator, translator
from core.photos import MAX_PHOTO_BYTES
from core.ports import KeyValueStore, Notifier, UnitOfWorkFactory
from core.replies import CheckoutAnswer, Reply, TextReply
from core.users import language_from_code
from handlers.context import AppConfig, Ctx, Notice, Services
from handlers.router import Router

__all__ = ["MAX_TEXT", "Dispatcher"]

log = logging.getLogger(__name__)

MAX_TEXT = 2000  # longest inbound message we act on
CONFLICT_ATTEMPTS = 5
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{1,64})?(?:\s+(.*))?$", re.S)
_ACTION = re.compile(r"^([a-z]{1,8})(?::([A-Za-z0-9_.\-]{0,60}))?$")
_PHOTO_PROBLEMS = {
    PhotoProblem.TOO_LARGE: "photo.too_large",
    PhotoProblem.NOT_AN_IMAGE: "photo.not_an_image",
    PhotoProblem.UNAVAILABLE: "photo.unavailable",
}


class Dispatcher:
    def __init__(
        self,
        router: Router,
        *,
        uow_factory: UnitOfWorkFactory,
        kv: KeyValueStore,
        clock: Clock,
        config: AppConfig,
        services: Services | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.router = router
        self.uow_factory = uow_factory
        self.kv = kv
        self.clock = clock
        self.config = config
        self.services = services or Services()
        self.notifier = notifier

    async def dispatch(self, event: Event, caps: Capabilities) -> list[Reply]:
        return (await self.dispatch_with_language(event, caps))[0]

    async def dispatch_with_language(self, event: Event, caps: Capabilities) -> tuple[list[Reply], str]:
        """The replies and the language they are in (adapters that add text of their own need it)."""
        # A Conflict means a concurrent twin won a race (a uniqueness key, SQLite's single writer);
        # nothing was committed, so the whole event runs again in a fresh transaction.
        delay = 0.005
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return await self._dispatch_once(event, caps)
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    log.exception("conflict %d times: ref=%s event=%s", attempt, event.sender.ref, type(event).__name__)
                    break
                await asyncio.sleep(delay * (1 + random.random()))
                delay *= 2
        return _failure(event, translator("en")("error.internal")), "en"

    async def _dispatch_once(self, event: Event, caps: Capabilities) -> tuple[list[Reply], str]:
        now = self.clock.now()
        t: Translator = translator("en")
        async with self.uow_factory() as uow:
            try:
                user, created = await ensure_user(uow, event.sender, now=now, timezone=self.config.default_timezone)
                t = translator(user.lang)
                ctx = Ctx(user, t, uow, now, self.kv, caps, self.config, event.sender, created, self.services)
                replies = await self._route(ctx, event)
                await uow.commit()
            except Conflict:
                await uow.rollback()
                raise
            except UserFacingError as err:
                await uow.rollback()
                return _failure(event, t(err.key, **err.params)), t.lang
            except Exception:
                await uow.rollback()
                log.exception("handler failed: ref=%s event=%s", event.sender.ref, type(event).__name__)
                return _failure(event, t("error.internal")), t.lang
        await self._send_notices(ctx.notices)
        return replies, ctx.user.lang

    async def _send_notices(self, notices: list[Notice]) -> None:
        """After the commit: a failed notice is logged, never undoes what was committed."""
        for notice in notices:
            if self.notifier is None:
                log.warning("no notifier configured: a notice to user %s was dropped", notice.user_id)
                continue
            try:
                await self.notifier.notify(notice.user_id, notice.replies)
            except Exception:
                log.exception("notice to user %s failed", notice.user_id)

    async def language_of(self, sender: Sender) -> str:
        """The stored language of a user (adapters use it for their own few strings)."""
        async with self.uow_factory() as uow:
            user = await uow.users.get_by_ref(sender.ref)
        return user.lang if user else language_from_code(sender.language_code)

    async def _route(self, ctx: Ctx, event: Event) -> list[Reply]:
        r = self.router
        if isinstance(event, Message):
            return await self._message(ctx, event)
        if isinstance(event, ButtonPress):
            m = _ACTION.match(event.action)
            handler = r.actions.get(m.group(1)) if m else None
            if m is None or handler is None:
                return [TextReply(ctx.t("menu.expired"))]
            return await handler(ctx, m.group(2) or "")
        if isinstance(event, PreCheckout):
            for pre in r.pre_checkouts:
                return await pre(ctx, event)
            return [CheckoutAnswer(False, ctx.t("checkout.unknown_order"))]
        if isinstance(event, PaymentSucceeded):
            for pay in r.payments:
                return await pay(ctx, event)
        handler_for = r.events.get(type(event))
        if handler_for is not None:
            return await handler_for(ctx, event)
        raise TypeError(f"unhandled event {type(event).__name__}")

    async def _message(self, ctx: Ctx, msg: Message) -> list[Reply]:
        """A photo we could not take is answered at once. Otherwise a plain message's command runs first;
        then message handlers see the whole message (a photo, a forwarded one, formatting), then text
        handlers its text. A photo nobody took gets a hint, never a search for its caption."""
        if msg.photo_problem is not None:
            key = _PHOTO_PROBLEMS.get(msg.photo_problem, "photo.unavailable")
            return [TextReply(ctx.t(key, mb=MAX_PHOTO_BYTES // (1024 * 1024)))]
        text = msg.text.strip()
        rich = msg.photo is not None or msg.forwarded
        if not rich:
            early = await self._plain_checks(ctx, text)
            if early is not None:
                return early
        for take in self.router.messages:
            replies = await take(ctx, msg)
            if replies is not None:
                return replies
        if msg.photo is not None:
            return [TextReply(ctx.t("photo.unexpected"))]
        if rich:  # forwarded text nobody took: as if typed
            early = await self._plain_checks(ctx, text)
            if early is not None:
                return early
        return await self._text(ctx, text)

    async def _plain_checks(self, ctx: Ctx, text: str) -> list[Reply] | None:
        """Empty and over-long text, and commands: answered before anything reads the text."""
        if not text:
            return [TextReply(ctx.t("help.hint"))]
        if len(text) > MAX_TEXT:
            return [TextReply(ctx.t("error.too_long", limit=MAX_TEXT))]
        if text.startswith("/"):
            m = _COMMAND.match(text)
            handler = self.router.commands.get(m.group(1).lower()) if m else None
            if m is None or handler is None:
                return [TextReply(ctx.t("error.unknown_command"))]
            return await handler(ctx, (m.group(2) or "").strip())
        return None

    async def _text(self, ctx: Ctx, text: str) -> list[Reply]:
        for fn in self.router.texts:
            replies = await fn(ctx, text)
            if replies is not None:
                return replies
        return [TextReply(ctx.t("help.hint"))]


def _failure(event: Event, text: str) -> list[Reply]:
    if isinstance(event, PreCheckout):
        return [CheckoutAnswer(False, text)]
    return [TextReply(text)]
