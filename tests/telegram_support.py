"""Running the real Telegram channel (PTB over HTTP) against the in-repo fake Bot API.

``telegram_app`` builds the same :class:`bot.App` as production, with
``TELEGRAM_API_URL`` pointing at :class:`fakes.telegram_api.FakeBotAPI`, in
long-polling or webhook mode (the webhook is served by the project's own
aiohttp app on a free port). :class:`TgUser` is a Telegram user driving it:
write, press a button, pay, and wait until the bot has handled the update.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from fakes.telegram_api import FakeBotAPI

import bot
from bots.telegram.channel import TelegramChannel
from bots.web import build_web_app
from core.config import Settings
from core.ports import KeyValueStore

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuv"
SECRET = "webhook-secret-0123456789abcdef"
__all__ = ["SECRET", "TOKEN", "TgHarness", "TgUser", "telegram_app"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TgHarness:
    app: bot.App
    fake: FakeBotAPI
    channel: TelegramChannel
    webhook_url: str | None

    async def settle(self, update: dict[str, Any], timeout: float = 10.0) -> None:
        """Wait until the bot has finished handling ``update``."""
        uid = update["update_id"]
        await self.fake.wait_for(lambda: uid in self.channel.processed, timeout=timeout)

    def user(self, user_id: int, *, lang: str | None = "en", name: str = "Ann") -> TgUser:
        self.fake.add_user(user_id, first_name=name, language_code=lang)
        return TgUser(self, user_id)


@dataclass
class TgUser:
    h: TgHarness
    id: int

    @property
    def fake(self) -> FakeBotAPI:
        return self.h.fake

    def messages(self) -> list[dict[str, Any]]:
        return self.fake.messages_to(self.id)

    def texts(self) -> list[str]:
        return self.fake.texts_to(self.id)

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Write ``text``; return the messages the bot sent (or edited) in answer."""
        before = len(self.messages())
        update = await self.fake.send_text(self.id, text)
        await self.h.settle(update)
        return self.messages()[before:]

    async def press(self, message: dict[str, Any], label: str) -> list[dict[str, Any]]:
        """Press the inline button whose label contains ``label`` on ``message``."""
        before = len(self.messages())
        update = await self.fake.press_button(self.id, message, label)
        await self.h.settle(update)
        return self.messages()[before:]

    async def press_data(self, message: dict[str, Any], data: str) -> list[dict[str, Any]]:
        before = len(self.messages())
        update = await self.fake.press(self.id, message, data)
        await self.h.settle(update)
        return self.messages()[before:]

    async def pay(self, invoice: dict[str, Any] | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Pay an invoice message (or link): pre-checkout, then successful_payment; the bot's answer."""
        before = len(self.messages())
        result = await self.fake.pay(self.id, invoice)
        if result.get("update") is not None:
            await self.h.settle(result["update"])
        return result, self.messages()[before:]


def text_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or m.get("caption") or "" for m in messages)


@asynccontextmanager
async def telegram_app(
    settings: Settings,
    clock: Any,
    kv: KeyValueStore,
    *,
    webhook: bool = False,
    desk: bool = True,
    **fake_options: Any,
) -> AsyncIterator[TgHarness]:
    fake = FakeBotAPI(token=TOKEN, clock=clock.now, **fake_options)
    await fake.start()
    runner: web.AppRunner | None = None
    port = free_port()
    changes: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": fake.base_url,
        "telegram_webhook_secret": SECRET if webhook else None,
        "public_base_url": f"http://127.0.0.1:{port}" if webhook else None,
    }
    tg_settings = Settings(_env_file=None, **{**settings.model_dump(), **changes})  # type: ignore[call-arg]
    app = bot.build_app(tg_settings, clock=clock, kv=kv)
    assert app.telegram is not None
    app.telegram.config = _fast(app.telegram)
    if not desk:
        app.telegram.desk = None  # pre-checkout decided on the main loop
    try:
        if webhook:
            runner = web.AppRunner(build_web_app(bot.readiness_probe(app), app.telegram.routes()))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        await app.telegram.start()
        yield TgHarness(app, fake, app.telegram, tg_settings.public_base_url)
    finally:
        await app.telegram.stop()
        if runner is not None:
            await runner.cleanup()
        await app.db.dispose()
        await fake.stop()


def _fast(channel: TelegramChannel) -> Any:
    from dataclasses import replace

    return replace(channel.config, poll_timeout=1)
