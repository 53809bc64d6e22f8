"""The outbox: deferred messages per channel identity, delivered oldest first.

Each row is one message (a group of replies sent together), stored as
:func:`core.reply_codec.encode`'s JSON. A row that no longer decodes (written
by a newer version, or damaged) must not block its identity's queue forever:
:meth:`SqlOutbox.pending` logs it and *quarantines* it, taking it out of the
queue with ``reason = "undecodable"`` and ``delivered_at`` set to its own
``created_at`` (``pending`` is given no clock; a ``delivered_at`` equal to
``created_at`` is the quarantine's mark), and reads on so ``limit`` still
counts good messages. The payload stays in the row for inspection. Like every
write, the quarantine lasts only if the caller commits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import reply_codec
from core.outbox import Deferred
from core.replies import Reply
from core.users import Ref
from storage import convert
from storage.tables import DeferredMessageRow

__all__ = ["UNDECODABLE", "SqlOutbox"]

log = logging.getLogger(__name__)

#: The reason a quarantined row gets (see the module docstring).
UNDECODABLE = "undecodable"
_REASON_MAX = 32

T = DeferredMessageRow


class SqlOutbox:
    def __init__(self, session: AsyncSession) -> None:
        self.s = session

    async def defer(
        self, ref: Ref, replies: Sequence[Reply], *, user_id: int | None, reason: str, now: datetime
    ) -> int:
        if not replies:
            raise ValueError("nothing to defer: no replies")
        if not reason or len(reason) > _REASON_MAX:
            raise ValueError(f"a deferral reason is 1 to {_REASON_MAX} characters, got {reason!r}")
        payload = json.dumps(reply_codec.encode(replies), ensure_ascii=False, separators=(",", ":"))
        row = DeferredMessageRow(
            channel=ref.channel,
            external_id=ref.external_id,
            user_id=user_id,
            payload=payload,
            reason=reason,
            created_at=convert.to_utc(now),
        )
        self.s.add(row)
        await self.s.flush()
        assert row.id is not None
        return row.id

    @staticmethod
    def _queued(ref: Ref) -> tuple[Any, ...]:
        """The WHERE clause of ``ref``'s undelivered messages."""
        return (
            T.channel == ref.channel,
            T.external_id == ref.external_id,
            T.delivered_at.is_(None),  # type: ignore[union-attr]
        )

    async def pending(self, ref: Ref, *, limit: int) -> list[Deferred]:
        out: list[Deferred] = []
        while len(out) < limit:
            stmt = select(T).where(*self._queued(ref))
            if out:  # a later page: the good rows already read are still undelivered
                stmt = stmt.where(T.id.not_in([d.id for d in out]))  # type: ignore[union-attr]
            stmt = (
                stmt.order_by(T.created_at, T.id)  # type: ignore[arg-type]
                .limit(limit - len(out))
                .execution_options(populate_existing=True)
            )
            rows = (await self.s.execute(stmt)).scalars().all()
            quarantined = False
            for row in rows:
                deferred = self._decode(row, ref)
                if deferred is None:
                    row.reason, row.delivered_at = UNDECODABLE, row.created_at
                    quarantined = True
                else:
                    out.append(deferred)
            if not quarantined:  # a full page of good rows, or the queue ran out
                break
            await self.s.flush()  # the quarantined rows leave the queue before the next page
        return out

    @staticmethod
    def _decode(row: DeferredMessageRow, ref: Ref) -> Deferred | None:
        assert row.id is not None
        try:
            replies = reply_codec.decode(json.loads(row.payload))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            log.warning("outbox: deferred message %s for %s does not decode, quarantined: %s", row.id, ref, exc)
            return None
        return Deferred(
            id=row.id,
            ref=ref,
            user_id=row.user_id,
            replies=tuple(replies),
            reason=row.reason,
            created_at=convert.utc(row.created_at),
        )

    async def mark_delivered(self, ids: Sequence[int], now: datetime) -> None:
        if not ids:
            return
        await self.s.execute(
            update(T)
            .where(T.id.in_(list(ids)), T.delivered_at.is_(None))  # type: ignore[union-attr]
            .values(delivered_at=convert.to_utc(now))
        )

    async def count_pending(self, ref: Ref) -> int:
        stmt = select(func.count()).select_from(T).where(*self._queued(ref))
        return int((await self.s.execute(stmt)).scalar_one())

    async def refs_with_pending(self, channel: str, *, limit: int) -> list[Ref]:
        stmt = (
            select(T.external_id)  # type: ignore[call-overload]
            .where(T.channel == channel, T.delivered_at.is_(None))  # type: ignore[union-attr]
            .group_by(T.external_id)
            .order_by(func.min(T.created_at), func.min(T.id))
            .limit(limit)
        )
        return [Ref(channel, external_id) for external_id in (await self.s.execute(stmt)).scalars().all()]
