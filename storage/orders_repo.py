"""Order repository: orders, provider charges (unique per provider + charge id)
and the append-only payment event log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.money import Money
from core.orders import ItemKind, Order, OrderStatus, PaymentEventKind
from core.ports import PaymentRecord
from storage import convert
from storage.locks import one_row
from storage.tables import OrderRow, PaymentEventRow, PaymentRow
from storage.upsert import insert_for

__all__ = ["SqlOrders"]


class SqlOrders:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def add(
        self,
        *,
        code: str,
        user_id: int,
        item_kind: ItemKind,
        item_id: int,
        price: Money,
        provider: str,
        now: datetime,
        expires_at: datetime,
    ) -> Order:
        row = OrderRow(
            code=code,
            user_id=user_id,
            item_kind=item_kind.value,
            item_id=item_id,
            amount=price.amount,
            currency=price.currency,
            provider=provider,
            status=OrderStatus.PENDING.value,
            created_at=convert.to_utc(now),
            expires_at=convert.to_utc(expires_at),
        )
        self.s.add(row)
        await self.s.flush()
        return convert.order(row)

    async def _one(self, *where: object, for_update: bool) -> Order | None:
        row = await one_row(self.s, OrderRow, *where, for_update=for_update)
        return convert.order(row) if row else None

    async def get_by_code(self, code: str, *, for_update: bool = False) -> Order | None:
        return await self._one(OrderRow.code == code, for_update=for_update)

    async def get(self, order_id: int, *, for_update: bool = False) -> Order | None:
        return await self._one(OrderRow.id == order_id, for_update=for_update)

    async def save(self, order: Order) -> None:
        row = await self.s.get(OrderRow, order.id)
        if row is None:
            raise LookupError(f"order {order.code} vanished")
        row.status = order.status.value
        row.paid_at = order.paid_at and convert.to_utc(order.paid_at)
        row.closed_at = order.closed_at and convert.to_utc(order.closed_at)
        self.s.add(row)
        await self.s.flush()

    async def find_pending(
        self, user_id: int, item_kind: ItemKind, item_id: int, currency: str, now: datetime
    ) -> Order | None:
        row = (
            await self.s.execute(
                select(OrderRow)
                .where(
                    OrderRow.user_id == user_id,
                    OrderRow.item_kind == item_kind.value,
                    OrderRow.item_id == item_id,
                    OrderRow.currency == currency,
                    OrderRow.status == OrderStatus.PENDING.value,
                    OrderRow.expires_at > convert.to_utc(now),  # type: ignore[operator]
                )
                .order_by(OrderRow.id.desc())  # type: ignore[union-attr]
                .limit(1)
            )
        ).scalar_one_or_none()
        return convert.order(row) if row else None

    async def expired_pending(self, now: datetime, limit: int) -> list[Order]:
        rows = (
            (
                await self.s.execute(
                    select(OrderRow)
                    .where(OrderRow.status == OrderStatus.PENDING.value, OrderRow.expires_at <= convert.to_utc(now))  # type: ignore[operator]
                    .order_by(OrderRow.id)  # type: ignore[arg-type]
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        return [convert.order(r) for r in rows]

    async def pending_of(self, provider: str, limit: int) -> list[Order]:
        stmt = (
            select(OrderRow)
            .where(OrderRow.status == OrderStatus.PENDING.value, OrderRow.provider == provider)  # type: ignore[arg-type]
            .order_by(OrderRow.id)  # type: ignore[arg-type]
            .limit(limit)
        )
        return [convert.order(r) for r in (await self.s.execute(stmt)).scalars().all()]

    async def for_user(self, user_id: int) -> list[Order]:
        rows = (
            (
                await self.s.execute(select(OrderRow).where(OrderRow.user_id == user_id).order_by(OrderRow.id))  # type: ignore[arg-type]
            )
            .scalars()
            .all()
        )
        return [convert.order(r) for r in rows]

    async def add_payment(self, record: PaymentRecord) -> bool:
        stmt = (
            insert_for(self.s, PaymentRow)
            .values(
                order_id=record.order_id,
                provider=record.provider,
                charge_id=record.charge_id,
                amount=record.total.amount,
                currency=record.total.currency,
                outcome=record.outcome,
                created_at=convert.to_utc(record.created_at),
            )
            .on_conflict_do_nothing(index_elements=["provider", "charge_id"])
        )
        result = await self.s.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def get_payment(self, provider: str, charge_id: str) -> PaymentRecord | None:
        row = (
            await self.s.execute(
                select(PaymentRow).where(PaymentRow.provider == provider, PaymentRow.charge_id == charge_id)
            )
        ).scalar_one_or_none()
        return _payment(row) if row else None

    async def payments_for(self, order_id: int) -> list[PaymentRecord]:
        rows = (
            (await self.s.execute(select(PaymentRow).where(PaymentRow.order_id == order_id).order_by(PaymentRow.id)))  # type: ignore[arg-type]
            .scalars()
            .all()
        )
        return [_payment(r) for r in rows]

    async def paid_since(self, provider: str, since: datetime) -> list[tuple[Order, list[PaymentRecord]]]:
        orders = (
            (
                await self.s.execute(
                    select(OrderRow)
                    .where(OrderRow.provider == provider, OrderRow.paid_at >= convert.to_utc(since))  # type: ignore[operator]
                    .order_by(OrderRow.id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        return [(convert.order(o), await self.payments_for(o.id)) for o in orders if o.id is not None]

    async def add_event(
        self,
        *,
        order_id: int | None,
        kind: PaymentEventKind,
        at: datetime,
        provider: str = "",
        charge_id: str = "",
        total: Money | None = None,
        detail: str = "",
    ) -> None:
        self.s.add(
            PaymentEventRow(
                order_id=order_id,
                kind=kind.value,
                provider=provider,
                charge_id=charge_id,
                amount=total.amount if total else None,
                currency=total.currency if total else None,
                detail=detail,
                at=convert.to_utc(at),
            )
        )
        await self.s.flush()

    async def events(self, order_id: int) -> list[tuple[PaymentEventKind, str]]:
        rows = (
            (
                await self.s.execute(
                    select(PaymentEventRow).where(PaymentEventRow.order_id == order_id).order_by(PaymentEventRow.id)  # type: ignore[arg-type]
                )
            )
            .scalars()
            .all()
        )
        return [(PaymentEventKind(r.kind), r.detail) for r in rows]


def _payment(row: PaymentRow) -> PaymentRecord:
    return PaymentRecord(
        provider=row.provider,
        charge_id=row.charge_id,
        order_id=row.order_id,
        total=Money(row.amount, row.currency),
        outcome=row.outcome,
        created_at=convert.utc(row.created_at),
    )
