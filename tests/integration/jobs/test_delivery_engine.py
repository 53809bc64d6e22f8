"""The delivery engine against a real database: record before send, claim, outcomes, exactly once.

The messenger is a recording fake :class:`BulkSender`; the Telegram and WeChat senders have their own tests.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import bot
from core.accounts import ensure_user
from core.clock import FrozenClock
from core.delivery import Campaign, CampaignKind, CampaignStatus, DeliveryStatus, NewDelivery, Outcome, SendResult
from core.events import Sender
from core.ports import SendLimits
from core.replies import Reply, TextReply
from core.users import Ref
from jobs.delivery import DeliveryEngine


class FakeSender:
    channel = "console"

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[Ref, tuple[Reply, ...]]] = []
        self.script: dict[str, list[SendResult]] = {}
        self.delay = delay

    def limits(self, *, paid: bool) -> SendLimits:
        return SendLimits("console", 1000, 1000)

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        queue = self.script.get(ref.external_id)
        if queue:
            result = queue.pop(0)
            if result.outcome is not Outcome.SENT:
                return result
        self.sent.append((ref, tuple(replies)))
        return SendResult(Outcome.SENT)


async def _campaign(app: bot.App, clock: FrozenClock, n: int, *, text: str = "Hello") -> Campaign:
    async with app.uow() as uow:
        campaign = await uow.deliveries.create_campaign(
            kind=CampaignKind.BROADCAST,
            creator_id=None,
            audience="all",
            channel=None,
            replies=[TextReply(text)],
            paid=False,
            now=clock.now(),
            status=CampaignStatus.RUNNING,
        )
        rows = []
        for i in range(n):
            user, _ = await ensure_user(uow, Sender(Ref("console", f"u{i:05d}")), now=clock.now(), timezone="UTC")
            rows.append(
                NewDelivery(
                    f"b:{campaign.id}:{user.id}", Ref("console", f"u{i:05d}"), user.id, clock.now(), campaign.id
                )
            )
        assert await uow.deliveries.add(rows) == n
        assert await uow.deliveries.add(rows) == 0  # the key makes recording idempotent
        await uow.commit()
    return campaign


def _engine(app: bot.App, clock: FrozenClock, sender: FakeSender, **kw: object) -> DeliveryEngine:
    return DeliveryEngine(app.uow, clock, {"console": sender}, **kw)  # type: ignore[arg-type]


async def test_every_row_is_sent_once_and_the_campaign_finishes_once(app: bot.App, clock: FrozenClock) -> None:
    campaign = await _campaign(app, clock, 250)
    sender = FakeSender()
    finished: list[int] = []

    async def done(c: Campaign) -> None:
        finished.append(c.id)

    engine = _engine(app, clock, sender, batch=100, on_campaign_done=done)
    while await engine.run_once():
        pass
    counts = Counter(ref.external_id for ref, _ in sender.sent)
    assert len(counts) == 250 and set(counts.values()) == {1}
    async with app.uow() as uow:
        progress = await uow.deliveries.progress(campaign.id)
        final = await uow.deliveries.get_campaign(campaign.id)
    assert progress == {DeliveryStatus.SENT: 250}
    assert final is not None and final.status is CampaignStatus.DONE
    assert finished == [campaign.id]


async def test_two_workers_never_send_a_row_twice(app: bot.App, clock: FrozenClock) -> None:
    await _campaign(app, clock, 300)
    sender = FakeSender(delay=0.001)
    a = _engine(app, clock, sender, worker="w1", batch=50, concurrency=8)
    b = _engine(app, clock, sender, worker="w2", batch=50, concurrency=8)

    async def drain(engine: DeliveryEngine) -> None:
        while await engine.run_once():
            pass

    await asyncio.gather(drain(a), drain(b))
    counts = Counter(ref.external_id for ref, _ in sender.sent)
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert a.stats.claimed > 0 and b.stats.claimed > 0  # both did work
    assert a.stats.claimed + b.stats.claimed == 300


async def test_outcomes_blocked_failed_flood_and_retry(app: bot.App, clock: FrozenClock) -> None:
    campaign = await _campaign(app, clock, 4)
    sender = FakeSender()
    sender.script = {
        "u00000": [SendResult(Outcome.BLOCKED, "Forbidden: bot was blocked by the user")],
        "u00001": [SendResult(Outcome.FAILED, "Bad Request: message is too long")],
        "u00002": [SendResult(Outcome.FLOOD, "429", retry_after=7)],
        "u00003": [SendResult(Outcome.RETRY, "502")],
    }
    engine = _engine(app, clock, sender)
    assert await engine.run_once() == 4
    assert await engine.run_once() == 0  # the flood and the retry wait for their time
    async with app.uow() as uow:
        blocked = await uow.deliveries.by_key(f"b:{campaign.id}:1")
        assert (await uow.users.reachable_refs(1)) == []  # the blocked identity is marked unreachable
        progress = await uow.deliveries.progress(campaign.id)
    assert blocked is not None and blocked.status is DeliveryStatus.BLOCKED
    assert progress[DeliveryStatus.FAILED] == 1 and progress[DeliveryStatus.PENDING] == 2
    clock.advance(timedelta(seconds=6))
    assert await engine.run_once() == 0  # retry_after is 7 s: no early retry
    clock.advance(timedelta(seconds=2))
    assert await engine.run_once() == 1  # the flood-controlled one
    clock.advance(timedelta(seconds=30))
    assert await engine.run_once() == 1  # the network error, after its backoff
    assert sorted(ref.external_id for ref, _ in sender.sent) == ["u00002", "u00003"]
    async with app.uow() as uow:
        final = await uow.deliveries.get_campaign(campaign.id)
    assert final is not None and final.status is CampaignStatus.DONE


async def test_transient_failures_give_up_after_max_attempts(app: bot.App, clock: FrozenClock) -> None:
    campaign = await _campaign(app, clock, 1)
    sender = FakeSender()
    sender.script = {"u00000": [SendResult(Outcome.RETRY, "timeout")] * 10}
    engine = _engine(app, clock, sender)
    for _ in range(10):
        await engine.run_once()
        clock.advance(timedelta(hours=2))
    async with app.uow() as uow:
        row = await uow.deliveries.by_key(f"b:{campaign.id}:1")
    assert row is not None and row.status is DeliveryStatus.FAILED and row.attempts == 5
    assert sender.sent == []


async def test_paused_campaigns_wait_and_cancelled_ones_stop(app: bot.App, clock: FrozenClock) -> None:
    campaign = await _campaign(app, clock, 20)
    sender = FakeSender()
    engine = _engine(app, clock, sender, batch=5)
    assert await engine.run_once() == 5
    async with app.uow() as uow:
        await uow.deliveries.set_campaign(campaign.id, status=CampaignStatus.PAUSED)
        await uow.commit()
    assert await engine.run_once() == 0  # nothing of a paused campaign is claimed
    async with app.uow() as uow:
        await uow.deliveries.set_campaign(campaign.id, status=CampaignStatus.RUNNING)
        await uow.commit()
    assert await engine.run_once() == 5
    async with app.uow() as uow:
        await uow.deliveries.set_campaign(campaign.id, status=CampaignStatus.CANCELLED)
        assert await uow.deliveries.cancel_pending(campaign.id) == 10
        await uow.commit()
    assert await engine.run_once() == 0
    assert len(sender.sent) == 10


async def test_a_dead_workers_rows_are_taken_over_after_the_lease(app: bot.App, clock: FrozenClock) -> None:
    campaign = await _campaign(app, clock, 10)
    async with app.uow() as uow:  # a worker claims and dies before sending anything
        claimed = await uow.deliveries.claim(
            "dead", clock.now(), lease_until=clock.now() + timedelta(minutes=2), limit=10
        )
        await uow.commit()
    assert len(claimed) == 10
    sender = FakeSender()
    engine = _engine(app, clock, sender)
    assert await engine.run_once() == 0  # still leased
    clock.advance(timedelta(minutes=2, seconds=1))
    assert await engine.run_once() == 10
    async with app.uow() as uow:  # the dead worker can no longer overwrite what the new one recorded
        assert not await uow.deliveries.record(claimed[0].id, "dead", DeliveryStatus.FAILED, clock.now())
        assert (await uow.deliveries.progress(campaign.id)) == {DeliveryStatus.SENT: 10}
