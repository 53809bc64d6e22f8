"""``bots.telegram.bulk.Pacer`` on a fake clock: spacing per bot, per chat and per group, the paid lane,
and the shared pause (kept at its longest, seen by other pacers on the same store)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bots.telegram.bulk import Pacer
from storage.kv import MemoryKeyValueStore

#: A refill that float rounding leaves a hair short is taken on the next try, at most 0.5 ms later.
JITTER = 0.001
EPS = 1e-6  # float resolution of epoch seconds (~2e-7 at 1.7e9)


class FakeTime:
    """Epoch and monotonic seconds that move only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


class CountingKV(MemoryKeyValueStore):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.reads = 0

    async def get_state(self, key: str) -> dict[str, Any] | None:
        self.reads += 1
        return await super().get_state(key)


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


@pytest.fixture
def kv(ft: FakeTime) -> CountingKV:
    return CountingKV(clock=ft.time)


def pacer(kv: CountingKV, ft: FakeTime, **kw: Any) -> Pacer:
    return Pacer(kv, "telegram:1", clock=ft.time, monotonic=ft.time, sleep=ft.sleep, **kw)


async def times(p: Pacer, ft: FakeTime, chats: list[int | str | None], *, paid: bool = False) -> list[float]:
    out = []
    for chat in chats:
        await p.wait(chat, paid=paid)
        out.append(ft.now)
    return out


def gaps(ts: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(ts)]


async def test_distinct_chats_are_spaced_evenly_below_the_global_limit(kv: CountingKV, ft: FakeTime) -> None:
    ts = await times(pacer(kv, ft), ft, list(range(1, 61)))
    assert all(1 / 29.4 - EPS <= g < 1 / 29.4 + JITTER for g in gaps(ts))  # burst 1: no two ever come together
    assert max(sum(1 for t in ts if start <= t < start + 1) for start in ts) <= 30


async def test_one_private_chat_gets_one_call_per_second(kv: CountingKV, ft: FakeTime) -> None:
    ts = await times(pacer(kv, ft), ft, [7, 7, 7])
    assert all(g >= 1.0 for g in gaps(ts))
    assert ts[-1] - ts[0] == pytest.approx(2 / 0.98, rel=0.01)


async def test_groups_get_twenty_a_minute(kv: CountingKV, ft: FakeTime) -> None:
    ts = await times(pacer(kv, ft), ft, [-100123, "-100123", -100123, "@news", "@news"])
    assert all(g >= 3.0 for g in gaps(ts[:3]))  # "-100123" and -100123 are one chat
    assert ts[4] - ts[3] >= 3.0
    assert ts[3] - ts[2] < 0.1  # another chat: only the bot's own spacing


async def test_paid_sends_use_their_own_faster_bucket(kv: CountingKV, ft: FakeTime) -> None:
    p = pacer(kv, ft)
    ts = await times(p, ft, list(range(1, 301)), paid=True)
    assert all(1 / 950.6 - EPS <= g < 1 / 950.6 + JITTER for g in gaps(ts))
    free = await times(p, ft, [1001, 1002])  # the free bucket was not touched by the paid lane
    assert free[0] == ts[-1]


async def test_calls_without_a_chat_only_wait_for_the_bot(kv: CountingKV, ft: FakeTime) -> None:
    ts = await times(pacer(kv, ft), ft, [None, None, None])
    assert all(1 / 29.4 - EPS <= g < 1 / 29.4 + JITTER for g in gaps(ts))


async def test_a_pause_holds_every_call_and_the_longest_one_stays(kv: CountingKV, ft: FakeTime) -> None:
    p = pacer(kv, ft)
    start = ft.now
    await p.pause(5)
    await p.pause(1)  # shorter: does not shorten it
    assert await p.paused_for() == pytest.approx(5)
    await p.wait(1, paid=False)
    assert ft.now >= start + 5
    assert await p.paused_for() == 0


async def test_the_pause_is_shared_through_the_store(kv: CountingKV, ft: FakeTime) -> None:
    a, b = pacer(kv, ft), pacer(kv, ft)
    assert await b.paused_for() == 0  # cached as "no pause" for pause_cache
    start = ft.now
    await a.pause(2)
    await a.pause(0)  # nothing
    ft.now += 0.02  # past b's cache
    assert await b.paused_for() == pytest.approx(1.98)
    await b.wait(5, paid=True)
    assert ft.now >= start + 2
    # a pause set by another process that starts later than the one known here is found after it
    await b.pause(1)
    await a.pause(3)
    assert await b.paused_for() == pytest.approx(1)  # known locally: no read needed
    ft.now += 1.0
    assert await b.paused_for() == pytest.approx(2)  # the local one is over: the store is read again


async def test_the_pause_is_read_from_the_store_at_most_every_pause_cache(kv: CountingKV, ft: FakeTime) -> None:
    p = pacer(kv, ft, pause_cache=0.05)
    for _ in range(10):
        await p.paused_for()
    assert kv.reads == 1
    ft.now += 0.051
    await p.paused_for()
    assert kv.reads == 2


async def test_rates_are_checked() -> None:
    store = MemoryKeyValueStore()
    with pytest.raises(ValueError):
        Pacer(store, "k", margin=0)
    with pytest.raises(ValueError):
        Pacer(store, "k", per_second=0)
    with pytest.raises(ValueError):
        Pacer(store, "k", paid_per_second=30)
