"""Recommendations in SQL, one user at a time: signals, the precomputed top-N, pushes and conversions.

:class:`SqlRecommendations` is the unit of work's repository
(:class:`core.ports.RecommendationRepository`); the refit's and the push's set queries are
:mod:`storage.recommend_jobs_repo`. Serving reads the rows of the one ``live`` run only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.money import Money
from core.recommend.reasons import Reason, Recommendation
from core.recommend.signals import Interaction, Signal
from core.recommendations import PushReport, StoredPicks
from storage import convert
from storage.recommend_tables import (
    RecommendationRow,
    RecommendConversionRow,
    RecommendPushRow,
    RecommendRunRow,
    SearchQueryRow,
    SignalRow,
)
from storage.tables import CampaignClickRow, OrderRow
from storage.upsert import insert_for

__all__ = ["BUILDING", "FAILED", "LIVE", "SUPERSEDED", "SqlRecommendations", "decode_list", "encode_list"]

#: A refit run's status: rows being written, served, replaced by a newer run, or stopped half-way.
BUILDING, LIVE, SUPERSEDED, FAILED = "building", "live", "superseded", "failed"

_sig: Table = SignalRow.__table__  # type: ignore[attr-defined]
_q: Table = SearchQueryRow.__table__  # type: ignore[attr-defined]
_runs: Table = RecommendRunRow.__table__  # type: ignore[attr-defined]
_rec: Table = RecommendationRow.__table__  # type: ignore[attr-defined]
_push: Table = RecommendPushRow.__table__  # type: ignore[attr-defined]
_conv: Table = RecommendConversionRow.__table__  # type: ignore[attr-defined]
_clicks: Table = CampaignClickRow.__table__  # type: ignore[attr-defined]
_orders: Table = OrderRow.__table__  # type: ignore[attr-defined]


def encode_list(items: Sequence[Recommendation]) -> str:
    """A list of recommendations as compact JSON (the run's cold-start list)."""
    rows = [[r.course_id, round(float(r.score), 6), r.reason.kind, r.reason.anchor_course_id] for r in items]
    return json.dumps(rows, separators=(",", ":"))


def decode_list(text: str) -> tuple[Recommendation, ...]:
    try:
        rows = json.loads(text or "[]")
    except ValueError:
        return ()
    out: list[Recommendation] = []
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, list) and len(row) == 4 and isinstance(row[0], int) and isinstance(row[2], str):
            anchor = row[3] if isinstance(row[3], int) else None
            out.append(Recommendation(row[0], float(row[1]), Reason(row[2], anchor)))
    return tuple(out)


class SqlRecommendations:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    # -- signals ------------------------------------------------------------------------------------

    async def add_signal(self, user_id: int, course_id: int, kind: Signal, at: datetime) -> None:
        values = {"user_id": user_id, "course_id": course_id, "kind": Signal(kind).value, "at": convert.to_utc(at)}
        await self.s.execute(_sig.insert().values(**values))

    async def last_signal(self, user_id: int, course_id: int, kind: Signal) -> datetime | None:
        s = _sig.c
        stmt = select(func.max(s.at)).where(s.user_id == user_id, s.course_id == course_id, s.kind == kind.value)
        found = (await self.s.execute(stmt)).scalar_one_or_none()
        return convert.utc(found) if isinstance(found, datetime) else None

    async def add_query(self, user_id: int, query: str, at: datetime) -> None:
        await self.s.execute(_q.insert().values(user_id=user_id, query=query[:200], at=convert.to_utc(at)))

    async def history(self, user_id: int, *, since: datetime, limit: int) -> list[Interaction]:
        s = _sig.c
        stmt = (
            select(s.course_id, s.kind, s.at)
            .where(s.user_id == user_id, s.at >= convert.to_utc(since))
            .order_by(s.at.desc(), s.id.desc())
            .limit(limit)
        )
        out: list[Interaction] = []
        for course_id, kind, at in (await self.s.execute(stmt)).all():
            if kind in _KINDS:
                out.append(Interaction(user_id, int(course_id), Signal(kind), convert.utc(at)))
        return out

    async def queries(self, user_id: int, *, since: datetime, limit: int) -> list[str]:
        q = _q.c
        stmt = (
            select(q.query)
            .where(q.user_id == user_id, q.at >= convert.to_utc(since))
            .order_by(q.at.desc(), q.id.desc())
            .limit(limit * 4)
        )
        out: list[str] = []
        for (text,) in (await self.s.execute(stmt)).all():
            if text not in out:
                out.append(text)
        return out[:limit]

    # -- serving ------------------------------------------------------------------------------------

    async def stored(self, user_id: int, *, limit: int) -> StoredPicks | None:
        """One statement: the live run (the newest, should two ever be) joined with the user's rows."""
        r, c, newest = _runs.c, _rec.c, _runs.alias("newest").c
        live_id = select(func.max(newest.id)).where(newest.status == LIVE).scalar_subquery()
        stmt = (
            select(r.id, r.as_of, r.fallback, c.course_id, c.score, c.reason, c.anchor_id)
            .select_from(_runs.outerjoin(_rec, and_(c.run_id == r.id, c.user_id == user_id)))
            .where(r.id == live_id)
            .order_by(c.rank)
            .limit(limit)
        )
        rows = (await self.s.execute(stmt)).all()
        if not rows:
            return None
        run_id, as_of, fallback = rows[0][0], rows[0][1], rows[0][2]
        items = tuple(
            Recommendation(int(course), float(score), Reason(str(reason), anchor))
            for _, _, _, course, score, reason, anchor in rows
            if course is not None
        )
        return StoredPicks(int(run_id), convert.utc(as_of), items, decode_list(fallback))

    # -- pushes and attribution ---------------------------------------------------------------------

    async def add_push(self, campaign_id: int, user_id: int, course_ids: Sequence[int], at: datetime) -> None:
        p = _push.c
        await self.s.execute(delete(_push).where(p.campaign_id == campaign_id, p.user_id == user_id))
        if course_ids:
            rows = [
                {"campaign_id": campaign_id, "user_id": user_id, "rank": i, "course_id": cid, "at": convert.to_utc(at)}
                for i, cid in enumerate(course_ids)
            ]
            await self.s.execute(_push.insert(), rows)

    async def pushed_course(self, campaign_id: int, user_id: int, rank: int) -> int | None:
        p = _push.c
        stmt = select(p.course_id).where(p.campaign_id == campaign_id, p.user_id == user_id, p.rank == rank)
        found = (await self.s.execute(stmt)).scalar_one_or_none()
        return int(found) if found is not None else None

    async def push_click(
        self, user_id: int, course_id: int, *, since: datetime, until: datetime
    ) -> tuple[int, datetime] | None:
        p, k = _push.c, _clicks.c
        stmt = (
            select(p.campaign_id, k.at)
            .select_from(
                _push.join(_clicks, and_(k.campaign_id == p.campaign_id, k.user_id == p.user_id, k.button == p.rank))
            )
            .where(
                p.user_id == user_id,
                p.course_id == course_id,
                k.at >= convert.to_utc(since),
                k.at <= convert.to_utc(until),
            )
            .order_by(k.at.desc())
            .limit(1)
        )
        row = (await self.s.execute(stmt)).first()
        return (int(row[0]), convert.utc(row[1])) if row is not None else None

    async def add_conversion(
        self, *, order_id: int, user_id: int, course_id: int, campaign_id: int, clicked_at: datetime, at: datetime
    ) -> bool:
        stmt = (
            insert_for(self.s, RecommendConversionRow)
            .values(
                order_id=order_id,
                user_id=user_id,
                course_id=course_id,
                campaign_id=campaign_id,
                clicked_at=convert.to_utc(clicked_at),
                at=convert.to_utc(at),
            )
            .on_conflict_do_nothing(index_elements=["order_id"])
        )
        return bool((await self.s.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def push_report(self, campaign_id: int) -> PushReport:
        p, k, v, o = _push.c, _clicks.c, _conv.c, _orders.c
        shown = select(func.count(func.distinct(p.user_id))).where(p.campaign_id == campaign_id)
        clicked = select(func.count(func.distinct(k.user_id))).where(k.campaign_id == campaign_id)
        sales = (
            select(o.currency, func.count(), func.sum(o.amount))
            .select_from(_conv.join(_orders, o.id == v.order_id))
            .where(v.campaign_id == campaign_id)
            .group_by(o.currency)
            .order_by(o.currency)
        )
        rows = (await self.s.execute(sales)).all()
        return PushReport(
            shown=int((await self.s.execute(shown)).scalar_one()),
            clicked=int((await self.s.execute(clicked)).scalar_one()),
            conversions=sum(int(n) for _, n, _ in rows),
            revenue=tuple(Money(int(amount or 0), str(currency)) for currency, _, amount in rows),
        )


_KINDS = frozenset(s.value for s in Signal)
