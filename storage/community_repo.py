"""Community membership repository: who the messenger says is in which paid chat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.community import CommunityMember, MemberStatus
from storage import convert
from storage.tables import CommunityMemberRow

__all__ = ["SqlCommunity"]


def _member(row: CommunityMemberRow) -> CommunityMember:
    assert row.id is not None
    return CommunityMember(
        id=row.id,
        user_id=row.user_id,
        chat_id=row.chat_id,
        status=MemberStatus(row.status),
        joined_at=convert.utc_opt(row.joined_at),
        left_at=convert.utc_opt(row.left_at),
        reminded_days=row.reminded_days,
    )


class SqlCommunity:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def _row(self, user_id: int, chat_id: str) -> CommunityMemberRow | None:
        stmt = select(CommunityMemberRow).where(
            CommunityMemberRow.user_id == user_id,  # type: ignore[arg-type]
            CommunityMemberRow.chat_id == chat_id,  # type: ignore[arg-type]
        )
        return (await self.s.execute(stmt)).scalar_one_or_none()

    async def get(self, user_id: int, chat_id: str) -> CommunityMember | None:
        row = await self._row(user_id, chat_id)
        return _member(row) if row else None

    async def record(self, user_id: int, chat_id: str, status: MemberStatus, now: datetime) -> CommunityMember:
        at = convert.to_utc(now)
        row = await self._row(user_id, chat_id)
        if row is None:
            row = CommunityMemberRow(user_id=user_id, chat_id=chat_id, status=status.value, updated_at=at)
        if status is MemberStatus.MEMBER and row.status != MemberStatus.MEMBER.value:
            row.joined_at, row.left_at, row.reminded_days = at, None, None
        elif status is MemberStatus.MEMBER and row.joined_at is None:
            row.joined_at = at
        elif status is not MemberStatus.MEMBER and row.status == MemberStatus.MEMBER.value:
            row.left_at = at
        row.status, row.updated_at = status.value, at
        self.s.add(row)
        await self.s.flush()
        return _member(row)

    async def members(self, chat_id: str | None = None) -> list[CommunityMember]:
        stmt = select(CommunityMemberRow).where(CommunityMemberRow.status == MemberStatus.MEMBER.value)  # type: ignore[arg-type]
        if chat_id is not None:
            stmt = stmt.where(CommunityMemberRow.chat_id == chat_id)  # type: ignore[arg-type]
        rows = (await self.s.execute(stmt.order_by(CommunityMemberRow.id))).scalars().all()  # type: ignore[arg-type]
        return [_member(r) for r in rows]

    async def set_reminded(self, member_id: int, days: int | None) -> None:
        await self.s.execute(
            update(CommunityMemberRow).where(CommunityMemberRow.id == member_id).values(reminded_days=days)  # type: ignore[arg-type]
        )
