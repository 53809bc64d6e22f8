"""The daily rollup's queries: one day's numbers from the append-only and dated rows, and ``daily_stats``.

Every number is recomputed from stored rows for a half-open UTC interval
``[start, end)`` (one local day), so re-running a day gives the same result
and replaces what was stored (:meth:`SqlStats.replace_day`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, Table, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.orders import OrderStatus, PaymentEventKind
from core.purchasing import HONOURED
from storage import convert
from storage.stats_tables import DailyStatRow
from storage.tables import DeliveryRow, OrderRow, PaymentEventRow, PaymentRow, ProgressRow, UserRow

__all__ = ["ROLLED_UP", "SqlStats", "Stat"]

#: Written for every day rolled up (value: 1), so a day with no activity is not rolled up again.
ROLLED_UP = "rolled_up"

Stat = tuple[str, str, int]  # (metric, dimension, value)

_users: Table = UserRow.__table__  # type: ignore[attr-defined]
_progress: Table = ProgressRow.__table__  # type: ignore[attr-defined]
_orders: Table = OrderRow.__table__  # type: ignore[attr-defined]
_payments: Table = PaymentRow.__table__  # type: ignore[attr-defined]
_events: Table = PaymentEventRow.__table__  # type: ignore[attr-defined]
_deliveries: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
_stats: Table = DailyStatRow.__table__  # type: ignore[attr-defined]


def _within(column: ColumnElement[datetime], start: datetime, end: datetime) -> ColumnElement[bool]:
    return (column >= convert.to_utc(start)) & (column < convert.to_utc(end))


class SqlStats:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def compute(self, start: datetime, end: datetime) -> list[Stat]:
        """Every metric of ``[start, end)``; zero counts are left out (a missing row reads as 0)."""
        out: list[Stat] = []

        async def count(metric: str, stmt: Select[int]) -> None:
            n = int((await self.s.execute(stmt)).scalar_one())
            if n:
                out.append((metric, "", n))

        async def split(metric: str, stmt: Select[str, int]) -> None:
            for dimension, n in (await self.s.execute(stmt)).all():
                if n:
                    out.append((metric, str(dimension), int(n)))

        u, p, o, pay, ev, d = _users.c, _progress.c, _orders.c, _payments.c, _events.c, _deliveries.c
        await count("new_users", select(func.count()).where(_within(u.created_at, start, end)))
        touched = or_(
            _within(p.delivered_at, start, end), _within(p.completed_at, start, end), _within(p.last_at, start, end)
        )
        await count("active_learners", select(func.count(func.distinct(p.user_id))).where(touched))
        await count("lessons_delivered", select(func.count()).where(_within(p.delivered_at, start, end)))
        await count("lessons_completed", select(func.count()).where(_within(p.completed_at, start, end)))
        paid = _within(o.paid_at, start, end)
        await split("orders_paid", select(o.currency, func.count()).where(paid).group_by(o.currency))
        honoured = pay.outcome.in_(sorted(HONOURED)) & _within(pay.created_at, start, end)
        await split("revenue", select(pay.currency, func.sum(pay.amount)).where(honoured).group_by(pay.currency))
        refunded = (
            (ev.kind == PaymentEventKind.REFUNDED.value)
            & (o.status == OrderStatus.REFUNDED.value)
            & _within(ev.at, start, end)
        )
        refunds = (
            select(o.currency, func.count(), func.sum(o.amount))
            .select_from(_events.join(_orders, o.id == ev.order_id))
            .where(refunded)
            .group_by(o.currency)
        )
        for currency, n, amount in (await self.s.execute(refunds)).all():
            out += [("refunds", str(currency), int(n)), ("refunded_amount", str(currency), int(amount or 0))]
        due = func.coalesce(d.sent_at, d.next_at)
        await split("deliveries", select(d.status, func.count()).where(_within(due, start, end)).group_by(d.status))
        return out

    async def replace_day(self, day: date, stats: Sequence[Stat]) -> None:
        """The day's rows become exactly ``stats`` plus the rolled-up mark (in the caller's transaction)."""
        await self.s.execute(delete(_stats).where(_stats.c.day == day))
        rows = [{"day": day, "metric": m, "dimension": d, "value": v} for m, d, v in stats]
        rows.append({"day": day, "metric": ROLLED_UP, "dimension": "", "value": 1})
        await self.s.execute(_stats.insert(), rows)

    async def last_rolled_up(self) -> date | None:
        stmt = select(func.max(_stats.c.day)).where(_stats.c.metric == ROLLED_UP)
        found = (await self.s.execute(stmt)).scalar_one_or_none()
        return found if isinstance(found, date) else None

    async def first_activity(self) -> datetime | None:
        """When the first user arrived: nothing can have happened before."""
        found = (await self.s.execute(select(func.min(_users.c.created_at)))).scalar_one_or_none()
        return convert.utc_opt(found) if isinstance(found, datetime) else None

    async def day(self, day: date) -> dict[tuple[str, str], int]:
        """The stored numbers of ``day``: (metric, dimension) -> value."""
        stmt = select(_stats.c.metric, _stats.c.dimension, _stats.c.value).where(
            _stats.c.day == day, _stats.c.metric != ROLLED_UP
        )
        return {(m, dim): int(v) for m, dim, v in (await self.s.execute(stmt)).all()}
