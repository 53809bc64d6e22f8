"""Subscription repository: provider-renewed plans (one row per first order)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.subscriptions import Subscription, SubscriptionStatus
from storage import convert
from storage.locks import one_row
from storage.tables import SubscriptionRow

__all__ = ["SqlSubscriptions"]


def _sub(row: SubscriptionRow) -> Subscription:
    assert row.id is not None
    return Subscription(
        id=row.id,
        user_id=row.user_id,
        plan_id=row.plan_id,
        order_id=row.order_id,
        provider=row.provider,
        charge_id=row.charge_id,
        period_end=convert.utc(row.period_end),
        auto_renew=row.auto_renew,
        status=SubscriptionStatus(row.status),
        created_at=convert.utc(row.created_at),
    )


class SqlSubscriptions:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(
        self,
        *,
        user_id: int,
        plan_id: int,
        order_id: int,
        provider: str,
        charge_id: str,
        period_end: datetime,
        now: datetime,
    ) -> Subscription:
        row = SubscriptionRow(
            user_id=user_id,
            plan_id=plan_id,
            order_id=order_id,
            provider=provider,
            charge_id=charge_id,
            period_end=convert.to_utc(period_end),
            auto_renew=True,
            status=SubscriptionStatus.ACTIVE.value,
            created_at=convert.to_utc(now),
            updated_at=convert.to_utc(now),
        )
        self.s.add(row)
        await self.s.flush()
        return _sub(row)

    async def _one(self, *where: object, for_update: bool) -> Subscription | None:
        row = await one_row(self.s, SubscriptionRow, *where, for_update=for_update)
        return _sub(row) if row else None

    async def get(self, sub_id: int, *, for_update: bool = False) -> Subscription | None:
        return await self._one(SubscriptionRow.id == sub_id, for_update=for_update)

    async def by_order(self, order_id: int, *, for_update: bool = False) -> Subscription | None:
        return await self._one(SubscriptionRow.order_id == order_id, for_update=for_update)

    async def for_user(self, user_id: int) -> list[Subscription]:
        stmt = select(SubscriptionRow).where(SubscriptionRow.user_id == user_id).order_by(SubscriptionRow.id)  # type: ignore[arg-type]
        return [_sub(r) for r in (await self.s.execute(stmt)).scalars().all()]

    async def save(self, sub: Subscription, now: datetime) -> None:
        await self.s.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.id == sub.id)  # type: ignore[arg-type]
            .values(
                period_end=convert.to_utc(sub.period_end),
                auto_renew=sub.auto_renew,
                status=sub.status.value,
                charge_id=sub.charge_id,
                updated_at=convert.to_utc(now),
            )
        )

    async def lapsed(self, now: datetime, limit: int) -> list[Subscription]:
        stmt = (
            select(SubscriptionRow)
            .where(
                SubscriptionRow.status == SubscriptionStatus.ACTIVE.value,  # type: ignore[arg-type]
                SubscriptionRow.period_end <= convert.to_utc(now),  # type: ignore[arg-type]
            )
            .order_by(SubscriptionRow.period_end)  # type: ignore[arg-type]
            .limit(limit)
        )
        return [_sub(r) for r in (await self.s.execute(stmt)).scalars().all()]
