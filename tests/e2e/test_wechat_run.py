"""`bot.py run` with WeChat configured: a real process answers a signed message at /wechat, accepts a
WeChat Pay notify, stops cleanly on SIGTERM, and never logs its secrets."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from fakes.wechat_mp import FakeMP
from wechat_support import APP_ID, APP_SECRET, MCH_ID, PAY_KEY, TOKEN, free_port, sign

import bot

ROOT = Path(__file__).resolve().parents[2]


async def test_run_serves_wechat_and_stops_on_sigterm(app: bot.App, tmp_path: Path) -> None:
    mp = FakeMP(app_id=APP_ID, app_secret=APP_SECRET)
    await mp.start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL")}
    env.update(
        DATABASE_URL=app.settings.database_url,
        HTTP_PORT=str(port),
        MEDIA_DIR=str(tmp_path / "m"),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        WECHAT_APP_ID=APP_ID,
        WECHAT_APP_SECRET=APP_SECRET,
        WECHAT_TOKEN=TOKEN,
        WECHAT_API_URL=mp.base_url,
        WECHAT_PAY_MCH_ID=MCH_ID,
        WECHAT_PAY_API_KEY=PAY_KEY,
        WECHAT_PAY_API_URL=mp.base_url,
        LOG_LEVEL="INFO",
    )
    if app.settings.redis_url:
        env["REDIS_URL"] = app.settings.redis_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bot.py"), "run", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "the server never became ready"
                await asyncio.sleep(0.2)
            ts = str(int(time.time()))
            # Fresh ids: the process's dedup keys live in the shared Redis, with no per-test namespace.
            msg_id, openid = random.randint(10**9, 10**15), f"oRun_{random.randint(10**9, 10**12)}"
            query = {"signature": sign(TOKEN, ts, "n1"), "timestamp": ts, "nonce": "n1"}
            xml = (
                f"<xml><ToUserName>gh_0123456789ab</ToUserName><FromUserName>{openid}</FromUserName><CreateTime>{ts}"
                f"</CreateTime><MsgType>text</MsgType><Content>/start</Content><MsgId>{msg_id}</MsgId></xml>"
            )
            async with http.post(f"{base}/wechat", params=query, data=xml.encode()) as resp:
                answer = await resp.text()
            assert resp.status == 200 and "<xml>" in answer and "回复 1" in answer
            async with http.post(f"{base}/wechat/pay/notify", data=b"<xml><sign>x</sign></xml>") as resp:
                assert "FAIL" in await resp.text()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
        assert proc.stderr is not None
        log = (await proc.stderr.read()).decode()
        assert "shutting down" in log
        for secret in (APP_SECRET, TOKEN, PAY_KEY):
            assert secret not in log
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await mp.stop()


def test_wechat_needs_its_secret_and_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(WECHAT_APP_ID=APP_ID, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "WECHAT_APP_SECRET" in done.stderr


@pytest.mark.parametrize("value", ["wx123", "abc0123456789abcdef"])
def test_a_malformed_app_id_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env.update(WECHAT_APP_ID=value, WECHAT_APP_SECRET="x" * 32, WECHAT_TOKEN="tok123")
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "WECHAT_APP_ID" in done.stderr
