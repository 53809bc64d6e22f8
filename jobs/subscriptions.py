"""The subscription-lapse job: mark subscriptions whose period passed without a renewal as ended.

Access itself already ended with the entitlement's ``expires_at`` (nothing
here grants or revokes anything); this keeps the subscriptions' status true,
so /my stops offering to switch renewal of a dead subscription and stats can
count churn. Recomputed from stored state in batches, so a restart or a
missed run only delays it.
"""

from __future__ import annotations

from datetime import datetime

from core.ports import UnitOfWorkFactory
from core.subscriptions import end_lapsed

__all__ = ["BATCH", "end_lapsed_subscriptions"]

BATCH = 500


async def end_lapsed_subscriptions(uow_factory: UnitOfWorkFactory, now: datetime, *, batch: int = BATCH) -> int:
    """End every active subscription whose period ended at or before ``now``; returns how many."""
    total = 0
    while True:
        async with uow_factory() as uow:
            ended = await end_lapsed(uow, now, limit=batch)
            await uow.commit()
        total += len(ended)
        if len(ended) < batch:
            return total
