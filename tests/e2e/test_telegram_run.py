"""`bot.py run` as an operator starts it: a real process serving Telegram (polling or webhook)
against the fake Bot API, answering a user, stopping cleanly on SIGTERM, and never logging secrets."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest
from fakes.telegram_api import FakeBotAPI
from telegram_support import SECRET, TOKEN, free_port

import bot

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_run_serves_telegram_and_stops_on_sigterm(app: bot.App, tmp_path: Path, webhook: bool) -> None:
    # A fresh bot id: the bot's update dedup keys live in the shared Redis, and the fake numbers updates from 100001.
    fake = FakeBotAPI(token=TOKEN, bot_id=random.randint(10**6, 10**9))
    await fake.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")}
    env.update(
        DATABASE_URL=app.settings.database_url,
        HTTP_PORT=str(port),
        MEDIA_DIR=str(tmp_path / "m"),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=fake.base_url,
        LOG_LEVEL="INFO",
    )
    if webhook:
        env.update(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", TELEGRAM_WEBHOOK_SECRET=SECRET)
    if app.settings.redis_url:
        env["REDIS_URL"] = app.settings.redis_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bot.py"), "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    try:
        await fake.wait_for(lambda: bool(fake.calls_of("setMyCommands")), timeout=30)
        if webhook:
            await fake.wait_for(lambda: fake.webhook is not None, timeout=10)
            assert fake.webhook is not None and fake.webhook["url"].endswith("/telegram/webhook")
        else:
            await fake.wait_for(lambda: bool(fake.calls_of("getUpdates")), timeout=10)
        fake.add_user(4242, first_name="Op", language_code="zh")
        await fake.send_text(4242, "/start")
        await fake.wait_for(lambda: bool(fake.texts_to(4242)), timeout=20)
        assert "欢迎" in fake.texts_to(4242)[0]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
        assert proc.stderr is not None
        log = (await proc.stderr.read()).decode()
        assert "Telegram: @" in log and "shutting down" in log
        assert TOKEN not in log and TOKEN.split(":")[1] not in log  # the token never reaches the log
        assert SECRET not in log
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()
