"""The worker's half of confirming a broadcast: write the recipient rows of STARTING campaigns.

A creator confirms a broadcast in chat (:func:`core.broadcasts.queue`): the campaign turns
STARTING and the answer goes back at once. A worker process (``--role worker`` or ``all``)
runs :class:`BroadcastStarter` beside the delivery engine: it finds STARTING campaigns and
writes their rows with :func:`core.broadcasts.start_queued` (streamed, a transaction per
1,000 rows), after which the campaign is RUNNING and the engine sends it.

With several workers, a campaign is written by one of them at a time: each takes the lock
``broadcast-start:<id>`` in the shared key-value store (renewed while it writes). A worker
killed mid-way leaves the campaign STARTING and its lock expires; the next one completes it
(row keys are unique, so nothing is doubled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core import broadcasts
from core.clock import Clock
from core.delivery import CampaignStatus
from core.ports import KeyValueStore, UnitOfWorkFactory

__all__ = ["BroadcastStarter"]

log = logging.getLogger(__name__)


class BroadcastStarter:
    """Polls for STARTING campaigns every ``poll`` seconds and writes their rows, one campaign at a time."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        kv: KeyValueStore,
        *,
        poll: float = 1.0,
        batch: int = broadcasts.BATCH,
        lock_ttl: float = 60.0,
    ) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.kv = kv
        self.poll = poll
        self.batch = batch
        self.lock_ttl = lock_ttl
        self.started = 0  # campaigns this starter turned RUNNING (or DONE, for an empty audience)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("starting queued broadcasts failed; retrying shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll)

    async def run_once(self) -> int:
        """Start every STARTING campaign no other worker is writing; how many this call started."""
        async with self.uow_factory() as uow:
            queued = [c.id for c in await uow.deliveries.campaigns(status=CampaignStatus.STARTING)]
        started = 0
        for campaign_id in sorted(queued):
            if await self._start(campaign_id):
                started += 1
        self.started += started
        return started

    async def _start(self, campaign_id: int) -> bool:
        key = f"broadcast-start:{campaign_id}"
        token = await self.kv.acquire_lock(key, self.lock_ttl)
        if token is None:
            return False  # another worker is writing it
        renewing = asyncio.ensure_future(self._renew(key, token))
        try:
            async with self.uow_factory() as uow:
                total = await broadcasts.start_queued(uow, campaign_id, self.clock.now(), batch=self.batch)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self.kv.release_lock(key, token)
        if total is not None:
            log.info("broadcast %s started: %d recipients", campaign_id, total)
        return total is not None

    async def _renew(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lock_ttl / 3)
            if not await self.kv.renew_lock(key, token, self.lock_ttl):
                log.warning("%s: lost the lock while writing rows (another worker may complete it)", key)
                return
