"""Entitlement and progress repositories: who may open what, and how far they got."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalog import Lesson
from core.entitlements import Entitlement
from core.progress import Progress
from storage import convert
from storage.tables import EntitlementRow, ProgressRow
from storage.upsert import insert_for

__all__ = ["SqlEntitlements", "SqlProgress"]


class SqlEntitlements:
    """Entitlements; ``for_user`` is memoized for the life of the unit of work (one transaction),
    because a single event asks for it several times, and any write here clears the memo."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session
        self._memo: dict[int, list[Entitlement]] = {}

    async def add(
        self,
        *,
        user_id: int,
        course_id: int | None,
        plan_id: int | None,
        order_id: int | None,
        starts_at: datetime,
        expires_at: datetime | None,
    ) -> Entitlement:
        self._memo.clear()
        row = EntitlementRow(
            user_id=user_id,
            course_id=course_id,
            plan_id=plan_id,
            order_id=order_id,
            starts_at=convert.to_utc(starts_at),
            expires_at=expires_at and convert.to_utc(expires_at),
        )
        self.s.add(row)
        await self.s.flush()
        return convert.entitlement(row)

    async def for_user(self, user_id: int) -> list[Entitlement]:
        if user_id in self._memo:
            return list(self._memo[user_id])
        rows = (
            (
                await self.s.execute(
                    select(EntitlementRow)
                    .where(EntitlementRow.user_id == user_id, EntitlementRow.revoked_at.is_(None))  # type: ignore[union-attr]
                    .order_by(EntitlementRow.id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        return [convert.entitlement(r) for r in rows]

    async def revoke_for_order(self, order_id: int, at: datetime) -> int:
        result = await self.s.execute(
            update(EntitlementRow)
            .where(EntitlementRow.order_id == order_id, EntitlementRow.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(revoked_at=convert.to_utc(at))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class SqlProgress:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def for_course(self, user_id: int, course_id: int) -> dict[int, Progress]:
        rows = (
            (
                await self.s.execute(
                    select(ProgressRow).where(ProgressRow.user_id == user_id, ProgressRow.course_id == course_id)
                )
            )
            .scalars()
            .all()
        )
        return {
            r.lesson_id: Progress(
                r.user_id, r.lesson_id, r.course_id, convert.utc_opt(r.delivered_at), convert.utc_opt(r.completed_at)
            )
            for r in rows
        }

    async def mark_delivered(self, user_id: int, lesson: Lesson, at: datetime) -> None:
        at = convert.to_utc(at)
        stmt = insert_for(self.s, ProgressRow).values(
            user_id=user_id, lesson_id=lesson.id, course_id=lesson.course_id, delivered_at=at, last_at=at
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "lesson_id"],
            set_={"delivered_at": func.coalesce(ProgressRow.delivered_at, at), "last_at": at},
        )
        await self.s.execute(stmt)

    async def mark_completed(self, user_id: int, lesson: Lesson, at: datetime) -> bool:
        at = convert.to_utc(at)
        existing = await self.s.get(ProgressRow, (user_id, lesson.id))
        if existing is not None and existing.completed_at is not None:
            return False
        stmt = insert_for(self.s, ProgressRow).values(
            user_id=user_id,
            lesson_id=lesson.id,
            course_id=lesson.course_id,
            delivered_at=at,
            completed_at=at,
            last_at=at,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["user_id", "lesson_id"],
            set_={"completed_at": func.coalesce(ProgressRow.completed_at, at), "last_at": at},
        )
        await self.s.execute(stmt)
        return True

    async def course_activity(self, user_id: int) -> list[tuple[int, int]]:
        rows = (
            await self.s.execute(
                select(ProgressRow.course_id, func.count(ProgressRow.completed_at))
                .where(ProgressRow.user_id == user_id)
                .group_by(ProgressRow.course_id)
                .order_by(func.max(ProgressRow.last_at).desc())
            )
        ).all()
        return [(int(c), int(n)) for c, n in rows]
