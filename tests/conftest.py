"""Shared fixtures: a real database (SQLite by default, PostgreSQL when
DATABASE_URL says so), the shared key-value store (Redis when REDIS_URL is
set, in-process otherwise), a frozen clock, and the console channel as a
test bot (errbot-style: push a line, read what the bot printed).

The schema is migrated once per session with the real Alembic migrations;
each test starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from support import TestBot

import bot
from core.clock import FrozenClock
from core.config import Settings
from core.ports import KeyValueStore
from storage.db import Database
from storage.kv import make_kv_store
from storage.tables import metadata

ROOT = Path(__file__).resolve().parents[1]
DEMO_CATALOG = ROOT / "examples" / "catalog"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai


def _db_url(tmp_root: Path) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_root / 'test.db'}"


def is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgresql")


requires_postgres = pytest.mark.skipif(not is_postgres(), reason="DATABASE_URL does not point at PostgreSQL")
requires_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL not set")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate a fresh schema once per session with the real Alembic migrations."""
    url = _db_url(tmp_path_factory.mktemp("db"))

    async def setup() -> None:
        if url.startswith("postgresql"):
            engine = create_async_engine(url)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()
        db = Database(url)
        await db.upgrade()
        await db.dispose()

    asyncio.run(setup())
    yield url


async def _empty_tables(db: Database) -> None:
    names = [t.name for t in metadata.sorted_tables]
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            for name in reversed(names):
                await conn.execute(text(f"DELETE FROM {name}"))
        else:
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
async def kv() -> AsyncIterator[KeyValueStore]:
    ns = f"test-{uuid.uuid4().hex[:10]}:"
    store = make_kv_store(os.environ.get("REDIS_URL"), namespace=ns)
    yield store
    if os.environ.get("REDIS_URL"):
        import redis.asyncio as aioredis

        client = aioredis.from_url(os.environ["REDIS_URL"])
        keys = [k async for k in client.scan_iter(match=f"{ns}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    await store.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        media_dir=tmp_path / "media",
        admins="",
    )


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock, kv: KeyValueStore) -> AsyncIterator[bot.App]:
    application = bot.build_app(settings, clock=clock, kv=kv)
    await _empty_tables(application.db)
    yield application
    await application.db.dispose()


@pytest.fixture
async def demo(app: bot.App) -> bot.App:
    """The app with the shipped demo catalog imported."""
    await bot.import_path(app, DEMO_CATALOG)
    return app


@pytest.fixture
def testbot(demo: bot.App) -> TestBot:
    return TestBot(demo)
