"""The recommendation jobs' set queries: everyone's signals and exclusions, the refit runs, the push's recipients.

The unit of work's repository (:mod:`storage.recommend_repo`) answers questions about one user; the
refit and the push walk everyone. These run on the session of a storage unit of work
(:func:`storage.jobs_repo.session_of`), inside the caller's transaction.

Runs. A refit writes its rows under a new ``recommend_runs`` row while it is ``building`` (a batch per
transaction), then, in one transaction, makes it the ``live`` run and the previous one ``superseded``
(:meth:`SqlRecommendJobs.go_live`). Serving reads only the live run's rows, so readers see the old top-N
or the new one, never a mix; the superseded rows are deleted afterwards (:meth:`SqlRecommendJobs.cleanup`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Table, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.audiences import MUTE_RECOMMENDATIONS
from core.delivery import CampaignKind
from core.orders import ItemKind, OrderStatus
from core.recommend import CourseDoc, InteractionLog, Recommendation
from core.recommend.signals import SIGNALS
from storage import convert
from storage.recommend_repo import BUILDING, FAILED, LIVE, SUPERSEDED, encode_list
from storage.recommend_tables import RecommendationRow, RecommendRunRow, SignalRow
from storage.tables import CampaignRow, CourseRow, EntitlementRow, MuteRow, OrderRow

__all__ = ["ABANDONED", "LiveRun", "SqlRecommendJobs"]

#: A run still "building" after this long was left behind by a process that died: its rows go.
ABANDONED = timedelta(hours=6)
_INSERT_CHUNK = 5000

_runs: Table = RecommendRunRow.__table__  # type: ignore[attr-defined]
_rec: Table = RecommendationRow.__table__  # type: ignore[attr-defined]
_campaigns: Table = CampaignRow.__table__  # type: ignore[attr-defined]
_courses: Table = CourseRow.__table__  # type: ignore[attr-defined]
_ents: Table = EntitlementRow.__table__  # type: ignore[attr-defined]
_orders: Table = OrderRow.__table__  # type: ignore[attr-defined]
_mutes: Table = MuteRow.__table__  # type: ignore[attr-defined]
_sig: Table = SignalRow.__table__  # type: ignore[attr-defined]


class LiveRun:
    """The live refit as the jobs see it."""

    __slots__ = ("as_of", "finished_at", "id", "tokens")

    def __init__(self, run_id: int, as_of: datetime, finished_at: datetime | None, tokens: str | None) -> None:
        self.id, self.as_of, self.finished_at, self.tokens = run_id, as_of, finished_at, tokens


def _epoch(session: AsyncSession, column: Any) -> ColumnElement[float]:
    """POSIX seconds of a timestamp column, computed by the database (no datetime object per row)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_part("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


class SqlRecommendJobs:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def course_docs(self) -> list[CourseDoc]:
        """Every published course as the recommender sees it, by id."""
        c = _courses.c
        stmt = select(_courses).where(c.published.is_(True)).order_by(c.id)
        return [
            CourseDoc(
                id=int(row.id),
                slug=row.slug,
                title=row.title,
                summary=row.summary or "",
                description=row.description or "",
                category=row.category or "",
                tags=tuple(row.tags or ()),
                language=row.language,
                created_at=convert.utc(row.created_at),
            )
            for row in (await self.s.execute(stmt)).all()
        ]

    async def interactions(self, since: datetime, *, chunk: int = 50_000) -> InteractionLog:
        """Every signal at or after ``since`` as columns, streamed (a few bytes a row, no object per row)."""
        s = _sig.c
        code = case({sig.value: i for i, sig in enumerate(SIGNALS)}, value=s.kind, else_=-1)
        stmt = (
            select(s.user_id, s.course_id, code, _epoch(self.s, s.at))
            .where(s.at >= convert.to_utc(since))
            .execution_options(yield_per=chunk)
        )
        users: list[np.ndarray[Any, Any]] = []
        courses: list[np.ndarray[Any, Any]] = []
        kinds: list[np.ndarray[Any, Any]] = []
        at: list[np.ndarray[Any, Any]] = []
        result = await self.s.stream(stmt)
        async for part in result.partitions(chunk):
            cols = np.asarray(part, dtype=np.float64).reshape(-1, 4)
            users.append(cols[:, 0].astype(np.int64))
            courses.append(cols[:, 1].astype(np.int64))
            kinds.append(cols[:, 2].astype(np.int8))
            at.append(cols[:, 3])
        if not users:
            return InteractionLog.empty()
        log = InteractionLog(np.concatenate(users), np.concatenate(courses), np.concatenate(kinds), np.concatenate(at))
        return log.take(log.kinds >= 0)

    async def exclusions(self, now: datetime) -> dict[int, set[int]]:
        """Per user, the courses never to recommend: bought and still owned, or refunded."""
        e, o = _ents.c, _orders.c
        at = convert.to_utc(now)
        owned = select(e.user_id, e.course_id).where(
            e.course_id.is_not(None),
            e.revoked_at.is_(None),
            e.starts_at <= at,
            or_(e.expires_at.is_(None), e.expires_at > at),
        )
        refunded = select(o.user_id, o.item_id).where(
            o.item_kind == ItemKind.COURSE.value, o.status == OrderStatus.REFUNDED.value
        )
        out: dict[int, set[int]] = defaultdict(set)
        for stmt in (owned, refunded):
            for user_id, course_id in (await self.s.execute(stmt)).all():
                out[int(user_id)].add(int(course_id))
        return dict(out)

    async def refunded_pairs(self) -> set[tuple[int, int]]:
        """(user, course) of refunded course orders the user does not own again: their purchase signals
        are no evidence of taste, so the refit leaves them out."""
        o, e = _orders.c, _ents.c
        owned_again = exists().where(e.user_id == o.user_id, e.course_id == o.item_id, e.revoked_at.is_(None))
        stmt = select(o.user_id, o.item_id).where(
            o.item_kind == ItemKind.COURSE.value, o.status == OrderStatus.REFUNDED.value, ~owned_again
        )
        return {(int(u), int(c)) for u, c in (await self.s.execute(stmt)).all()}

    # -- runs ---------------------------------------------------------------------------------------

    async def live_run(self) -> LiveRun | None:
        r = _runs.c
        stmt = select(r.id, r.as_of, r.finished_at, r.tokens).where(r.status == LIVE).order_by(r.id.desc()).limit(1)
        row = (await self.s.execute(stmt)).first()
        if row is None:
            return None
        return LiveRun(int(row[0]), convert.utc(row[1]), convert.utc_opt(row[2]), row[3])

    async def start_run(self, as_of: datetime, now: datetime) -> int:
        stmt = _runs.insert().values(
            status=BUILDING, as_of=convert.to_utc(as_of), started_at=convert.to_utc(now), fallback="[]", error=""
        )
        result = await self.s.execute(stmt.returning(_runs.c.id))
        return int(result.scalar_one())

    async def add_rows(self, run_id: int, top: dict[int, list[Recommendation]]) -> int:
        """Insert the top-N of these users under ``run_id``; how many rows."""
        rows = [
            {
                "run_id": run_id,
                "user_id": user_id,
                "rank": rank,
                "course_id": rec.course_id,
                "score": float(rec.score),
                "reason": rec.reason.kind[:16],
                "anchor_id": rec.reason.anchor_course_id,
            }
            for user_id, recs in top.items()
            for rank, rec in enumerate(recs)
        ]
        for i in range(0, len(rows), _INSERT_CHUNK):
            await self.s.execute(_rec.insert(), rows[i : i + _INSERT_CHUNK])
        return len(rows)

    async def go_live(
        self,
        run_id: int,
        now: datetime,
        *,
        users: int,
        courses: int,
        interactions: int,
        fit_ms: int,
        fallback: Sequence[Recommendation],
        tokens: str | None,
    ) -> bool:
        """The switch, in the caller's transaction: this run becomes the live one (False: it was not building)."""
        r = _runs.c
        await self.s.execute(
            update(_runs).where(r.status == LIVE, r.id != run_id).values(status=SUPERSEDED, tokens=None)
        )
        result = await self.s.execute(
            update(_runs)
            .where(r.id == run_id, r.status == BUILDING)
            .values(
                status=LIVE,
                finished_at=convert.to_utc(now),
                users=users,
                courses=courses,
                interactions=interactions,
                fit_ms=fit_ms,
                fallback=encode_list(fallback),
                tokens=tokens,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def fail_run(self, run_id: int, now: datetime, error: str) -> None:
        r = _runs.c
        await self.s.execute(
            update(_runs)
            .where(r.id == run_id, r.status == BUILDING)
            .values(status=FAILED, finished_at=convert.to_utc(now), error=error[:200])
        )

    async def cleanup(self, now: datetime) -> int:
        """Delete the rows, then the records, of every run that is neither live nor still being built."""
        r = _runs.c
        gone = or_(
            r.status.in_([SUPERSEDED, FAILED]),
            and_(r.status == BUILDING, r.started_at < convert.to_utc(now - ABANDONED)),
        )
        ids = [int(i) for i in (await self.s.execute(select(r.id).where(gone))).scalars().all()]
        if not ids:
            return 0
        result = await self.s.execute(delete(_rec).where(_rec.c.run_id.in_(ids)))
        await self.s.execute(delete(_runs).where(r.id.in_(ids)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # -- the push -----------------------------------------------------------------------------------

    async def push_candidates(self, run_id: int, after: int, limit: int) -> list[int]:
        """Users with a top-N in run ``run_id`` who accept recommendation pushes, by id after ``after``."""
        c, m = _rec.c, _mutes.c
        muted = exists().where(m.user_id == c.user_id, m.scope == MUTE_RECOMMENDATIONS)
        stmt = (
            select(c.user_id)
            .where(c.run_id == run_id, c.rank == 0, c.user_id > after, ~muted)
            .order_by(c.user_id)
            .limit(limit)
        )
        return [int(u) for u in (await self.s.execute(stmt)).scalars().all()]

    async def push_campaign(self, audience: str) -> int | None:
        """The recommendation campaign of one push period (its audience names the period), if recorded."""
        c = _campaigns.c
        stmt = (
            select(c.id)
            .where(c.kind == CampaignKind.RECOMMENDATION.value, c.audience == audience)
            .order_by(c.id)
            .limit(1)
        )
        found = (await self.s.execute(stmt)).scalar_one_or_none()
        return int(found) if found is not None else None
