"""Campaigns and delivery rows: record before send, claim with a lease, record the outcome.

Claiming is one statement: ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED LIMIT n) RETURNING …``. On PostgreSQL, concurrent workers skip each
other's locked rows, so two workers never claim the same row; on SQLite
(one writer at a time) the statement is atomic by itself. A row is due when
it is pending, ``next_at`` has come, its lease (``claimed_until``) is free or
expired, and its campaign (if any) is running.

Recording an outcome is guarded by ``claimed_by``: a worker whose lease ran
out and was taken over can no longer overwrite the row.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import reply_codec
from core.delivery import Campaign, CampaignKind, CampaignStatus, Delivery, DeliveryStatus, NewDelivery
from core.replies import Reply
from core.users import Ref
from storage import convert
from storage.tables import CampaignClickRow, CampaignRow, DeliveryRow, MuteRow
from storage.upsert import insert_for

__all__ = ["SqlDeliveries"]

log = logging.getLogger(__name__)

_RECORD_CHUNK = 500  # ids per bulk UPDATE (SQLite allows 32,766 parameters; PostgreSQL 65,535)


def _payload(replies: Sequence[Reply]) -> str:
    return json.dumps(reply_codec.encode(replies), ensure_ascii=False, separators=(",", ":"))


def _campaign(row: CampaignRow) -> Campaign:
    assert row.id is not None
    return Campaign(
        id=row.id,
        kind=CampaignKind(row.kind),
        status=CampaignStatus(row.status),
        creator_id=row.creator_id,
        audience=row.audience,
        channel=row.channel,
        replies=tuple(reply_codec.decode(json.loads(row.payload))),
        paid=row.paid,
        total=row.total,
        created_at=convert.utc(row.created_at),
        started_at=convert.utc_opt(row.started_at),
        finished_at=convert.utc_opt(row.finished_at),
    )


def _delivery(row: DeliveryRow) -> Delivery:
    assert row.id is not None
    replies: tuple[Reply, ...] = ()
    if row.payload:
        try:
            replies = tuple(reply_codec.decode(json.loads(row.payload)))
        except ValueError as exc:
            log.error("delivery %s has an unreadable payload: %s", row.id, exc)
    return Delivery(
        id=row.id,
        key=row.key,
        campaign_id=row.campaign_id,
        user_id=row.user_id,
        ref=Ref(row.channel, row.external_id),
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_at=convert.utc(row.next_at),
        content=row.content,
        replies=replies,
        important=row.important,
        sent_at=convert.utc_opt(row.sent_at),
        error=row.error,
    )


class SqlDeliveries:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    # -- campaigns --------------------------------------------------------------------------------

    async def create_campaign(
        self,
        *,
        kind: CampaignKind,
        creator_id: int | None,
        audience: str,
        channel: str | None,
        replies: Sequence[Reply],
        paid: bool,
        now: datetime,
        status: CampaignStatus = CampaignStatus.DRAFT,
    ) -> Campaign:
        row = CampaignRow(
            kind=kind.value,
            status=status.value,
            creator_id=creator_id,
            audience=audience,
            channel=channel,
            payload=_payload(replies),
            paid=paid,
            total=0,
            created_at=convert.to_utc(now),
        )
        self.s.add(row)
        await self.s.flush()
        return _campaign(row)

    async def get_campaign(self, campaign_id: int) -> Campaign | None:
        row = await self.s.get(CampaignRow, campaign_id)
        return _campaign(row) if row else None

    async def set_campaign(
        self,
        campaign_id: int,
        *,
        status: CampaignStatus | None = None,
        total: int | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> None:
        values: dict[str, object] = {}
        if status is not None:
            values["status"] = status.value
        if total is not None:
            values["total"] = total
        if started_at is not None:
            values["started_at"] = convert.to_utc(started_at)
        if finished_at is not None:
            values["finished_at"] = convert.to_utc(finished_at)
        if values:
            await self.s.execute(update(CampaignRow).where(CampaignRow.id == campaign_id).values(**values))  # type: ignore[arg-type]

    async def finish_campaign(self, campaign_id: int, now: datetime) -> bool:
        """Running → done once nothing is pending; True for the one caller that made the change."""
        pending = (
            select(DeliveryRow.id)
            .where(
                DeliveryRow.campaign_id == campaign_id,  # type: ignore[arg-type]
                DeliveryRow.status == DeliveryStatus.PENDING.value,  # type: ignore[arg-type]
            )
            .exists()
        )
        stmt = (
            update(CampaignRow)
            .where(
                CampaignRow.id == campaign_id,  # type: ignore[arg-type]
                CampaignRow.status == CampaignStatus.RUNNING.value,  # type: ignore[arg-type]
                ~pending,
            )
            .values(status=CampaignStatus.DONE.value, finished_at=convert.to_utc(now))
            .execution_options(synchronize_session=False)
        )
        return bool((await self.s.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def campaigns(self, *, status: CampaignStatus | None = None, creator_id: int | None = None) -> list[Campaign]:
        stmt = select(CampaignRow).order_by(CampaignRow.id.desc())  # type: ignore[union-attr]
        if status is not None:
            stmt = stmt.where(CampaignRow.status == status.value)  # type: ignore[arg-type]
        if creator_id is not None:
            stmt = stmt.where(CampaignRow.creator_id == creator_id)  # type: ignore[arg-type]
        return [_campaign(r) for r in (await self.s.execute(stmt)).scalars().all()]

    # -- rows -------------------------------------------------------------------------------------

    async def add(self, rows: Sequence[NewDelivery]) -> int:
        """Insert rows whose key is new; returns how many were inserted (existing keys are left alone)."""
        if not rows:
            return 0
        values = [
            {
                "key": r.key,
                "campaign_id": r.campaign_id,
                "user_id": r.user_id,
                "channel": r.ref.channel,
                "external_id": r.ref.external_id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_at": convert.to_utc(r.next_at),
                "content": r.content,
                "payload": _payload(r.replies) if r.replies else None,
                "important": r.important,
                "error": "",
            }
            for r in rows
        ]
        # executemany through SQLAlchemy's "insertmanyvalues": one multi-row INSERT per ~1000 rows, compiled once
        # (a 1,000-row .values([...]) statement cost ~250 ms to compile; this ~15 ms). RETURNING counts the new rows.
        stmt = (
            insert_for(self.s, DeliveryRow).on_conflict_do_nothing(index_elements=["key"]).returning(DeliveryRow.id)  # type: ignore[arg-type]
        )
        result = await self.s.execute(stmt, values)
        return len(result.all())

    async def claim(self, worker: str, now: datetime, *, lease_until: datetime, limit: int) -> list[Delivery]:
        """Claim up to ``limit`` due rows for ``worker`` until ``lease_until`` (oldest due first)."""
        at = convert.to_utc(now)
        running = select(CampaignRow.id).where(CampaignRow.status == CampaignStatus.RUNNING.value)  # type: ignore[arg-type]
        due = (
            select(DeliveryRow.id)
            .where(
                DeliveryRow.status == DeliveryStatus.PENDING.value,  # type: ignore[arg-type]
                DeliveryRow.next_at <= at,  # type: ignore[arg-type,operator]
                or_(DeliveryRow.claimed_until.is_(None), DeliveryRow.claimed_until < at),  # type: ignore[union-attr,operator]
                or_(DeliveryRow.campaign_id.is_(None), DeliveryRow.campaign_id.in_(running)),  # type: ignore[union-attr]
            )
            .order_by(DeliveryRow.next_at, DeliveryRow.id)  # type: ignore[arg-type]
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(due.scalar_subquery()))  # type: ignore[union-attr]
            .values(claimed_by=worker, claimed_until=convert.to_utc(lease_until))
            .returning(DeliveryRow)
            .execution_options(synchronize_session=False)
        )
        rows = (await self.s.execute(stmt)).scalars().all()
        return sorted((_delivery(r) for r in rows), key=lambda d: (d.next_at, d.id))

    async def record(
        self,
        delivery_id: int,
        worker: str,
        status: DeliveryStatus,
        now: datetime,
        *,
        error: str = "",
        attempts: int | None = None,
        next_at: datetime | None = None,
    ) -> bool:
        """Write one outcome (or a retry time, with status PENDING); False if the lease was lost."""
        values: dict[str, object] = {"status": status.value, "claimed_by": None, "claimed_until": None}
        if status is DeliveryStatus.SENT:
            values["sent_at"] = convert.to_utc(now)
        if error:
            values["error"] = error[:200]
        if attempts is not None:
            values["attempts"] = attempts
        if next_at is not None:
            values["next_at"] = convert.to_utc(next_at)
        stmt = (
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id, DeliveryRow.claimed_by == worker)  # type: ignore[arg-type]
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        result = await self.s.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def record_sent(self, ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        """Mark claimed rows SENT, a statement per 500 ids; the ids whose lease ``worker`` still held.

        The common outcome of a broadcast, written in bulk: at 1000 sends a second, one ``UPDATE`` per row
        (compiled, executed and committed) was a third of the worker's CPU.
        """
        kept: set[int] = set()
        at = convert.to_utc(now)
        for start in range(0, len(ids), _RECORD_CHUNK):
            chunk = list(ids[start : start + _RECORD_CHUNK])
            stmt = (
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(chunk), DeliveryRow.claimed_by == worker)  # type: ignore[union-attr,arg-type]
                .values(status=DeliveryStatus.SENT.value, sent_at=at, claimed_by=None, claimed_until=None)
                .returning(DeliveryRow.id)
                .execution_options(synchronize_session=False)
            )
            kept.update(int(i) for i in (await self.s.execute(stmt)).scalars().all())
        return kept

    async def release(self, ids: Sequence[int], worker: str) -> None:
        """Give claimed rows back untouched (shutdown, a paused campaign)."""
        if ids:
            await self.s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(list(ids)), DeliveryRow.claimed_by == worker)  # type: ignore[union-attr,arg-type]
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    async def progress(self, campaign_id: int) -> dict[DeliveryStatus, int]:
        stmt = (
            select(DeliveryRow.status, func.count())
            .where(DeliveryRow.campaign_id == campaign_id)  # type: ignore[arg-type]
            .group_by(DeliveryRow.status)
        )
        return {DeliveryStatus(s): int(n) for s, n in (await self.s.execute(stmt)).all()}

    async def cancel_pending(self, campaign_id: int) -> int:
        stmt = (
            update(DeliveryRow)
            .where(
                DeliveryRow.campaign_id == campaign_id,  # type: ignore[arg-type]
                DeliveryRow.status == DeliveryStatus.PENDING.value,  # type: ignore[arg-type]
            )
            .values(status=DeliveryStatus.CANCELLED.value, claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        return int((await self.s.execute(stmt)).rowcount or 0)  # type: ignore[attr-defined]

    async def pending_count(self, campaign_id: int | None = None) -> int:
        stmt = select(func.count()).where(DeliveryRow.status == DeliveryStatus.PENDING.value)  # type: ignore[arg-type]
        if campaign_id is not None:
            stmt = stmt.where(DeliveryRow.campaign_id == campaign_id)  # type: ignore[arg-type]
        return int((await self.s.execute(stmt)).scalar_one())

    async def get(self, delivery_id: int) -> Delivery | None:
        row = await self.s.get(DeliveryRow, delivery_id)
        return _delivery(row) if row else None

    async def by_key(self, key: str) -> Delivery | None:
        row = (await self.s.execute(select(DeliveryRow).where(DeliveryRow.key == key))).scalar_one_or_none()  # type: ignore[arg-type]
        return _delivery(row) if row else None

    # -- clicks and mutes ---------------------------------------------------------------------------

    async def click(self, campaign_id: int, user_id: int, button: int, now: datetime) -> bool:
        stmt = (
            insert_for(self.s, CampaignClickRow)
            .values(campaign_id=campaign_id, user_id=user_id, button=button, at=convert.to_utc(now))
            .on_conflict_do_nothing(index_elements=["campaign_id", "user_id", "button"])
        )
        return bool((await self.s.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def clicks(self, campaign_id: int) -> int:
        stmt = select(func.count(func.distinct(CampaignClickRow.user_id))).where(
            CampaignClickRow.campaign_id == campaign_id  # type: ignore[arg-type]
        )
        return int((await self.s.execute(stmt)).scalar_one())

    async def mute(self, user_id: int, scope: str, now: datetime) -> None:
        stmt = (
            insert_for(self.s, MuteRow)
            .values(user_id=user_id, scope=scope, at=convert.to_utc(now))
            .on_conflict_do_nothing(index_elements=["user_id", "scope"])
        )
        await self.s.execute(stmt)

    async def unmute(self, user_id: int, scope: str) -> None:
        row = await self.s.get(MuteRow, (user_id, scope))
        if row is not None:
            await self.s.delete(row)

    async def mutes(self, user_id: int) -> set[str]:
        stmt = select(MuteRow.scope).where(MuteRow.user_id == user_id)  # type: ignore[arg-type]
        return set((await self.s.execute(stmt)).scalars().all())
