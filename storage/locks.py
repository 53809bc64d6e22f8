"""Reading one row to change it: ``SELECT … FOR UPDATE`` on PostgreSQL, the write lock on SQLite.

SQLite ignores FOR UPDATE, and Python's sqlite3 runs SELECTs outside the
transaction until the first write. A no-op UPDATE begins the transaction and
takes the database write lock first, so the read below sees the latest commit
and no other writer can change the row before we commit.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["one_row"]

R = TypeVar("R")


async def one_row(session: AsyncSession, table: type[R], *where: Any, for_update: bool) -> R | None:
    stmt = select(table).where(*where)
    if for_update:
        if session.get_bind().dialect.name == "sqlite":
            key = table.id  # type: ignore[attr-defined]
            await session.execute(update(table).where(*where).values(id=key))
        else:
            stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
