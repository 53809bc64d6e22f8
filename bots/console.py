"""The console channel: the whole product in a terminal, and our test bot.

One stdin line is one user message; replies are printed to stdout. Buttons
are rendered as numbered options (``[1] Catalog``) and typing the number
presses the button. The number-to-action map is conversation state in the
key-value store (the same mechanism WeChat's numbered menus use), so a
number can only ever press a button the bot last showed this user.

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
from collections.abc import Iterable
from typing import IO

from core.channel import Capabilities
from core.events import ButtonPress, Event, Message, PaymentSucceeded, PreCheckout, Sender
from core.i18n import Translator, translator
from core.money import Money
from core.ports import KeyValueStore
from core.replies import Button, CheckoutAnswer, InvoiceReply, MediaReply, Reply, TextReply
from core.users import Ref
from handlers.dispatcher import Dispatcher

__all__ = ["CAPABILITIES", "SANDBOX_PROVIDER", "ConsoleChannel", "SandboxGateway"]

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
    ) -> None:
        self.dispatcher = dispatcher
        self.kv = kv
        self.sender = Sender(ref=Ref.parse(f"console:{user}"), language_code=lang, display_name=user)
        self.out = out or sys.stdout
        self._invoices: dict[str, Money] = {}  # the sandbox provider's memory of the invoices it showed
        self._menu_key = f"console-menu:{self.sender.ref}"

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


def _rows(reply: Reply) -> tuple[tuple[Button, ...], ...]:
    if isinstance(reply, InvoiceReply):
        return ((Button(reply.pay_label, f"{_SANDBOX_PAY}:{reply.order_code}"),), *reply.buttons)
    if isinstance(reply, TextReply):
        return reply.buttons
    return ()


def _buttons(replies: Iterable[Reply]) -> list[Button]:
    return [b for r in replies for row in _rows(r) for b in row if not b.is_link]
