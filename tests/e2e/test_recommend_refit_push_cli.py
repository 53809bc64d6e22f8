"""``python bot.py recommend --refit`` and ``--push-now`` as an operator runs them: real subprocesses, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from recommend_support import buy
from support import new_user

import bot

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot.py"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BOT), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


@pytest.fixture
def env(demo: bot.App, tmp_path: Path) -> dict[str, str]:
    """The subprocess talks to the same test database as ``demo`` (the demo catalog imported)."""
    e = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ADMINS")}
    e.update(DATABASE_URL=demo.settings.database_url, MEDIA_DIR=str(tmp_path / "media"), LANG="C.UTF-8")
    if demo.settings.redis_url:
        e["REDIS_URL"] = demo.settings.redis_url
    return e


async def test_refit_then_push_now_once_a_week(demo: bot.App, env: dict[str, str]) -> None:
    await buy(demo, await new_user(demo, "ann"), "python-basics")
    refit = run(["recommend", "--refit"], env)
    assert refit.returncode == 0, refit.stderr
    assert (
        refit.stdout.startswith("refit ")
        and ": 1 learners, 5 recommendations from 1 signals on 6 courses" in refit.stdout
    )
    first = run(["recommend", "--push-now", "--at-once"], env)
    assert first.returncode == 0, first.stderr
    assert "recommendation push: 1 messages queued; the workers send them now" in first.stdout
    again = run(["recommend", "--push-now"], env)
    assert "recommendation push: 0 messages queued" in again.stdout  # one push per learner and week
    both = run(["recommend", "--refit", "--push-now"], env)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
