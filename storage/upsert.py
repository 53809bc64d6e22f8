"""Dialect-aware INSERT … ON CONFLICT, so uniqueness is enforced by the database.

Why: idempotency (one payment per charge, one progress row per lesson) must
hold across processes, which only a unique constraint can promise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_for"]


def insert_for(session: AsyncSession, table: Any) -> Any:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
