"""/healthz and /readyz over real HTTP, and `bot.py run` as a real process."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

import bot
from bots.web import build_web_app
from core.config import Settings
from storage.kv import make_kv_store

ROOT = Path(__file__).resolve().parents[3]


async def client_for(app: bot.App) -> TestClient:
    client = TestClient(TestServer(build_web_app(bot.readiness_probe(app))))
    await client.start_server()
    return client


async def test_healthz_and_readyz_when_everything_is_up(app: bot.App) -> None:
    client = await client_for(app)
    try:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"
        ready = await client.get("/readyz")
        body = await ready.json()
        assert ready.status == 200, body
        assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    finally:
        await client.close()


async def test_readyz_is_503_before_migrations(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")  # type: ignore[call-arg]
    app = bot.build_app(settings)
    client = await client_for(app)
    try:
        ready = await client.get("/readyz")
        body = await ready.json()
        assert ready.status == 503 and body["checks"]["database"]["ok"] is False
        await app.db.upgrade()
        assert (await client.get("/readyz")).status == 200
    finally:
        await client.close()
        await app.close()


async def test_readyz_is_503_when_redis_is_down(app: bot.App) -> None:
    broken = dataclasses.replace(app, kv=make_kv_store("redis://127.0.0.1:1/0"))
    client = TestClient(TestServer(build_web_app(bot.readiness_probe(broken))))
    await client.start_server()
    try:
        ready = await client.get("/readyz")
        body = await ready.json()
        assert ready.status == 503 and body["checks"]["redis"]["ok"] is False and body["checks"]["database"]["ok"]
    finally:
        await client.close()
        await broken.kv.close()


async def test_oversized_bodies_are_refused(app: bot.App) -> None:
    client = await client_for(app)
    try:
        response = await client.post("/healthz", data=b"x" * (2 * 1024 * 1024))
        assert response.status in (405, 413)
    finally:
        await client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_run_serves_http_and_stops_cleanly_on_sigterm(app: bot.App, tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=app.settings.database_url, HTTP_PORT=str(port), MEDIA_DIR=str(tmp_path / "m"))
    if app.settings.redis_url:
        env["REDIS_URL"] = app.settings.redis_url
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bot.py"), "run"], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        status = 0
        while time.monotonic() < deadline:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200
        status, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "scheduler started" in log and "shutting down" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
