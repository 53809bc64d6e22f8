"""SQLite's single writer: a lost race surfaces as core.errors.Conflict (which the dispatcher retries)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from core.errors import Conflict
from storage.db import Database


async def test_a_locked_database_is_a_conflict_not_a_crash(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        writer, loser = db.sessions(), db.sessions()
        await loser.execute(text("PRAGMA busy_timeout = 50"))
        await writer.execute(text("UPDATE t SET x = 2"))  # holds the write lock until it commits
        with pytest.raises(Conflict):
            await loser.execute(text("UPDATE t SET x = 3"))
        await writer.commit()
        await loser.rollback()
        await loser.execute(text("UPDATE t SET x = 3"))  # the retry goes through
        await loser.commit()
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM t"))).scalar_one() == 3
        await writer.close()
        await loser.close()
    finally:
        await db.dispose()
