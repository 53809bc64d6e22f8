"""The Telegram bulk lane (``bots.telegram.bulk``): real PTB over HTTP against the fake Bot API with
flood control on (30/s per bot, 1/s per private chat, 20/min per group, 1000/s paid).

What must hold: pacing never draws a 429 (0 violations), also with two senders sharing the store (two
worker processes); a 429 pauses every sender until it expires and is reported as FLOOD, not retried;
Telegram's answers become outcomes; paid broadcasts go fast and say so on every call; and the bulk
lane has its own Bot and connections, so replies to users do not wait behind it.

The store is Redis when ``REDIS_URL`` is set, else the in-process one (the ``kv`` fixture).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import telegram
from fakes.telegram_api import FakeBotAPI
from fakes.telegram_flood import FloodControl
from telegram_support import TOKEN, telegram_app, text_of

import bot
from bots.telegram.bulk import PacedRequest, TelegramBulkSender
from bots.telegram.render import RenderConfig, Renderer
from bots.telegram.transport import AiohttpRequest
from core.catalog import MediaKind
from core.clock import FrozenClock
from core.delivery import Outcome, SendResult
from core.ports import KeyValueStore
from core.replies import Button, MediaReply, Reply, TextReply
from core.users import Ref

NEWS = (TextReply("Spring sale: every course -30% this week", ((Button("Open", action="cat"),),)),)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class MemoryFileIds:
    """``FileIdStore`` in a dict."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, str], str] = {}

    async def get(self, sender: str, sha256: str, kind: str) -> str | None:
        return self.ids.get((sender, sha256, kind))

    async def put(self, sender: str, sha256: str, kind: str, file_id: str, now: datetime) -> None:
        self.ids[(sender, sha256, kind)] = file_id

    async def forget(self, sender: str, sha256: str, kind: str) -> None:
        self.ids.pop((sender, sha256, kind), None)


MakeSender = Callable[..., Awaitable[TelegramBulkSender]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI(token=TOKEN, flood=FloodControl())
    await api.start()
    yield api
    await api.stop()
    assert not api.internal_errors, api.internal_errors


@pytest.fixture
async def make_sender(fake: FakeBotAPI, kv: KeyValueStore, clock: FrozenClock) -> AsyncIterator[MakeSender]:
    """Start a bulk sender on the shared store: each one stands for a worker process of its own."""
    made: list[TelegramBulkSender] = []

    async def make(**options: Any) -> TelegramBulkSender:
        sender = TelegramBulkSender(TOKEN, kv=kv, files=MemoryFileIds(), clock=clock, api_url=fake.base_url, **options)
        await sender.start()
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.stop()


def users(fake: FakeBotAPI, first: int, n: int) -> list[int]:
    ids = list(range(first, first + n))
    for uid in ids:
        fake.add_user(uid)
    return ids


def tg(chat: int) -> Ref:
    return Ref("telegram", str(chat))


async def run(
    jobs: Sequence[tuple[TelegramBulkSender, int, Sequence[Reply]]], *, workers: int, paid: bool = False
) -> tuple[dict[int, SendResult], float]:
    """Send every job with ``workers`` tasks (as the engine does); the results by chat and the seconds it took."""
    queue: asyncio.Queue[tuple[TelegramBulkSender, int, Sequence[Reply]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    results: dict[int, SendResult] = {}

    async def worker() -> None:
        while not queue.empty():
            sender, chat, replies = queue.get_nowait()
            results[chat] = await sender.send_bulk(tg(chat), replies, paid=paid)

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return results, time.monotonic() - start


def assert_no_violations(fake: FakeBotAPI) -> None:
    bad = fake.flood_events("limit") + fake.flood_events("paused")
    assert fake.flood_violations == 0, f"{len(bad)} violations, first: {bad[:3]}"


def arrivals(fake: FakeBotAPI, chat: int | None = None) -> list[float]:
    """When each accepted send call reached the fake (flood clock = time.monotonic)."""
    return [e.at for e in fake.flood_events("ok") if chat is None or e.chat_id == chat]


async def test_pacing_stays_under_30_per_second_without_a_burst(fake: FakeBotAPI, make_sender: MakeSender) -> None:
    sender = await make_sender()
    chats = users(fake, 1000, 90)
    results, took = await run([(sender, c, NEWS) for c in chats], workers=16)
    assert {r.outcome for r in results.values()} == {Outcome.SENT}
    assert took >= 2.9  # 89 gaps of 1/29.4 s
    assert_no_violations(fake)
    assert fake.sent_count == 90 and all(fake.sent_per_chat[c] == 1 for c in chats)
    ts = arrivals(fake)
    assert max(sum(1 for t in ts if s <= t < s + 1) for s in ts) <= 30


async def test_every_call_to_a_chat_is_paced_per_chat_and_per_group(
    fake: FakeBotAPI, make_sender: MakeSender, tmp_path: Path
) -> None:
    sender = await make_sender()
    [ann] = users(fake, 77, 1)
    group = -1001234567890
    fake.add_group(group)
    photo = tmp_path / "cover.png"
    photo.write_bytes(PNG)
    cover = MediaReply(MediaKind.PHOTO, str(photo), hashlib.sha256(PNG).hexdigest(), caption="This week")
    start = time.monotonic()
    results = await asyncio.gather(
        sender.send_bulk(tg(ann), [NEWS[0], cover]),  # one reply, two calls
        sender.send_bulk(tg(ann), NEWS),
        sender.send_bulk(tg(group), NEWS),
        sender.send_bulk(tg(group), NEWS),
    )
    took = time.monotonic() - start
    assert [r.outcome for r in results] == [Outcome.SENT] * 4
    assert_no_violations(fake)
    to_ann, to_group = arrivals(fake, ann), arrivals(fake, group)
    assert len(to_ann) == 3 and len(to_group) == 2
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(to_ann))
    assert to_group[1] - to_group[0] >= 3.0  # 20 a minute, evenly
    assert took >= 3.0
    assert [m.get("caption") or m.get("text") for m in fake.messages_to(ann)].count("This week") == 1


async def test_two_workers_sharing_the_store_stay_within_the_limits(fake: FakeBotAPI, make_sender: MakeSender) -> None:
    # 90 % of the limit (27/s together): room for a loaded CI machine's scheduling delays under the fake's strict
    # sliding window, while two pacers that did not share the store would send 54/s and be refused at once.
    a, b = await make_sender(margin=0.9), await make_sender(margin=0.9)
    assert a.pacer is not b.pacer and a.transport is not b.transport
    chats = users(fake, 2000, 60)
    [both] = users(fake, 2999, 1)
    jobs = [(a if n % 2 else b, c, NEWS) for n, c in enumerate(chats)]
    results, took = await run(jobs, workers=16)
    extra = await asyncio.gather(a.send_bulk(tg(both), NEWS), b.send_bulk(tg(both), NEWS))
    assert {r.outcome for r in [*results.values(), *extra]} == {Outcome.SENT}
    assert took >= 59 / 27 - 0.05
    assert_no_violations(fake)
    twice = arrivals(fake, both)
    assert len(twice) == 2 and twice[1] - twice[0] >= 1.0
    assert fake.sent_count == 62


async def test_a_429_is_reported_and_pauses_every_worker_until_it_expires(
    fake: FakeBotAPI, make_sender: MakeSender
) -> None:
    a, b = await make_sender(), await make_sender()
    chats = users(fake, 3000, 20)
    fake.fail_next("sendMessage", retry_after=2)
    results, _ = await run([(a if n % 2 else b, c, NEWS) for n, c in enumerate(chats)], workers=16)
    floods = {c: r for c, r in results.items() if r.outcome is Outcome.FLOOD}
    assert len(floods) == 1, results
    [(flooded, result)] = floods.items()
    assert result.retry_after == 2.0
    assert sum(r.outcome is Outcome.SENT for r in results.values()) == 19
    assert fake.sent_per_chat[flooded] == 0  # not retried here: the engine reschedules it
    assert_no_violations(fake)
    [forced] = fake.flood_events("forced")
    assert all(t >= forced.at + 2.0 for t in arrivals(fake)), "a send reached Telegram during the pause"
    assert await a.pacer.paused_for() == 0 and await b.pacer.paused_for() == 0


async def test_telegram_answers_become_outcomes(fake: FakeBotAPI, make_sender: MakeSender) -> None:
    sender = await make_sender()
    blocked, deactivated, fine, refused, flaky = users(fake, 4000, 5)
    fake.blocked.add(blocked)
    fake.deactivated.add(deactivated)
    never_started = 4999  # a user who never opened the bot: "chat not found"

    async def send(chat: int) -> SendResult:
        return await sender.send_bulk(tg(chat), NEWS)

    assert (await send(blocked)).outcome is Outcome.BLOCKED
    assert (await send(deactivated)).outcome is Outcome.BLOCKED
    result = await send(never_started)
    assert result.outcome is Outcome.BLOCKED and "chat not found" in result.detail.lower()
    fake.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
    result = await send(refused)
    assert result.outcome is Outcome.FAILED and "too long" in result.detail
    fake.fail_next("sendMessage", status=502, times=4)  # outlasts the renderer's quick retries
    result = await send(flaky)
    assert result.outcome is Outcome.RETRY and "Bad Gateway" in result.detail
    assert (await send(fine)).outcome is Outcome.SENT
    result = await sender.send_bulk(Ref("wechat", "o-abc"), NEWS)
    assert result.outcome is Outcome.FAILED
    assert_no_violations(fake)


async def test_a_paid_broadcast_goes_fast_and_says_so_on_every_call(fake: FakeBotAPI, make_sender: MakeSender) -> None:
    sender = await make_sender()
    assert sender.limits(paid=True).per_second == 1000 and sender.limits(paid=False).per_second == 30
    assert sender.limits(paid=False).key == f"telegram:{TOKEN.split(':')[0]}"
    chats = users(fake, 5000, 300)
    results, took = await run([(sender, c, NEWS) for c in chats], workers=64, paid=True)
    assert {r.outcome for r in results.values()} == {Outcome.SENT}
    assert took < 2.0, f"{took:.2f} s: no faster than the free 30/s"
    assert_no_violations(fake)
    assert fake.paid_sent == 300
    assert all(p.get("allow_paid_broadcast") is True for p in fake.calls_of("sendMessage"))
    # a free send afterwards does not carry it
    [late] = users(fake, 5999, 1)
    await sender.send_bulk(tg(late), NEWS)
    assert "allow_paid_broadcast" not in fake.calls_of("sendMessage")[-1]


async def test_the_bulk_lane_has_its_own_bot_and_connections(
    fake: FakeBotAPI, make_sender: MakeSender, clock: FrozenClock
) -> None:
    sender = await make_sender(per_second=5)
    assert isinstance(sender.bot.request, PacedRequest) and sender.bot.request.inner is sender.transport
    chats = users(fake, 6000, 10)
    bulk = asyncio.ensure_future(run([(sender, c, NEWS) for c in chats], workers=10))
    await asyncio.sleep(0.3)  # the bulk lane is saturated: its calls wait for the bot's bucket (2 s of them)
    # an interactive reply on the channel's own Bot and transport, like TelegramChannel.renderer
    [ann] = users(fake, 6100, 1)
    async with telegram.Bot(TOKEN, base_url=fake.base_url, request=AiohttpRequest()) as interactive:
        renderer = Renderer(interactive, sender.renderer.codec, MemoryFileIds(), RenderConfig(), clock)
        start = time.monotonic()
        await renderer.send(ann, [TextReply("Here is your lesson")])
        latency = time.monotonic() - start
    assert latency < 0.3 and not bulk.done()
    results, _ = await bulk
    assert {r.outcome for r in results.values()} == {Outcome.SENT}
    assert_no_violations(fake)


async def test_bulk_beside_a_running_channel(app: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    """Wired as bot.py would: the channel answers a user at once while its bulk lane is busy."""
    async with telegram_app(app.settings, clock, kv, flood=FloodControl()) as h:
        channel = h.channel
        sender = TelegramBulkSender.from_config(
            channel.config, kv=kv, files=MemoryFileIds(), clock=clock, codec=channel.codec, per_second=10
        )
        await sender.start()
        try:
            assert sender.bot is not channel.bot and sender.transport is not channel.request
            assert sender.renderer.config.protect_content == channel.config.protect_content
            chats = users(h.fake, 7000, 15)
            bulk = asyncio.ensure_future(run([(sender, c, NEWS) for c in chats], workers=15))
            await asyncio.sleep(0.3)
            ann = h.user(7100)
            start = time.monotonic()
            out = await ann.say("/start")
            latency = time.monotonic() - start
            assert "Welcome" in text_of(out), h.fake.summary()
            assert latency < 1.0 and not bulk.done(), latency
            results, _ = await bulk
            assert {r.outcome for r in results.values()} == {Outcome.SENT}
            assert_no_violations(h.fake)
        finally:
            await sender.stop()
