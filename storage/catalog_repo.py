"""Catalog repository: courses, lessons, media and plans, upserted by slug."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalog import Course, Lesson, Plan
from core.course_spec import CourseSpec, PlanSpec
from storage import convert
from storage.catalog_cache import CatalogCache
from storage.tables import CourseRow, EntitlementRow, LessonMediaRow, LessonRow, PlanCourseRow, PlanRow

__all__ = ["SqlCatalog"]

_counts = (
    select(
        LessonRow.course_id.label("course_id"),  # type: ignore[attr-defined]
        func.count().label("n"),
        func.sum(case((LessonRow.free == True, 1), else_=0)).label("free"),
    )
    .where(LessonRow.archived == False)
    .group_by(LessonRow.course_id)
    .subquery()
)


class SqlCatalog:
    def __init__(self, session: AsyncSession, cache: CatalogCache | None = None) -> None:
        self.s = session
        self.cache = cache
        self.changed = False  # set by upserts; the unit of work invalidates the cache after commit

    async def _courses(self, *where: object) -> list[Course]:
        stmt = (
            select(CourseRow, _counts.c.n, _counts.c.free)
            .outerjoin(_counts, _counts.c.course_id == CourseRow.id)
            .where(*where)  # type: ignore[arg-type]
            .order_by(CourseRow.id)
        )
        rows = (await self.s.execute(stmt)).all()
        return [convert.course(row, int(n or 0), int(free or 0)) for row, n, free in rows]

    async def list_courses(self, *, published_only: bool = True) -> list[Course]:
        if not published_only:
            return await self._courses()
        if self.cache is None or self.changed:
            return await self._courses(CourseRow.published == True)
        cached = self.cache.get()
        if cached is not None:
            return cached
        stale = self.cache.stale()
        if stale is not None:
            return stale  # another reader is reloading it
        generation = self.cache.generation
        courses = await self._courses(CourseRow.published == True)
        self.cache.put(courses, generation)
        return courses

    def _cached_published(self) -> list[Course]:
        """The cached published courses (empty when the cache is cold, off, or this unit of work changed them)."""
        if self.cache is None or self.changed:
            return []
        return self.cache.get() or []

    async def get_course(self, slug: str) -> Course | None:
        hit = next((c for c in self._cached_published() if c.slug == slug), None)
        if hit is not None:
            return hit
        found = await self._courses(CourseRow.slug == slug)  # unpublished, or the cache is cold
        return found[0] if found else None

    async def get_course_by_id(self, course_id: int) -> Course | None:
        hit = next((c for c in self._cached_published() if c.id == course_id), None)
        if hit is not None:
            return hit
        found = await self._courses(CourseRow.id == course_id)
        return found[0] if found else None

    async def lessons(self, course_id: int) -> list[Lesson]:
        """A course's live lessons in order, with their media (cached like the course list)."""
        if self.cache is None or self.changed:
            return await self._load_lessons(course_id)
        cached = self.cache.get_lessons(course_id)
        if cached is not None:
            return cached
        generation = self.cache.generation
        lessons = await self._load_lessons(course_id)
        self.cache.put_lessons(course_id, lessons, generation)
        return lessons

    async def _load_lessons(self, course_id: int) -> list[Lesson]:
        rows = (
            (
                await self.s.execute(
                    select(LessonRow)
                    .where(LessonRow.course_id == course_id, LessonRow.archived == False)
                    .order_by(LessonRow.position, LessonRow.id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return []
        media = await self._media([r.id for r in rows if r.id is not None])
        return [convert.lesson(r, media.get(r.id or 0)) for r in rows]

    async def _media(self, lesson_ids: list[int]) -> dict[int, list[LessonMediaRow]]:
        rows = (
            (
                await self.s.execute(
                    select(LessonMediaRow)
                    .where(LessonMediaRow.lesson_id.in_(lesson_ids))  # type: ignore[attr-defined]
                    .order_by(LessonMediaRow.lesson_id, LessonMediaRow.position)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        out: dict[int, list[LessonMediaRow]] = {}
        for m in rows:
            out.setdefault(m.lesson_id, []).append(m)
        return out

    async def get_lesson(self, lesson_id: int) -> Lesson | None:
        row = await self.s.get(LessonRow, lesson_id)
        if row is None or row.archived:
            return None
        media = await self._media([lesson_id])
        return convert.lesson(row, media.get(lesson_id))

    async def _plans(self, *where: object) -> list[Plan]:
        rows = (await self.s.execute(select(PlanRow).where(*where).order_by(PlanRow.id))).scalars().all()  # type: ignore[arg-type]
        if not rows:
            return []
        links = (
            (
                await self.s.execute(
                    select(PlanCourseRow).where(PlanCourseRow.plan_id.in_([r.id for r in rows]))  # type: ignore[attr-defined]
                )
            )
            .scalars()
            .all()
        )
        by_plan: dict[int, set[int]] = {}
        for link in links:
            by_plan.setdefault(link.plan_id, set()).add(link.course_id)
        return [convert.plan(r, frozenset(by_plan.get(r.id or 0, ()))) for r in rows]

    async def list_plans(self, *, published_only: bool = True) -> list[Plan]:
        return await self._plans(*([PlanRow.published == True] if published_only else []))

    async def get_plan(self, slug: str) -> Plan | None:
        found = await self._plans(PlanRow.slug == slug)
        return found[0] if found else None

    async def get_plan_by_id(self, plan_id: int) -> Plan | None:
        found = await self._plans(PlanRow.id == plan_id)
        return found[0] if found else None

    async def upsert_course(self, spec: CourseSpec, media_paths: dict[str, str], now: datetime) -> bool:
        self.changed = True
        now = convert.to_utc(now)
        row = (await self.s.execute(select(CourseRow).where(CourseRow.slug == spec.slug))).scalar_one_or_none()
        created = row is None
        if row is None:
            row = CourseRow(slug=spec.slug, title=spec.title, language=spec.language, created_at=now, updated_at=now)
        fiat = spec.price.fiat
        row.title, row.summary, row.description = spec.title, spec.summary, spec.description
        row.category, row.tags, row.language = spec.category, list(spec.tags), spec.language
        row.price_amount = fiat.amount if fiat else None
        row.price_currency = fiat.currency if fiat else None
        row.price_stars = spec.price.stars
        row.drip_mode, row.drip_hour = spec.drip_mode.value, spec.drip_hour
        row.cover_path = media_paths[spec.cover.sha256] if spec.cover else None
        row.published, row.updated_at = spec.published, now
        row.creator = spec.creator
        self.s.add(row)
        await self.s.flush()
        assert row.id is not None
        existing = {
            r.slug: r
            for r in (await self.s.execute(select(LessonRow).where(LessonRow.course_id == row.id))).scalars().all()
        }
        keep: set[str] = set()
        for ls in spec.lessons:
            lrow = existing.get(ls.slug) or LessonRow(course_id=row.id, slug=ls.slug, title=ls.title, updated_at=now)
            lrow.position, lrow.title, lrow.free, lrow.body = ls.position, ls.title, ls.free, ls.body
            lrow.archived, lrow.updated_at = False, now
            self.s.add(lrow)
            await self.s.flush()
            keep.add(ls.slug)
            await self.s.execute(delete(LessonMediaRow).where(LessonMediaRow.lesson_id == lrow.id))  # type: ignore[arg-type]
            for i, m in enumerate(ls.media):
                assert lrow.id is not None
                self.s.add(
                    LessonMediaRow(
                        lesson_id=lrow.id,
                        position=i,
                        kind=m.kind.value,
                        path=media_paths[m.sha256],
                        sha256=m.sha256,
                        caption=m.caption,
                    )
                )
        # Lessons gone from the folder are archived, not deleted: learners' progress keeps its history.
        for slug, lrow in existing.items():
            if slug not in keep and not lrow.archived:
                lrow.archived, lrow.updated_at = True, now
                self.s.add(lrow)
        await self.s.flush()
        return created

    async def upsert_plan(self, spec: PlanSpec, now: datetime) -> bool:
        self.changed = True
        now = convert.to_utc(now)
        row = (await self.s.execute(select(PlanRow).where(PlanRow.slug == spec.slug))).scalar_one_or_none()
        created = row is None
        if row is None:
            row = PlanRow(
                slug=spec.slug, title=spec.title, period_days=spec.period_days, created_at=now, updated_at=now
            )
        fiat = spec.price.fiat
        row.title, row.description, row.period_days = spec.title, spec.description, spec.period_days
        row.includes_all = spec.includes_all
        row.price_amount = fiat.amount if fiat else None
        row.price_currency = fiat.currency if fiat else None
        row.price_stars = spec.price.stars
        row.community_chat = spec.community_chat
        row.creator = spec.creator
        row.published, row.updated_at = spec.published, now
        self.s.add(row)
        await self.s.flush()
        await self.s.execute(delete(PlanCourseRow).where(PlanCourseRow.plan_id == row.id))  # type: ignore[arg-type]
        if not spec.includes_all and spec.course_slugs:
            ids = (
                (
                    await self.s.execute(select(CourseRow.id).where(CourseRow.slug.in_(spec.course_slugs)))  # type: ignore[attr-defined]
                )
                .scalars()
                .all()
            )
            for cid in ids:
                assert row.id is not None and cid is not None
                self.s.add(PlanCourseRow(plan_id=row.id, course_id=cid))
        await self.s.flush()
        return created

    async def course_sales(self, since: datetime) -> dict[int, tuple[int, int]]:
        """One grouped scan of the live course entitlements (the popular-courses fallback of search)."""
        recent = func.sum(case((EntitlementRow.starts_at >= convert.to_utc(since), 1), else_=0))
        stmt = (
            select(EntitlementRow.course_id, func.count(), recent)
            .where(EntitlementRow.course_id.is_not(None), EntitlementRow.revoked_at.is_(None))  # type: ignore[union-attr]
            .group_by(EntitlementRow.course_id)
        )
        return {int(cid): (int(n), int(r or 0)) for cid, n, r in (await self.s.execute(stmt)).all()}
