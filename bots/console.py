"""The console channel: the whole product in a terminal, and our test bot.

One stdin line is one user message; replies are printed to stdout. Buttons
are rendered as numbered options (``[1] Catalog``) and typing the number
presses the button. The number-to-action map is conversation state in the
key-value store (the same mechanism WeChat's numbered menus use), so a
number can only ever press a button the bot last showed this user.

A photo is sent with ``/photo PATH [caption]`` (the adapter reads the file,
checks and stores it like a photo from a phone, :mod:`core.photos`; the rest
of the line, and any following lines, are the caption). Media replies are
printed as ``[photo] PATH caption``, followed by their buttons.

Broadcasts and other bulk messages reach console users through
:class:`ConsoleBulkSender`, the delivery engine's way out to this channel: a
message for the user at this console is printed (its buttons become the
current numbered menu, so a broadcast's button can be pressed); one for
another console user is printed under a ``📨 to console:<id>:`` header, as the
terminal stands for every console user's screen.

Payments go through a sandbox provider that behaves like Telegram's: an
invoice is shown, the user confirms, the provider asks the core whether the
payment may proceed (pre-checkout) and then reports the charge, through the
same order and payment code path as the real providers.
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from core.channel import Capabilities
from core.delivery import Outcome, SendResult
from core.events import ButtonPress, Event, Message, PaymentSucceeded, PhotoProblem, PreCheckout, Sender
from core.i18n import Translator, translator
from core.money import Money
from core.photos import PhotoRejected, read_photo_file, store_photo
from core.ports import KeyValueStore, SendLimits
from core.replies import Button, CheckoutAnswer, InvoiceReply, MediaReply, Reply, TextReply
from core.users import Ref
from handlers.dispatcher import Dispatcher

__all__ = ["CAPABILITIES", "SANDBOX_PROVIDER", "ConsoleBulkSender", "ConsoleChannel", "SandboxGateway"]

SANDBOX_PROVIDER = "sandbox"
CAPABILITIES = Capabilities(
    channel="console",
    buttons=False,
    invoices=True,
    payment_provider=SANDBOX_PROVIDER,
    currencies=None,  # the sandbox takes any currency, fiat first
    max_text=100_000,
)
_NUMBER = re.compile(r"^\s*(\d{1,4})\s*$")
_PHOTO = re.compile(r'^/photo(?:@\w+)?(?=\s|$)(?:[ \t]+(?:"([^"\n]+)"|(\S+)))?[ \t]*(.*)$', re.S)
_SANDBOX_PAY = "sbx"
_MENU_TTL = 24 * 3600.0


class SandboxGateway:
    """The sandbox provider's own operations: refunds and renewal changes always succeed (no real money)."""

    channel = "console"

    def __init__(self) -> None:
        self.refunds: list[tuple[Ref, str]] = []
        self.renewals: list[tuple[Ref, str, bool]] = []

    async def refund(self, ref: Ref, charge_id: str) -> None:
        self.refunds.append((ref, charge_id))

    async def set_renewal(self, ref: Ref, charge_id: str, *, enabled: bool) -> None:
        self.renewals.append((ref, charge_id, enabled))


class ConsoleChannel:
    """Drives a :class:`Dispatcher` from text lines; renders replies to ``out``."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        kv: KeyValueStore,
        *,
        user: str = "me",
        lang: str = "zh",
        out: IO[str] | None = None,
        media_dir: Path | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.media_dir = media_dir  # where /photo stores images (None: photos can't be sent)
        self.kv = kv
        self.sender = Sender(ref=Ref.parse(f"console:{user}"), language_code=lang, display_name=user)
        self.out = out or sys.stdout
        self._invoices: dict[str, Money] = {}  # the sandbox provider's memory of the invoices it showed
        self._menu_key = f"console-menu:{self.sender.ref}"

    async def deliver(self, ref: Ref, replies: Sequence[Reply]) -> None:
        """Print a message the bot sends on its own initiative (a broadcast, a drip lesson) to ``ref``."""
        lang = await self.dispatcher.language_of(Sender(ref=ref))
        if ref == self.sender.ref:
            self._print("")
            self.render(replies, lang)
            actions = [b.action for b in _buttons(replies)]
            if actions:  # a broadcast's buttons are pressed by number, like any menu
                await self.kv.set_state(self._menu_key, {"actions": actions}, ttl=_MENU_TTL)
            return
        self._print(translator(lang)("console.delivery_to", ref=str(ref)))
        self.render(replies, lang)

    async def handle_line(self, line: str) -> list[Reply]:
        """Process one line of user input; print and return the replies."""
        replies = await self._handle(line)
        lang = await self.dispatcher.language_of(self.sender)
        self.render(replies, lang)
        actions = [b.action for b in _buttons(replies)]
        if actions:
            await self.kv.set_state(self._menu_key, {"actions": actions}, ttl=_MENU_TTL)
        return replies

    async def _handle(self, line: str) -> list[Reply]:
        photo = _PHOTO.match(line)
        if photo is not None:
            path = photo.group(1) or photo.group(2)
            if not path:
                t = translator(await self.dispatcher.language_of(self.sender))
                return [TextReply(t("console.photo_usage"))]
            return await self._dispatch(await self._photo_message(Path(path), photo.group(3).strip()))
        m = _NUMBER.match(line)
        if m is None:
            return await self._dispatch(Message(self.sender, line))
        menu = await self.kv.get_state(self._menu_key)
        actions = [str(a) for a in menu.get("actions", [])] if menu else []
        n = int(m.group(1))
        t = translator(await self.dispatcher.language_of(self.sender))
        if not actions:
            return [TextReply(t("console.no_menu"))]
        if not 1 <= n <= len(actions):
            return [TextReply(t("console.bad_choice", n=n, max=len(actions)))]
        action = actions[n - 1]
        if action.startswith(_SANDBOX_PAY + ":"):
            return await self._sandbox_pay(action.split(":", 1)[1], t)
        return await self._dispatch(ButtonPress(self.sender, action))

    async def _photo_message(self, path: Path, caption: str) -> Message:
        """What a phone would send: the image at ``path`` (checked and stored) with ``caption``."""
        if self.media_dir is None:
            return Message(self.sender, caption, photo_problem=PhotoProblem.UNAVAILABLE)
        try:
            data = await asyncio.to_thread(read_photo_file, path)
            stored = await asyncio.to_thread(store_photo, data, self.media_dir)
        except PhotoRejected as exc:
            return Message(self.sender, caption, photo_problem=exc.problem)
        return Message(self.sender, caption, photo=stored)

    async def _dispatch(self, event: Event) -> list[Reply]:
        replies = await self.dispatcher.dispatch(event, CAPABILITIES)
        for reply in replies:
            if isinstance(reply, InvoiceReply):
                self._invoices[reply.order_code] = reply.price
        return replies

    async def _sandbox_pay(self, code: str, t: Translator) -> list[Reply]:
        """The sandbox provider: pre-checkout, then report the charge, like Telegram does."""
        total = self._invoices.get(code)
        if total is None:
            return [TextReply(t("menu.expired"))]
        answer = await self.dispatcher.dispatch(PreCheckout(self.sender, code, total), CAPABILITIES)
        check = next((r for r in answer if isinstance(r, CheckoutAnswer)), CheckoutAnswer(False, ""))
        if not check.ok:
            return [TextReply(t("console.declined", reason=check.error))]
        charge = f"sbx_{uuid.uuid4().hex}"
        return await self._dispatch(PaymentSucceeded(self.sender, SANDBOX_PROVIDER, charge, code, total))

    def render(self, replies: Iterable[Reply], lang: str) -> None:
        t = translator(lang)
        n = 0
        for reply in replies:
            if isinstance(reply, TextReply):
                self._print(reply.text)
            elif isinstance(reply, MediaReply):
                self._print(t("console.media", kind=reply.kind.value, path=reply.path, caption=reply.caption).rstrip())
            elif isinstance(reply, InvoiceReply):
                price = t.money(reply.price)
                self._print(t("console.invoice", title=reply.title, price=price, description=reply.description))
                self._print(t("console.sandbox_note"))
            for row in _rows(reply):
                labels = []
                for button in row:
                    if button.is_link:
                        labels.append(f"{button.label}: {button.url}")
                        continue
                    n += 1
                    labels.append(f"[{n}] {button.label}")
                self._print("  ".join(labels))
        self._print("")
        self.out.flush()

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")

    async def run(self, stream: IO[str], *, interactive: bool) -> None:
        """Read lines until EOF; each non-blank line is one message."""
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                self.out.write("> ")
                self.out.flush()
            line = await loop.run_in_executor(None, stream.readline)
            if not line:
                return
            line = line.rstrip("\r\n")
            if line.strip():
                await self.handle_line(line)


class ConsoleBulkSender:
    """:class:`core.ports.BulkSender` for the console: every delivery is printed by the :class:`ConsoleChannel`.

    Its limits are nominal (a terminal has no flood control); they keep a broadcast readable in the demo.
    """

    channel = "console"

    def __init__(self, console: ConsoleChannel, *, per_second: float = 20.0) -> None:
        self.console = console
        self.per_second = per_second

    def limits(self, *, paid: bool) -> SendLimits:
        return SendLimits(key="console", per_second=self.per_second, per_chat=self.per_second)

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        if ref.channel != self.channel:
            return SendResult(Outcome.FAILED, f"not a console user: {ref}")
        await self.console.deliver(ref, replies)
        await asyncio.sleep(1.0 / self.per_second)
        return SendResult(Outcome.SENT)


def _rows(reply: Reply) -> tuple[tuple[Button, ...], ...]:
    if isinstance(reply, InvoiceReply):
        return ((Button(reply.pay_label, f"{_SANDBOX_PAY}:{reply.order_code}"),), *reply.buttons)
    if isinstance(reply, TextReply | MediaReply):
        return reply.buttons
    return ()


def _buttons(replies: Iterable[Reply]) -> list[Button]:
    return [b for r in replies for row in _rows(r) for b in row if not b.is_link]
