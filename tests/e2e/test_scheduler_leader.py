"""Two `bot.py run --role scheduler` processes on one PostgreSQL database and one Redis, as an operator
would run them for redundancy: exactly one leads and fires the jobs; when it stops, the other takes over.

The job watched is the analytics catch-up, which every new leader runs once at start: the learner
below has been around since March, so the first run rolls up every day since; a second one (or two
at once) would roll up again or race. It must happen once, in one process, across the hand-over.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from conftest import requires_postgres, requires_redis
from support import new_user

import bot

ROOT = Path(__file__).resolve().parents[2]
LEADS = "this process is the leader"
STANDBY = "scheduler on standby"
ROLLED_UP = "analytics: rolled up"

pytestmark = [requires_postgres, requires_redis]


class Process:
    """A scheduler process whose log (stderr) is collected line by line as it runs."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc, self.name = proc, name
        self.lines: list[str] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines)

    async def wait_for(self, text: str, timeout: float) -> float:
        start = time.monotonic()
        while not self.count(text):
            if time.monotonic() - start > timeout:
                pytest.fail(f"{self.name} did not log {text!r} within {timeout} s:\n" + "\n".join(self.lines[-40:]))
            await asyncio.sleep(0.1)
        return time.monotonic() - start

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout=20)
        await self.reader
        return code


async def start(app: bot.App, tmp_path: Path, name: str) -> Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WECHAT_"))}
    env.update(
        DATABASE_URL=app.settings.database_url,
        REDIS_URL=app.settings.redis_url or "",
        MEDIA_DIR=str(tmp_path / "media"),
        LOG_LEVEL="INFO",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "run",
        "--role",
        "scheduler",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    return Process(proc, name)


async def test_two_schedulers_one_leader_and_a_take_over(app: bot.App, tmp_path: Path) -> None:
    await new_user(app, "learner")  # created on the test clock's March 2, 2026: days to roll up since
    key = "ks:lock:leader:scheduler:" + hashlib.sha256(app.settings.database_url.encode()).hexdigest()[:16]
    redis = aioredis.from_url(app.settings.redis_url or "")
    await redis.delete(key, "ks:lock:job:analytics")  # locks left by earlier, killed runs would delay the test
    a = await start(app, tmp_path, "a")
    b: Process | None = None
    try:
        await a.wait_for(LEADS, timeout=30)
        b = await start(app, tmp_path, "b")
        await b.wait_for(STANDBY, timeout=30)
        await a.wait_for(ROLLED_UP, timeout=30)
        await asyncio.sleep(6)  # more than one renewal period (5 s): the leader keeps the lead
        assert a.count(LEADS) == 1 and b.count(LEADS) == 0
        assert a.count(ROLLED_UP) == 1 and b.count(ROLLED_UP) == 0
        assert a.count('Running job "analytics-catch-up') == 1 and b.count("Running job") == 0

        assert await a.stop() == 0  # a clean stop releases the lock ...
        waited = await b.wait_for(LEADS, timeout=25)  # ... and the standby takes over
        await b.wait_for('Job "analytics-catch-up', timeout=10)  # the new leader's catch-up ran ...
        assert b.count(ROLLED_UP) == 0  # ... and found every day already rolled up: the job fired once
        assert waited < 10  # released, not left to expire (that takes the 15 s ttl)
    finally:
        for p in (a, b):
            if p is not None and p.proc.returncode is None:
                try:
                    await p.stop()
                except TimeoutError:
                    p.proc.kill()
                    await p.proc.wait()
        await redis.delete(key)
        await redis.aclose()
    assert b is not None and b.proc.returncode == 0
    assert not [line for line in a.lines + b.lines if "Traceback" in line or " ERROR " in line]
