"""Leader election on the shared key-value store (Redis when REDIS_URL is set): one leader at a time,
a follower takes over when the leader stops renewing, and a leader that lost the lock stops firing.

Real time, short locks (ttl 0.6 s: renewed every 0.2 s; followers retry every 0.05 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

import bot
from core.ports import KeyValueStore
from jobs.leader import LeaderLock
from jobs.scheduler import LeadingScheduler
from storage.kv import MemoryKeyValueStore

TTL, RETRY = 0.6, 0.05


class Events:
    def __init__(self) -> None:
        self.log: list[str] = []

    def callbacks(self, name: str) -> dict[str, Callable[[], object]]:
        async def elected() -> None:
            self.log.append(f"{name} elected")

        async def deposed() -> None:
            self.log.append(f"{name} deposed")

        return {"on_elected": elected, "on_deposed": deposed}


def lock(kv: KeyValueStore, name: str, events: Events) -> LeaderLock:
    return LeaderLock(kv, "test", ttl=TTL, retry=RETRY, **events.callbacks(name))  # type: ignore[arg-type]


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_only_one_leads_and_a_follower_takes_over_when_the_leader_stops_renewing(kv: KeyValueStore) -> None:
    events = Events()
    a, b = lock(kv, "a", events), lock(kv, "b", events)
    assert await a.attempt() is True
    assert await b.attempt() is False
    assert await a.attempt() is True  # renewing keeps it
    assert events.log == ["a elected"]

    stop = asyncio.Event()
    follower = asyncio.ensure_future(b.run(stop))
    await asyncio.sleep(TTL / 2)
    assert not b.is_leader  # a's lock is still alive
    # a hangs (no renewal) from here on: its lock runs out within ttl and b takes over
    waited = await until(lambda: b.is_leader)
    assert waited < TTL + 3 * RETRY
    assert events.log == ["a elected", "b elected"]

    assert await a.attempt() is False  # a wakes up: its renewal fails, so it steps down at once
    assert events.log == ["a elected", "b elected", "a deposed"]
    assert not a.is_leader and b.is_leader
    stop.set()
    await follower  # b stops and releases the lock ...
    assert events.log[-1] == "b deposed"
    assert await a.attempt() is True  # ... so a leads again at once, without waiting for it to expire


async def test_two_running_locks_never_lead_together(kv: KeyValueStore) -> None:
    events = Events()
    locks = [lock(kv, name, events) for name in "abc"]
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(x.run(stop)) for x in locks]
    await until(lambda: any(x.is_leader for x in locks))
    for _ in range(40):  # 1 s: the leader renews, the others keep trying
        assert sum(x.is_leader for x in locks) == 1
        await asyncio.sleep(0.025)
    stop.set()
    await asyncio.gather(*tasks)
    assert not any(x.is_leader for x in locks)
    assert [e for e in events.log if e.endswith("elected")] == [events.log[0]]  # one election in all that time


class Counting:
    """What a leader fires: a job every 50 ms, counted."""

    def __init__(self) -> None:
        self.fired = 0

    def build(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone="UTC")

        async def tick() -> None:
            self.fired += 1

        scheduler.add_job(tick, "interval", seconds=0.05, id="tick", max_instances=1, coalesce=True)
        return scheduler


async def test_a_leader_that_lost_the_lock_stops_firing(app: bot.App, kv: KeyValueStore) -> None:
    jobs = Counting()
    leader = LeadingScheduler(jobs.build, app.uow, kv, name="test", ttl=TTL, retry=RETRY)
    await leader.start()
    assert leader.lock.is_leader and leader.scheduler is not None
    await until(lambda: jobs.fired >= 3)

    # Someone else holds the lock now (the leader was frozen past its ttl and another took over).
    token = leader.lock._token
    assert token is not None and await kv.release_lock(leader.lock.key, token)
    assert await kv.acquire_lock(leader.lock.key, 30) is not None
    await until(lambda: not leader.lock.is_leader, timeout=TTL)  # noticed at its next renewal
    assert leader.scheduler is None
    fired = jobs.fired
    await asyncio.sleep(0.3)
    assert jobs.fired == fired  # stopped firing
    await leader.aclose()


async def test_a_standby_scheduler_starts_when_the_leader_stops(app: bot.App, kv: KeyValueStore) -> None:
    first, second = Counting(), Counting()
    a = LeadingScheduler(first.build, app.uow, kv, name="test", ttl=TTL, retry=RETRY)
    b = LeadingScheduler(second.build, app.uow, kv, name="test", ttl=TTL, retry=RETRY)
    await a.start()
    await b.start()
    await until(lambda: first.fired >= 3)
    assert second.fired == 0 and b.scheduler is None
    await a.aclose()  # a clean stop releases the lock: b takes over within its retry interval
    waited = await until(lambda: second.fired >= 1)
    assert waited < TTL
    fired = first.fired
    await asyncio.sleep(0.2)
    assert first.fired == fired
    await b.aclose()


class FlakyStore(MemoryKeyValueStore):
    """The in-process store, unreachable while ``down`` (as Redis is during an outage)."""

    down = False

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        if self.down:
            raise ConnectionError("Redis is down")
        return await super().acquire_lock(key, ttl)

    async def renew_lock(self, key: str, token: str, ttl: float) -> bool:
        if self.down:
            raise ConnectionError("Redis is down")
        return await super().renew_lock(key, token, ttl)


async def test_a_leader_that_cannot_reach_the_store_steps_down_before_its_lock_could_expire() -> None:
    store, now, events = FlakyStore(), [0.0], Events()
    leader = LeaderLock(store, "x", ttl=15, monotonic=lambda: now[0], **events.callbacks("a"))  # type: ignore[arg-type]
    assert await leader.attempt() is True
    store.down = True
    now[0] = 5.0  # the first renewal fails: the lock is good for 10 s more, past the next renewal
    with pytest.raises(ConnectionError):
        await leader.attempt()
    assert leader.is_leader
    now[0] = 10.0  # the second fails too: the lock may expire before a third, so it steps down now
    with pytest.raises(ConnectionError):
        await leader.attempt()
    assert not leader.is_leader and events.log == ["a elected", "a deposed"]
    store.down = False  # back: the lock it still holds is renewed, and it leads again
    assert await leader.attempt() is True and events.log[-1] == "a elected"
