"""Set queries for the scheduled jobs: who is due a drip lesson or a reminder, and the jobs' run times.

The repositories behind :class:`core.ports.UnitOfWork` answer questions about
one user; a job walks everyone, so it needs set queries, paged by keyset
(never OFFSET: rows added meanwhile neither repeat nor hide others) and
loaded for a whole page at once. These run on the session of a storage unit
of work (:func:`session_of`), inside the caller's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, exists, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from core.catalog import DripMode
from core.entitlements import Entitlement
from core.ports import UnitOfWork
from core.progress import Progress
from core.users import Ref, User
from storage import convert
from storage.stats_tables import JobRunRow
from storage.tables import CourseRow, EntitlementRow, IdentityRow, PlanCourseRow, PlanRow, ProgressRow, UserRow
from storage.upsert import insert_for

__all__ = ["JobRun", "SqlJobQueries", "SqlJobRuns", "session_of"]


def session_of(uow: UnitOfWork) -> AsyncSession:
    """The SQL session under a storage unit of work (:class:`storage.uow.SqlUnitOfWork`)."""
    session = getattr(uow.users, "s", None)
    if not isinstance(session, AsyncSession):
        raise TypeError(f"{type(uow).__name__} is not a SQL unit of work")
    return session


_users: Table = UserRow.__table__  # type: ignore[attr-defined]
_ents: Table = EntitlementRow.__table__  # type: ignore[attr-defined]
_courses: Table = CourseRow.__table__  # type: ignore[attr-defined]
_plans: Table = PlanRow.__table__  # type: ignore[attr-defined]
_plan_courses: Table = PlanCourseRow.__table__  # type: ignore[attr-defined]
_progress: Table = ProgressRow.__table__  # type: ignore[attr-defined]
_identities: Table = IdentityRow.__table__  # type: ignore[attr-defined]


def _active(now: datetime) -> ColumnElement[bool]:
    at, e = convert.to_utc(now), _ents.c
    return and_(e.revoked_at.is_(None), e.starts_at <= at, or_(e.expires_at.is_(None), e.expires_at > at))


class SqlJobQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def drip_pairs(self, now: datetime, after: tuple[int, int], limit: int) -> list[tuple[int, int]]:
        """(user id, course id) for every published daily-drip course a user holds an active entitlement to
        (bought, or through a plan that includes it), in order, after ``after``; at most ``limit``."""
        e, c, p, pc = _ents.c, _courses.c, _plans.c, _plan_courses.c
        daily = and_(c.drip_mode == DripMode.DAILY.value, c.published.is_(True))
        bought = (
            select(e.user_id.label("user_id"), c.id.label("course_id"))
            .select_from(_ents.join(_courses, c.id == e.course_id))
            .where(daily, _active(now))
        )
        in_plan = exists().where(pc.plan_id == p.id, pc.course_id == c.id)
        via_plan = (
            select(e.user_id.label("user_id"), c.id.label("course_id"))
            .select_from(_ents.join(_plans, p.id == e.plan_id).join(_courses, or_(p.includes_all.is_(True), in_plan)))
            .where(daily, _active(now))
        )
        pairs = union(bought, via_plan).subquery()
        last_user, last_course = after
        later = or_(pairs.c.user_id > last_user, and_(pairs.c.user_id == last_user, pairs.c.course_id > last_course))
        stmt = (
            select(pairs.c.user_id, pairs.c.course_id)
            .where(later)
            .order_by(pairs.c.user_id, pairs.c.course_id)
            .limit(limit)
        )
        return [(int(u), int(cid)) for u, cid in (await self.s.execute(stmt)).all()]

    async def users(self, ids: Iterable[int]) -> dict[int, User]:
        rows = (await self.s.execute(select(UserRow).where(_users.c.id.in_(list(ids))))).scalars().all()
        return {r.id: convert.user(r) for r in rows if r.id is not None}

    async def entitlements(self, user_ids: Iterable[int]) -> dict[int, list[Entitlement]]:
        """Every entitlement not revoked of these users (expired ones too, as ``for_user`` returns them)."""
        e = _ents.c
        stmt = select(EntitlementRow).where(e.user_id.in_(list(user_ids)), e.revoked_at.is_(None)).order_by(e.id)
        out: dict[int, list[Entitlement]] = defaultdict(list)
        for row in (await self.s.execute(stmt)).scalars().all():
            out[row.user_id].append(convert.entitlement(row))
        return out

    async def progress(
        self, user_ids: Iterable[int], course_ids: Iterable[int]
    ) -> dict[tuple[int, int], dict[int, Progress]]:
        """(user id, course id) -> lesson id -> progress, as ``ProgressRepository.for_course`` gives it."""
        p = _progress.c
        stmt = select(ProgressRow).where(p.user_id.in_(list(user_ids)), p.course_id.in_(list(course_ids)))
        out: dict[tuple[int, int], dict[int, Progress]] = defaultdict(dict)
        for r in (await self.s.execute(stmt)).scalars().all():
            out[(r.user_id, r.course_id)][r.lesson_id] = Progress(
                r.user_id, r.lesson_id, r.course_id, convert.utc_opt(r.delivered_at), convert.utc_opt(r.completed_at)
            )
        return out

    async def reachable_ref(self, user_ids: Iterable[int], channels: Collection[str] | None = None) -> dict[int, Ref]:
        """Each user's oldest identity the messenger still delivers to, on one of ``channels`` if given
        (users with none are left out)."""
        i = _identities.c
        stmt = (
            select(i.user_id, i.channel, i.external_id)
            .where(i.user_id.in_(list(user_ids)), i.unreachable_at.is_(None))
            .order_by(i.id)
        )
        if channels is not None:
            stmt = stmt.where(i.channel.in_(sorted(channels)))
        out: dict[int, Ref] = {}
        for user_id, channel, external_id in (await self.s.execute(stmt)).all():
            out.setdefault(int(user_id), Ref(channel, external_id))
        return out

    async def expiring_plans(self, now: datetime, until: datetime, after_id: int, limit: int) -> list[Entitlement]:
        """Plan entitlements (not revoked) that end after ``now`` and by ``until``, by id after ``after_id``."""
        e = _ents.c
        stmt = (
            select(EntitlementRow)
            .where(
                e.plan_id.is_not(None),
                e.revoked_at.is_(None),
                e.expires_at > convert.to_utc(now),
                e.expires_at <= convert.to_utc(until),
                e.id > after_id,
            )
            .order_by(e.id)
            .limit(limit)
        )
        return [convert.entitlement(r) for r in (await self.s.execute(stmt)).scalars().all()]


@dataclass(frozen=True, slots=True)
class JobRun:
    last_run_at: datetime | None  # when the last run that finished was scheduled
    next_run_at: datetime | None  # when the job is due next (past: it was missed, so it runs at start)


class SqlJobRuns:
    """The scheduler's persisted run times (``job_runs``), one row per job id."""

    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def load(self) -> dict[str, JobRun]:
        rows = (await self.s.execute(select(JobRunRow))).scalars().all()
        return {r.job_id: JobRun(convert.utc_opt(r.last_run_at), convert.utc_opt(r.next_run_at)) for r in rows}

    async def save(self, job_id: str, *, last_run_at: datetime, next_run_at: datetime | None, now: datetime) -> None:
        values = {
            "last_run_at": convert.to_utc(last_run_at),
            "next_run_at": next_run_at and convert.to_utc(next_run_at),
            "updated_at": convert.to_utc(now),
        }
        stmt = insert_for(self.s, JobRunRow).values(job_id=job_id, **values)
        await self.s.execute(stmt.on_conflict_do_update(index_elements=["job_id"], set_=values))
