"""The database: async engine, sessions, migrations and readiness.

SQLite (aiosqlite) is the embedded default and runs in WAL mode with a busy
timeout so the web, scheduler and console can share one file; PostgreSQL
(asyncpg) is chosen through ``DATABASE_URL``. Migrations are Alembic's,
run programmatically over the async engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.errors import Conflict

__all__ = ["Database", "alembic_config"]

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def _busy_is_conflict(context: ExceptionContext) -> None:
    """SQLite refuses a second writer with "database is locked" (at once, when a read transaction
    would have to upgrade past a newer commit). That is a lost race, not a fault: report it as
    :class:`core.errors.Conflict`, which the dispatcher answers by running the event again."""
    if "database is locked" in str(context.original_exception):
        raise Conflict("SQLite is busy with another writer") from context.original_exception


class Database:
    """Owns the engine; hands out sessions; applies and checks migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            # Every unit of work ends in COMMIT or ROLLBACK, so the pool's extra ROLLBACK on
            # return is a wasted driver round trip (aiosqlite: a thread hop) on every event.
            kwargs.update(pool_reset_on_return=None)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "handle_error", _busy_is_conflict)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    async def upgrade(self) -> None:
        """Apply every pending Alembic migration (idempotent)."""
        cfg = alembic_config()

        def _run(conn: Connection) -> None:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        async with self.engine.begin() as conn:
            await conn.run_sync(_run)

    async def revision_status(self) -> tuple[str | None, str | None]:
        """(current revision in the database, head revision in the code)."""
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()

        def _current(conn: Connection) -> str | None:
            return MigrationContext.configure(conn).get_current_revision()

        async with self.engine.connect() as conn:
            current = await conn.run_sync(_current)
        return current, head

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
