"""Exactly-once delivery across a kill -9: a real `bot.py run` process broadcasts through the fake Bot API
(with Telegram's flood control), is killed mid-broadcast, restarted, and finishes. Every recipient gets the
message; only the one send in flight at the kill may arrive twice; nothing breaks the flood limits."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes.telegram_api import FakeBotAPI
from fakes.telegram_flood import FloodControl
from telegram_support import TOKEN, free_port

import bot
from core.accounts import ensure_user
from core.delivery import CampaignKind, CampaignStatus, DeliveryStatus, NewDelivery
from core.events import Sender
from core.replies import TextReply
from core.users import Ref

ROOT = Path(__file__).resolve().parents[2]
N = 150


async def _start(
    app: bot.App, fake: FakeBotAPI, tmp_path: Path, *, role: str = "all", concurrency: int = 1, rate: float = 30
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")}
    env.update(
        DATABASE_URL=app.settings.database_url,
        HTTP_PORT=str(free_port()),
        MEDIA_DIR=str(tmp_path / "m"),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=fake.base_url,
        DELIVERY_CONCURRENCY=str(concurrency),  # 1: one send in flight, so the kill may repeat at most one
        DELIVERY_BATCH="20",
        DELIVERY_LEASE_SECONDS="5",
        TELEGRAM_BULK_RATE=str(rate),
        LOG_LEVEL="WARNING",
    )
    if app.settings.redis_url:
        env["REDIS_URL"] = app.settings.redis_url
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "run",
        "--role",
        role,
        env=env,
        cwd=tmp_path,
        stderr=(tmp_path / "log").open("ab"),
    )


async def _wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _broadcast(app: bot.App, fake: FakeBotAPI) -> int:
    """A running campaign to N Telegram users, its rows recorded; returns its id."""
    now = datetime.now(UTC)
    async with app.uow() as uow:
        campaign = await uow.deliveries.create_campaign(
            kind=CampaignKind.BROADCAST,
            creator_id=None,
            audience="all",
            channel="telegram",
            replies=[TextReply("A new course is out!")],
            paid=False,
            now=now,
            status=CampaignStatus.RUNNING,
        )
        rows = []
        for i in range(N):
            chat = 5_000_000 + i
            fake.add_user(chat, first_name=f"u{i}", language_code="en")
            user, _ = await ensure_user(uow, Sender(Ref("telegram", str(chat))), now=now, timezone="UTC")
            rows.append(
                NewDelivery(f"b:{campaign.id}:{user.id}", Ref("telegram", str(chat)), user.id, now, campaign.id)
            )
        await uow.deliveries.add(rows)
        await uow.commit()
    return campaign.id


async def _finished(app: bot.App, campaign_id: int) -> None:
    async with app.uow() as uow:
        progress = await uow.deliveries.progress(campaign_id)
        final = await uow.deliveries.get_campaign(campaign_id)
    assert progress == {DeliveryStatus.SENT: N}
    assert final is not None and final.status is CampaignStatus.DONE


async def test_kill_9_mid_broadcast_then_restart_sends_each_message_once(app: bot.App, tmp_path: Path) -> None:
    fake = FakeBotAPI(token=TOKEN, bot_id=random.randint(10**6, 10**9), flood=FloodControl(global_per_s=30))
    await fake.start()
    campaign_id = await _broadcast(app, fake)
    proc = await _start(app, fake, tmp_path, rate=25)
    try:
        await _wait(lambda: fake.sent_count >= N // 3, timeout=60)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        at_kill = fake.sent_count
        assert at_kill < N, "the broadcast finished before the kill: nothing was tested"
        proc = await _start(app, fake, tmp_path, rate=25)
        await _wait(lambda: len(fake.sent_per_chat) >= N, timeout=90)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
    counts = fake.sent_per_chat
    assert len(counts) == N  # nothing lost
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= 1, f"{duplicates} messages were sent twice"  # only the one in flight at the kill
    assert fake.flood_violations == 0
    await _finished(app, campaign_id)


async def test_two_worker_processes_share_the_work_and_the_rate_limit(app: bot.App, tmp_path: Path) -> None:
    if not (app.settings.database_url.startswith("postgresql") and app.settings.redis_url):
        pytest.skip("two worker processes need PostgreSQL and Redis (set DATABASE_URL and REDIS_URL)")
    fake = FakeBotAPI(token=TOKEN, bot_id=random.randint(10**6, 10**9), flood=FloodControl(global_per_s=30))
    await fake.start()
    campaign_id = await _broadcast(app, fake)
    # 25/s each would be 50/s together if they didn't share the limit; sharing it, they stay under the fake's 30/s
    # with room for a loaded CI machine's scheduling delays (the slack at 29.4/s is only ~20 ms per send).
    workers = [await _start(app, fake, tmp_path, role="worker", concurrency=8, rate=25) for _ in range(2)]
    started = time.monotonic()
    try:
        await _wait(lambda: len(fake.sent_per_chat) >= N, timeout=90)
        elapsed = time.monotonic() - started
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            assert await asyncio.wait_for(w.wait(), timeout=30) == 0
    finally:
        for w in workers:
            if w.returncode is None:
                w.kill()
                await w.wait()
        await fake.stop()
    assert sum(fake.sent_per_chat.values()) == N  # no duplicates between the two workers
    assert fake.flood_violations == 0  # their combined rate kept within 30/s
    assert elapsed >= N / 25 - 1  # one shared schedule, not two
    await _finished(app, campaign_id)
