"""Audiences in SQL: count and stream the users an audience reaches, a batch at a time.

Every condition is a predicate on ``users.id`` (``EXISTS`` / ``IN`` subqueries), so one
``WHERE`` serves the count, the per-channel count and the stream. The stream pages by user id
(``id > last ORDER BY id LIMIT n``): each page is a fresh, short query that holds no cursor, so a
million recipients stream in constant memory and the caller can insert and commit between pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, case, exists, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core.audiences import Audience, Scope
from core.delivery import CampaignKind
from core.orders import ItemKind, OrderStatus
from core.users import Ref
from storage import convert
from storage.tables import (
    CampaignRow,
    CourseRow,
    DeliveryRow,
    EntitlementRow,
    IdentityRow,
    MuteRow,
    OrderRow,
    PlanRow,
    ProgressRow,
    UserRow,
)

__all__ = ["PREFERENCE", "SqlAudiences"]

#: Which identity carries a user's message when no channel is asked for: the first one reachable.
PREFERENCE = ("telegram", "wechat", "console")

_u = UserRow.__table__.c  # type: ignore[attr-defined]
_i = IdentityRow.__table__.c  # type: ignore[attr-defined]
_m = MuteRow.__table__.c  # type: ignore[attr-defined]
_e = EntitlementRow.__table__.c  # type: ignore[attr-defined]
_o = OrderRow.__table__.c  # type: ignore[attr-defined]
_p = ProgressRow.__table__.c  # type: ignore[attr-defined]
_c = CourseRow.__table__.c  # type: ignore[attr-defined]
_pl = PlanRow.__table__.c  # type: ignore[attr-defined]
_cp = CampaignRow.__table__.c  # type: ignore[attr-defined]
_d = DeliveryRow.__table__.c  # type: ignore[attr-defined]


def _reachable(channel: str | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [_i.user_id == _u.id, _i.unreachable_at.is_(None)]
    if channel is not None:
        conds.append(_i.channel == channel)
    return conds


def _followers(refs: frozenset[str]) -> ColumnElement[bool]:
    """Users who hold or held an entitlement, paid an order or made progress on what ``refs`` own."""
    owned_courses = select(_c.id).where(_c.creator.in_(refs))
    owned_plans = select(_pl.id).where(_pl.creator.in_(refs))
    who = union(
        select(_e.user_id).where(or_(_e.course_id.in_(owned_courses), _e.plan_id.in_(owned_plans))),
        select(_o.user_id).where(
            _o.status == OrderStatus.PAID.value,
            or_(
                and_(_o.item_kind == ItemKind.COURSE.value, _o.item_id.in_(owned_courses)),
                and_(_o.item_kind == ItemKind.PLAN.value, _o.item_id.in_(owned_plans)),
            ),
        ),
        select(_p.user_id).where(_p.course_id.in_(owned_courses)),
    )
    return _u.id.in_(select(who.subquery().c.user_id))


def _conditions(audience: Audience, channel: str | None, scope: Scope, now: datetime) -> list[ColumnElement[bool]]:
    at = convert.to_utc(now)
    conds: list[ColumnElement[bool]] = [
        exists().where(*_reachable(channel)),
        ~exists().where(_m.user_id == _u.id, _m.scope.in_(scope.mute_scopes)),
    ]
    if scope.owner_refs is not None:
        conds.append(_followers(scope.owner_refs))
    if audience.course is not None:
        buyers = (
            select(_e.user_id)
            .join(CourseRow.__table__, _c.id == _e.course_id)  # type: ignore[attr-defined]
            .where(_c.slug == audience.course, _e.revoked_at.is_(None))
        )
        conds.append(_u.id.in_(buyers))
    if audience.plan is not None:
        members = (
            select(_e.user_id)
            .join(PlanRow.__table__, _pl.id == _e.plan_id)  # type: ignore[attr-defined]
            .where(
                _pl.slug == audience.plan,
                _e.revoked_at.is_(None),
                _e.starts_at <= at,
                or_(_e.expires_at.is_(None), _e.expires_at > at),
            )
        )
        conds.append(_u.id.in_(members))
    if audience.inactive_days is not None:
        # Activity is lesson progress (delivered, opened or completed); never active: since sign-up.
        last = select(func.max(_p.last_at)).where(_p.user_id == _u.id).scalar_subquery()
        conds.append(func.coalesce(last, _u.created_at) < at - timedelta(days=audience.inactive_days))
    if audience.lang is not None:
        conds.append(_u.lang == audience.lang)
    return conds


class SqlAudiences:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def count_by_channel(
        self, audience: Audience, channel: str | None, scope: Scope, now: datetime
    ) -> dict[str, int]:
        rank = case(*((_i.channel == name, n) for n, name in enumerate(PREFERENCE)), else_=len(PREFERENCE))
        best = select(func.min(rank)).where(*_reachable(channel)).scalar_subquery()
        sub = (
            select(best.label("rank"))
            .select_from(UserRow.__table__)  # type: ignore[attr-defined]
            .where(*_conditions(audience, channel, scope, now))
            .subquery()
        )
        rows = (await self.s.execute(select(sub.c.rank, func.count()).group_by(sub.c.rank))).all()
        names = {n: name for n, name in enumerate(PREFERENCE)}
        return {names.get(int(r), "other"): int(n) for r, n in rows if r is not None}

    async def count(self, audience: Audience, channel: str | None, scope: Scope, now: datetime) -> int:
        stmt = select(func.count()).select_from(UserRow.__table__).where(*_conditions(audience, channel, scope, now))  # type: ignore[attr-defined]
        return int((await self.s.execute(stmt)).scalar_one())

    async def stream(
        self, audience: Audience, channel: str | None, scope: Scope, now: datetime, *, batch: int = 1000
    ) -> AsyncIterator[list[tuple[int, Ref]]]:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        conds = _conditions(audience, channel, scope, now)
        after = 0
        while True:
            page: Select[tuple[int]] = select(_u.id).where(_u.id > after, *conds).order_by(_u.id).limit(batch)
            ids = [int(i) for i in (await self.s.execute(page)).scalars().all()]
            if not ids:
                return
            picked = await self._pick(ids, channel)
            yield [(uid, picked[uid]) for uid in ids if uid in picked]
            if len(ids) < batch:
                return
            after = ids[-1]

    async def _pick(self, user_ids: list[int], channel: str | None) -> dict[int, Ref]:
        """One reachable identity per user: by :data:`PREFERENCE`, then the oldest identity."""
        stmt = select(_i.user_id, _i.id, _i.channel, _i.external_id).where(
            _i.user_id.in_(user_ids), _i.unreachable_at.is_(None)
        )
        if channel is not None:
            stmt = stmt.where(_i.channel == channel)
        best: dict[int, tuple[int, int, Ref]] = {}
        for uid, iid, chan, ext in (await self.s.execute(stmt)).all():
            rank = PREFERENCE.index(chan) if chan in PREFERENCE else len(PREFERENCE)
            key = (rank, int(iid), Ref(chan, ext))
            if uid not in best or key[:2] < best[uid][:2]:
                best[int(uid)] = key
        return {uid: key[2] for uid, key in best.items()}

    async def senders(self, user_id: int, *, limit: int = 10) -> list[int]:
        latest = func.max(_d.id)
        stmt = (
            select(_cp.creator_id, latest)
            .select_from(DeliveryRow.__table__)  # type: ignore[attr-defined]
            .join(CampaignRow.__table__, _cp.id == _d.campaign_id)  # type: ignore[attr-defined]
            .where(_d.user_id == user_id, _cp.kind == CampaignKind.BROADCAST.value, _cp.creator_id.is_not(None))
            .group_by(_cp.creator_id)
            .order_by(latest.desc())
            .limit(limit)
        )
        return [int(cid) for cid, _ in (await self.s.execute(stmt)).all()]
