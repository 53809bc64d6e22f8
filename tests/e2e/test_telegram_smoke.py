"""Smoke: the real PTB Application over HTTP against the fake Bot API, polling and webhook."""

from __future__ import annotations

import pytest
from telegram_support import telegram_app, text_of

import bot
from core.clock import FrozenClock
from core.ports import KeyValueStore


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_start_and_catalog(demo: bot.App, clock: FrozenClock, kv: KeyValueStore, webhook: bool) -> None:
    async with telegram_app(demo.settings, clock, kv, webhook=webhook) as h:
        ann = h.user(1001)
        out = await ann.say("/start")
        assert "Welcome" in text_of(out), h.fake.summary()
        out = await ann.say("/catalog")
        assert "course catalog" in text_of(out).lower()
