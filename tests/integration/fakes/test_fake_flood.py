"""Flood control of the fake Bot API (``fakes.telegram_flood``), on a fake flood clock: the windows per
bot, per chat and per group, the paid lane, the pause after a 429 and its violations, and the counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from fakes.telegram_api import FakeBotAPI
from fakes.telegram_flood import FloodControl

GROUP = -1001234567890


class Tick:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tick() -> Tick:
    return Tick()


@pytest.fixture
async def fake(tick: Tick) -> AsyncIterator[FakeBotAPI]:
    limits = FloodControl(global_per_s=3, per_chat_per_s=1, per_group_per_min=2, paid_per_s=5, clock=tick)
    api = FakeBotAPI(flood=limits)
    await api.start()
    for uid in range(1, 20):
        api.add_user(uid)
    api.add_group(GROUP)
    yield api
    await api.stop()
    assert not api.internal_errors, api.internal_errors


async def send(fake: FakeBotAPI, chat: int, method: str = "sendMessage", **extra: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}{fake.token}/{method}", json={"chat_id": chat, "text": "hi", **extra}) as resp,
    ):
        return resp.status, await resp.json()


async def test_off_by_default() -> None:
    async with FakeBotAPI() as api:
        api.add_user(1)
        assert [(await send(api, 1))[0] for _ in range(40)] == [200] * 40
        assert api.flood_violations == 0 and api.sent_count == 40 and api.sent_per_chat[1] == 40


async def test_the_global_window_answers_429_pauses_and_counts_violations(fake: FakeBotAPI, tick: Tick) -> None:
    assert [(await send(fake, c))[0] for c in (1, 2, 3)] == [200] * 3
    tick.now += 0.5
    status, body = await send(fake, 4)
    assert status == 429 and body["parameters"] == {"retry_after": 1}
    assert body["description"] == "Too Many Requests: retry after 1"
    assert fake.flood_violations == 1
    tick.now += 0.6  # the window has room again, but the pause runs until 101.5
    assert (await send(fake, 5))[0] == 429
    assert fake.flood_violations == 2
    assert (await send(fake, 5, method="getChat"))[0] == 200  # not a send call
    tick.now += 0.5
    assert (await send(fake, 5))[0] == 200
    assert fake.sent_count == 4 and [e.verdict for e in fake.flood_log] == ["ok"] * 3 + ["limit", "paused", "ok"]


async def test_per_chat_and_per_group_windows(fake: FakeBotAPI, tick: Tick) -> None:
    assert (await send(fake, 1))[0] == 200
    tick.now += 0.9
    assert (await send(fake, 1))[0] == 429
    fake.set_flood(3, 1, 2, 5, clock=tick)  # forget the pause
    assert [(await send(fake, GROUP))[0] for _ in range(2)] == [200, 200]
    tick.now += 30
    status, body = await send(fake, GROUP)
    assert status == 429 and body["parameters"]["retry_after"] == 30  # 20/min: the oldest leaves the 60 s window


async def test_paid_sends_have_their_own_limit_and_are_counted(fake: FakeBotAPI, tick: Tick) -> None:
    statuses = [(await send(fake, c, allow_paid_broadcast=True))[0] for c in range(1, 6)]
    assert statuses == [200] * 5 and fake.paid_sent == 5
    assert (await send(fake, 6))[0] == 200  # the free window is untouched
    assert (await send(fake, 7, allow_paid_broadcast=True))[0] == 429
    assert fake.flood_violations == 1 and fake.sent_count == 6


async def test_an_injected_429_starts_a_pause_without_being_a_violation(fake: FakeBotAPI, tick: Tick) -> None:
    fake.fail_next("sendMessage", retry_after=2)
    assert (await send(fake, 1))[0] == 429
    assert fake.flood_violations == 0 and [e.verdict for e in fake.flood_log] == ["forced"]
    tick.now += 1.5
    assert (await send(fake, 2, method="sendPhoto", photo="AgACnothing"))[0] == 429  # any send call
    assert fake.flood_violations == 1
    tick.now += 0.5
    assert (await send(fake, 2))[0] == 200


async def test_blocked_deactivated_and_unknown_chats(fake: FakeBotAPI) -> None:
    fake.blocked.add(1)
    fake.deactivated.add(2)
    assert await send(fake, 1) == (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    assert (await send(fake, 2))[1]["description"] == "Forbidden: user is deactivated"
    assert (await send(fake, 999))[1]["description"] == "Bad Request: chat not found"
    assert fake.sent_count == 0
