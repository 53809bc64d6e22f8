"""Messenger file ids for media we uploaded once (Telegram ``file_id``s, per bot).

A lesson's video is uploaded the first time it is sent; afterwards the
adapter re-sends it by the id the messenger gave back, which is instant and
costs no bandwidth. The ids live in the database (they survive restarts and
are shared by every process) with a small in-process memo in front.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import convert
from storage.tables import MediaFileRow
from storage.upsert import insert_for

__all__ = ["SqlFileIds"]


class SqlFileIds:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, memo_size: int = 4096) -> None:
        self._sessions = sessions
        self._memo: dict[tuple[str, str, str], str] = {}
        self._memo_size = memo_size

    async def get(self, sender: str, sha256: str, kind: str) -> str | None:
        key = (sender, sha256, kind)
        if key in self._memo:
            return self._memo[key]
        async with self._sessions() as s:
            stmt = select(MediaFileRow.file_id).where(
                MediaFileRow.sender == sender,  # type: ignore[arg-type]
                MediaFileRow.sha256 == sha256,  # type: ignore[arg-type]
                MediaFileRow.kind == kind,  # type: ignore[arg-type]
            )
            file_id = (await s.execute(stmt)).scalar_one_or_none()
        if file_id is not None:
            self._remember(key, file_id)
        return file_id

    async def put(self, sender: str, sha256: str, kind: str, file_id: str, now: datetime) -> None:
        async with self._sessions() as s:
            stmt = insert_for(s, MediaFileRow).values(
                sender=sender, sha256=sha256, kind=kind, file_id=file_id, created_at=convert.to_utc(now)
            )
            stmt = stmt.on_conflict_do_update(index_elements=["sender", "sha256", "kind"], set_={"file_id": file_id})
            await s.execute(stmt)
            await s.commit()
        self._remember((sender, sha256, kind), file_id)

    async def forget(self, sender: str, sha256: str, kind: str) -> None:
        """Drop an id the messenger no longer accepts (the next send uploads again)."""
        self._memo.pop((sender, sha256, kind), None)
        async with self._sessions() as s:
            row = await s.get(MediaFileRow, (sender, sha256, kind))
            if row is not None:
                await s.delete(row)
                await s.commit()

    def _remember(self, key: tuple[str, str, str], file_id: str) -> None:
        if len(self._memo) >= self._memo_size:
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = file_id
