"""The delivery engine: claim due delivery rows, send them through the channels' bulk senders, record outcomes.

One engine runs per worker process (``bot.py run --role worker``, or inside
``--role all``); any number may run against one PostgreSQL database. Each
round it

1. claims up to ``batch`` due rows for a lease (``SELECT … FOR UPDATE SKIP
   LOCKED`` on PostgreSQL; see :mod:`storage.deliveries_repo`), so no two
   workers ever hold the same row;
2. sends them with up to ``concurrency`` sends in flight, each through the
   channel's :class:`core.ports.BulkSender`, which paces itself within the
   messenger's limits (shared token buckets) on its own connections — the
   interactive lane never queues behind it;
3. records each outcome as soon as it is known (outcomes that finish together
   are written in one transaction): sent, blocked (the identity is marked
   unreachable), deferred (the channel's outbox holds it until its window
   opens), failed, or pending again at a later time (a network error backs
   off; a flood-control answer waits exactly ``retry_after``);
4. marks campaigns with nothing left pending as done, exactly once, and tells
   their creator.

Crash safety: a row is written before its send and its outcome right after.
A worker killed mid-round leaves its claimed rows pending; they are claimed
again when the lease runs out. Only sends that were in flight at the kill can
be repeated — never a row whose outcome was recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from core.clock import Clock
from core.delivery import Campaign, CampaignStatus, Delivery, DeliveryStatus, Outcome, SendResult, next_attempt
from core.ports import BulkSender, UnitOfWorkFactory
from core.replies import Reply

__all__ = ["DeliveryEngine", "EngineStats", "worker_name"]

log = logging.getLogger(__name__)

Resolver = Callable[[Delivery], Awaitable[Sequence[Reply] | None]]
CampaignDone = Callable[[Campaign], Awaitable[None]]


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass
class EngineStats:
    claimed: int = 0
    outcomes: dict[DeliveryStatus, int] = field(default_factory=dict)
    retried: int = 0
    floods: int = 0
    lost_leases: int = 0


@dataclass(frozen=True, slots=True)
class _Record:
    delivery: Delivery
    status: DeliveryStatus
    error: str = ""
    attempts: int | None = None
    next_at_delay: float | None = None  # seconds from now, for a pending-again row
    blocked: bool = False
    release: bool = False  # give the row back untouched (its campaign was paused)


class DeliveryEngine:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        senders: Mapping[str, BulkSender],
        *,
        worker: str | None = None,
        resolvers: Mapping[str, Resolver] | None = None,
        tracked: Callable[[Campaign], tuple[Reply, ...]] | None = None,
        on_campaign_done: CampaignDone | None = None,
        concurrency: int = 32,
        batch: int = 200,
        lease: timedelta = timedelta(minutes=2),
        idle_poll: float = 1.0,
    ) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.senders = dict(senders)
        self.worker = worker or worker_name()
        self.resolvers = dict(resolvers or {})
        self.tracked = tracked
        self.on_campaign_done = on_campaign_done
        self.concurrency = concurrency
        self.batch = batch
        self.lease = lease
        self.idle_poll = idle_poll
        self.stats = EngineStats()
        self._campaigns: dict[int, tuple[Campaign, tuple[Reply, ...]]] = {}
        self._pending: list[_Record] = []
        self._flushed = asyncio.Event()
        self._stop: asyncio.Event | None = None  # set: finish the sends in flight, give the rest back

    # -- the loop ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; between rounds with nothing to do, poll every ``idle_poll`` seconds."""
        log.info("delivery worker %s started", self.worker)
        self._stop = stop
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:
                log.exception("delivery round failed; retrying shortly")
                done = 0
            if done == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.idle_poll)
                except TimeoutError:
                    pass
        log.info("delivery worker %s stopped", self.worker)

    async def run_once(self) -> int:
        """One round: claim, send, record. Returns how many rows were claimed."""
        now = self.clock.now()
        async with self.uow_factory() as uow:
            rows = await uow.deliveries.claim(self.worker, now, lease_until=now + self.lease, limit=self.batch)
            await uow.commit()
        if not rows:
            return 0
        self.stats.claimed += len(rows)
        self._campaigns.clear()  # a paused or cancelled campaign is noticed within one round
        gate = asyncio.Semaphore(self.concurrency)
        sent_all = asyncio.Event()
        flusher = asyncio.ensure_future(self._flush_loop(sent_all))
        try:

            async def one(d: Delivery) -> None:
                async with gate:
                    if self._stop is not None and self._stop.is_set():
                        record = _Record(d, DeliveryStatus.PENDING, "shutdown", release=True)
                    else:
                        record = await self._send(d)
                self._pending.append(record)
                self._flushed.set()

            await asyncio.gather(*(one(d) for d in rows))
        finally:
            sent_all.set()
            self._flushed.set()
            await flusher  # never cancelled mid-write: an outcome half-written would be lost
        await self._finish_campaigns({d.campaign_id for d in rows if d.campaign_id is not None})
        return len(rows)

    # -- one send -----------------------------------------------------------------------------------

    async def _send(self, d: Delivery) -> _Record:
        try:
            replies = await self._content(d)
        except _Skip as skip:
            return _Record(d, skip.status, skip.reason, release=skip.status is DeliveryStatus.PENDING)
        sender = self.senders.get(d.ref.channel)
        if sender is None:
            return _Record(d, DeliveryStatus.SKIPPED, f"no bulk sender for {d.ref.channel}")
        paid = self._paid(d)
        try:
            result = await sender.send_bulk(d.ref, replies, paid=paid, important=d.important)
        except Exception as exc:  # a sender bug must not lose the row: retry it later
            log.exception("bulk sender %s raised", d.ref.channel)
            result = SendResult(Outcome.RETRY, f"{type(exc).__name__}")
        return self._outcome(d, result)

    def _paid(self, d: Delivery) -> bool:
        entry = self._campaigns.get(d.campaign_id) if d.campaign_id is not None else None
        return bool(entry and entry[0].paid)

    async def _content(self, d: Delivery) -> Sequence[Reply]:
        if d.content == "campaign":
            if d.campaign_id is None:
                raise _Skip(DeliveryStatus.FAILED, "campaign row without a campaign")
            campaign, replies = await self._campaign(d.campaign_id)
            if campaign.status is CampaignStatus.CANCELLED:
                raise _Skip(DeliveryStatus.CANCELLED, "campaign cancelled")
            if campaign.status is not CampaignStatus.RUNNING:
                raise _Skip(DeliveryStatus.PENDING, "campaign paused")
            return replies
        if d.content == "replies":
            if not d.replies:
                raise _Skip(DeliveryStatus.FAILED, "no content")
            return d.replies
        prefix = d.content.split(":", 1)[0]
        resolver = self.resolvers.get(prefix)
        if resolver is None:
            raise _Skip(DeliveryStatus.FAILED, f"no resolver for {d.content}")
        resolved = await resolver(d)
        if not resolved:
            raise _Skip(DeliveryStatus.SKIPPED, f"nothing to send for {d.content}")
        return resolved

    async def _campaign(self, campaign_id: int) -> tuple[Campaign, tuple[Reply, ...]]:
        entry = self._campaigns.get(campaign_id)
        if entry is None:
            async with self.uow_factory() as uow:
                campaign = await uow.deliveries.get_campaign(campaign_id)
            if campaign is None:
                raise _Skip(DeliveryStatus.FAILED, "campaign missing")
            replies = self.tracked(campaign) if self.tracked is not None else campaign.replies
            entry = self._campaigns[campaign_id] = (campaign, replies)
        return entry

    def _outcome(self, d: Delivery, result: SendResult) -> _Record:
        match result.outcome:
            case Outcome.SENT:
                return _Record(d, DeliveryStatus.SENT)
            case Outcome.BLOCKED:
                return _Record(d, DeliveryStatus.BLOCKED, result.detail, blocked=True)
            case Outcome.DEFERRED:
                return _Record(d, DeliveryStatus.DEFERRED, result.detail)
            case Outcome.FAILED:
                return _Record(d, DeliveryStatus.FAILED, result.detail)
            case Outcome.FLOOD:
                self.stats.floods += 1
                wait = max(result.retry_after, 1.0)
                return _Record(d, DeliveryStatus.PENDING, "flood control", next_at_delay=wait)
            case _:
                attempts = d.attempts + 1
                when = next_attempt(attempts, self.clock.now())
                if when is None:
                    return _Record(d, DeliveryStatus.FAILED, result.detail or "gave up", attempts=attempts)
                self.stats.retried += 1
                delay = (when - self.clock.now()).total_seconds()
                return _Record(d, DeliveryStatus.PENDING, result.detail, attempts=attempts, next_at_delay=delay)

    # -- recording ------------------------------------------------------------------------------------

    def _take(self) -> list[_Record]:
        taken, self._pending = self._pending, []
        self._flushed.clear()
        return taken

    async def _flush_loop(self, sent_all: asyncio.Event) -> None:
        """Write outcomes as they come; whatever finished meanwhile goes in the same transaction."""
        while True:
            await self._flushed.wait()
            batch = self._take()
            if batch:
                try:
                    await self._write(batch)
                except Exception:
                    log.exception("recording %d outcomes failed; their rows are sent again after the lease", len(batch))
            if sent_all.is_set() and not self._pending:
                return

    async def _write(self, records: list[_Record]) -> None:
        if not records:
            return
        now = self.clock.now()
        async with self.uow_factory() as uow:
            for r in records:
                if r.release:
                    await uow.deliveries.release([r.delivery.id], self.worker)
                    continue
                next_at = now + timedelta(seconds=r.next_at_delay) if r.next_at_delay is not None else None
                kept = await uow.deliveries.record(
                    r.delivery.id, self.worker, r.status, now, error=r.error, attempts=r.attempts, next_at=next_at
                )
                if not kept:
                    self.stats.lost_leases += 1
                    log.warning("delivery %s: lease lost before its outcome was recorded", r.delivery.id)
                    continue
                if r.blocked:
                    await uow.users.set_unreachable(r.delivery.ref, now)
                self.stats.outcomes[r.status] = self.stats.outcomes.get(r.status, 0) + 1
            await uow.commit()

    async def _finish_campaigns(self, campaign_ids: set[int]) -> None:
        for campaign_id in campaign_ids:
            async with self.uow_factory() as uow:
                finished = await uow.deliveries.finish_campaign(campaign_id, self.clock.now())
                campaign = await uow.deliveries.get_campaign(campaign_id) if finished else None
                await uow.commit()
            if campaign is not None and self.on_campaign_done is not None:
                try:
                    await self.on_campaign_done(campaign)
                except Exception:
                    log.exception("reporting the end of campaign %s failed", campaign_id)


class _Skip(Exception):
    def __init__(self, status: DeliveryStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
