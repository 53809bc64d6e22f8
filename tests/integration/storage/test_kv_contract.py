"""One contract for both key-value stores (``storage.kv``).

Every test runs against the in-process store and against Redis; the Redis
run is skipped when ``REDIS_URL`` is unset (CI sets it). Each test gets a
fresh random namespace, and the Redis fixture deletes that namespace's keys
afterwards. Sleeps are short (rate 20/s, ttl 0.1 s) to keep the file fast.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import redis.exceptions

from core.ports import KeyValueStore
from storage.kv import MemoryKeyValueStore, RedisKeyValueStore, make_kv_store

pytestmark = pytest.mark.asyncio

MakeStore = Callable[[str], KeyValueStore]
TTL = 0.1
PAST_TTL = 0.15


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL not set")
    return url


async def _delete_namespaces(url: str, namespaces: list[str]) -> None:
    client = aioredis.from_url(url, decode_responses=True)
    try:
        for ns in namespaces:
            keys = [key async for key in client.scan_iter(match=f"{ns}*", count=500)]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


@pytest_asyncio.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    """A factory of stores of one kind; every store it makes is closed (and cleaned) afterwards."""
    url = _redis_url() if request.param == "redis" else None
    stores: list[KeyValueStore] = []
    namespaces: list[str] = []

    def make(namespace: str) -> KeyValueStore:
        store: KeyValueStore = (
            MemoryKeyValueStore(namespace=namespace) if url is None else RedisKeyValueStore(url, namespace=namespace)
        )
        stores.append(store)
        namespaces.append(namespace)
        return store

    yield make
    for store in stores:
        await store.close()
    if url is not None:
        await _delete_namespaces(url, namespaces)


def _ns() -> str:
    return f"test-{uuid.uuid4().hex}:"


@pytest.fixture
def store(make_store: MakeStore) -> KeyValueStore:
    return make_store(_ns())


# --- dedup --------------------------------------------------------------------


async def test_set_if_absent_first_second_after_expiry(store: KeyValueStore) -> None:
    assert await store.set_if_absent("update:1", TTL) is True
    assert await store.set_if_absent("update:1", TTL) is False
    assert await store.set_if_absent("update:2", TTL) is True
    await asyncio.sleep(PAST_TTL)
    assert await store.set_if_absent("update:1", TTL) is True


@pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf])
async def test_ttl_must_be_positive(store: KeyValueStore, ttl: float) -> None:
    with pytest.raises(ValueError):
        await store.set_if_absent("k", ttl)
    with pytest.raises(ValueError):
        await store.acquire_lock("k", ttl)
    with pytest.raises(ValueError):
        await store.set_state("k", {"a": 1}, ttl)


async def test_tiny_ttl_is_at_least_a_millisecond(store: KeyValueStore) -> None:
    assert await store.set_if_absent("k", 0.0001) is True
    await asyncio.sleep(0.01)
    assert await store.set_if_absent("k", 0.0001) is True


# --- token bucket -------------------------------------------------------------


async def test_take_burst_then_refusal_with_retry_after(store: KeyValueStore) -> None:
    for _ in range(3):
        decision = await store.take("user:1", rate=20, burst=3)
        assert decision.allowed is True
        assert decision.retry_after == 0.0
    refused = await store.take("user:1", rate=20, burst=3)
    assert refused.allowed is False
    # One token takes 1/20 s; a few ms may already have refilled.
    assert 0.03 < refused.retry_after <= 0.05 + 1e-9
    # Other keys have their own bucket.
    assert (await store.take("user:2", rate=20, burst=3)).allowed is True


async def test_take_refills_up_to_burst(store: KeyValueStore) -> None:
    for _ in range(2):
        assert (await store.take("k", rate=20, burst=2)).allowed
    assert not (await store.take("k", rate=20, burst=2)).allowed
    await asyncio.sleep(0.15)  # 3 tokens' worth, capped at burst 2
    assert (await store.take("k", rate=20, burst=2)).allowed
    assert (await store.take("k", rate=20, burst=2)).allowed
    assert not (await store.take("k", rate=20, burst=2)).allowed


async def test_take_cost_above_one_and_refusal_takes_nothing(store: KeyValueStore) -> None:
    rate = 1.0  # slow: no meaningful refill during the test
    assert (await store.take("k", rate=rate, burst=5, cost=3)).allowed  # 2 left
    refused = await store.take("k", rate=rate, burst=5, cost=3)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1.0, abs=0.05)  # (3 - 2) / 1
    assert (await store.take("k", rate=rate, burst=5, cost=2)).allowed  # the refusal took nothing
    assert not (await store.take("k", rate=rate, burst=5, cost=1)).allowed


@pytest.mark.parametrize(
    ("rate", "burst", "cost"),
    [(0, 5, 1), (-1, 5, 1), (math.nan, 5, 1), (math.inf, 5, 1), (1, 0, 1), (1, 5, 0), (1, 5, 6), (1, 5, -1)],
)
async def test_take_validates_arguments(store: KeyValueStore, rate: float, burst: int, cost: int) -> None:
    with pytest.raises(ValueError):
        await store.take("k", rate=rate, burst=burst, cost=cost)


async def test_concurrent_take_grants_exactly_burst(store: KeyValueStore) -> None:
    decisions = await asyncio.gather(*(store.take("hot", rate=0.01, burst=10) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 10
    assert all(d.retry_after > 0 for d in decisions if not d.allowed)


async def test_concurrent_set_if_absent_and_lock_have_one_winner(store: KeyValueStore) -> None:
    firsts = await asyncio.gather(*(store.set_if_absent("once", 5) for _ in range(50)))
    assert firsts.count(True) == 1
    tokens = await asyncio.gather(*(store.acquire_lock("job", 5) for _ in range(50)))
    assert len([t for t in tokens if t is not None]) == 1


# --- locks --------------------------------------------------------------------


async def test_lock_acquire_contend_release(store: KeyValueStore) -> None:
    token = await store.acquire_lock("job", 5)
    assert isinstance(token, str) and token
    assert await store.acquire_lock("job", 5) is None
    assert await store.release_lock("job", "not-the-token") is False
    assert await store.acquire_lock("job", 5) is None  # still held
    assert await store.release_lock("job", token) is True
    assert await store.release_lock("job", token) is False  # already released
    again = await store.acquire_lock("job", 5)
    assert again is not None and again != token


async def test_lock_expires(store: KeyValueStore) -> None:
    old = await store.acquire_lock("job", TTL)
    assert old is not None
    await asyncio.sleep(PAST_TTL)
    new = await store.acquire_lock("job", 5)
    assert new is not None
    assert await store.release_lock("job", old) is False  # the stale holder cannot free the new lock
    assert await store.acquire_lock("job", 5) is None
    assert await store.release_lock("job", new) is True


async def test_renew_keeps_a_held_lock_past_its_first_ttl(store: KeyValueStore) -> None:
    token = await store.acquire_lock("leader", TTL)
    assert token is not None
    for _ in range(3):  # renewed every half ttl: held for three ttls
        await asyncio.sleep(TTL / 2)
        assert await store.renew_lock("leader", token, TTL) is True
    assert await store.acquire_lock("leader", 5) is None
    assert await store.renew_lock("leader", "not-the-token", 5) is False
    assert await store.acquire_lock("leader", 5) is None  # a wrong token changed nothing
    assert await store.release_lock("leader", token) is True


async def test_renew_fails_once_the_lock_was_lost(store: KeyValueStore) -> None:
    old = await store.acquire_lock("leader", TTL)
    assert old is not None
    await asyncio.sleep(PAST_TTL)
    assert await store.renew_lock("leader", old, 5) is False  # expired: renewing does not take it back
    assert await store.acquire_lock("leader", TTL) is not None  # ... so it was still free
    new = await store.acquire_lock("leader2", 5)
    assert new is not None and await store.renew_lock("leader2", old, 5) is False  # another's lock
    assert await store.release_lock("leader2", new) is True
    assert await store.renew_lock("leader2", new, 5) is False  # released
    with pytest.raises(ValueError):
        await store.renew_lock("leader2", new, 0)


# --- state --------------------------------------------------------------------


async def test_state_roundtrip_unicode_nested(store: KeyValueStore) -> None:
    value: dict[str, Any] = {
        "step": "名字",
        "answers": {"课程": ["第一课", "第二课"], "n": 3, "ok": True, "none": None, "x": 1.5},
        "emoji": "🌊",
    }
    assert await store.get_state("chat:1") is None
    await store.set_state("chat:1", value, 5)
    got = await store.get_state("chat:1")
    assert got == value
    assert got is not value
    assert got is not None
    got["step"] = "changed"  # a copy: the store is unaffected
    assert await store.get_state("chat:1") == value


async def test_state_overwrite_clear_and_expiry(store: KeyValueStore) -> None:
    await store.set_state("s", {"v": 1}, 5)
    await store.set_state("s", {"v": 2}, 5)
    assert await store.get_state("s") == {"v": 2}
    await store.clear_state("s")
    assert await store.get_state("s") is None
    await store.clear_state("s")  # clearing nothing is fine
    await store.set_state("s", {"v": 3}, TTL)
    await asyncio.sleep(PAST_TTL)
    assert await store.get_state("s") is None


@pytest.mark.parametrize("bad", [{"o": object()}, {"s": {1, 2}}, {"b": b"bytes"}, {"f": math.nan}])
async def test_state_rejects_non_json(store: KeyValueStore, bad: dict[str, Any]) -> None:
    await store.set_state("s", {"keep": "me"}, 5)
    with pytest.raises((TypeError, ValueError)):
        await store.set_state("s", bad, 5)
    assert await store.get_state("s") == {"keep": "me"}  # nothing stored


async def test_state_must_be_a_dict(store: KeyValueStore) -> None:
    with pytest.raises(TypeError):
        await store.set_state("s", ["not", "a", "dict"], 5)  # type: ignore[arg-type]


# --- namespaces, kinds, ping --------------------------------------------------


async def test_namespaces_isolate(make_store: MakeStore) -> None:
    a, b = make_store(_ns()), make_store(_ns())
    assert await a.set_if_absent("k", 5) is True
    assert await b.set_if_absent("k", 5) is True
    assert await a.acquire_lock("k", 5) is not None
    assert await b.acquire_lock("k", 5) is not None
    await a.set_state("k", {"who": "a"}, 5)
    assert await b.get_state("k") is None
    assert (await a.take("k", rate=0.01, burst=1)).allowed
    assert (await b.take("k", rate=0.01, burst=1)).allowed


async def test_kinds_do_not_collide(store: KeyValueStore) -> None:
    assert await store.set_if_absent("k", 5)
    assert await store.acquire_lock("k", 5) is not None
    assert (await store.take("k", rate=1, burst=1)).allowed
    await store.set_state("k", {"a": 1}, 5)
    assert await store.get_state("k") == {"a": 1}


async def test_ping(store: KeyValueStore) -> None:
    assert await store.ping() is True


# --- implementation specifics ---------------------------------------------------


async def test_redis_ping_unreachable_is_false_and_fast() -> None:
    _redis_url()  # only where Redis runs (CI)
    store = RedisKeyValueStore("redis://127.0.0.1:1/0", namespace=_ns(), socket_timeout=1.0)
    try:
        started = time.monotonic()
        assert await store.ping() is False
        assert time.monotonic() - started < 1.5
        with pytest.raises(redis.exceptions.ConnectionError):
            await store.set_if_absent("k", 1)
    finally:
        await store.close()


async def test_redis_buckets_expire_when_idle() -> None:
    url = _redis_url()
    ns = _ns()
    store = RedisKeyValueStore(url, namespace=ns)
    client = aioredis.from_url(url, decode_responses=True)
    try:
        await store.take("k", rate=10, burst=5)
        keys = [key async for key in client.scan_iter(match=f"{ns}*")]
        assert len(keys) == 1
        # Refilling one token at 10/s takes 0.1 s; the key lives that long plus a margin, not forever.
        assert 0 < await client.pttl(keys[0]) <= 1100 + 100
    finally:
        await client.aclose()
        await store.close()
        await _delete_namespaces(url, [ns])


async def test_memory_sweeps_expired_entries_without_access() -> None:
    now = [0.0]
    store = MemoryKeyValueStore(sweep_every=10, clock=lambda: now[0])
    for i in range(100):
        await store.set_if_absent(f"old:{i}", 1)
    assert len(store) == 100
    now[0] = 2.0  # all of them expired, and none is touched again
    for i in range(100):
        await store.set_if_absent(f"new:{i}", 60)
    assert len(store) == 100  # the old ones were swept
    now[0] = 100.0
    assert store.sweep() == 100
    assert len(store) == 0


async def test_memory_stays_bounded_under_a_stream_of_unique_keys() -> None:
    now = [0.0]
    store = MemoryKeyValueStore(sweep_every=50, clock=lambda: now[0])
    largest = 0
    for i in range(5000):  # one new key a second, each living 10 s
        now[0] = float(i)
        await store.set_if_absent(f"update:{i}", 10)
        await store.take(f"user:{i}", rate=1, burst=2)  # buckets expire too
        largest = max(largest, len(store))
    # Live: ~10 dedup marks and ~3 buckets; garbage at most max(sweep_every, live) more.
    assert largest <= 2 * 50 + 30


async def test_make_kv_store_picks_the_implementation() -> None:
    memory = make_kv_store(None)
    assert isinstance(memory, MemoryKeyValueStore)
    assert memory.namespace == "ks:"
    remote = make_kv_store("redis://127.0.0.1:1/0", namespace="app")  # no connection is made
    assert isinstance(remote, RedisKeyValueStore)
    assert remote.namespace == "app:"
    await remote.close()


@pytest.mark.parametrize("namespace", ["", "a*", "a?", "a[b]", "a\\b"])
async def test_namespace_rejects_glob_characters(namespace: str) -> None:
    with pytest.raises(ValueError):
        MemoryKeyValueStore(namespace=namespace)


async def test_reserve_books_slots_exactly_one_interval_apart(store: KeyValueStore) -> None:
    waits = await asyncio.gather(*(store.reserve("sched", interval=0.05, max_wait=1.0) for _ in range(10)))
    booked = sorted(w for w in waits if w is not None)
    assert len(booked) == 10
    assert booked[0] < 0.02
    gaps = [b - a for a, b in itertools.pairwise(booked)]
    assert all(0.045 <= g <= 0.055 for g in gaps), gaps  # never closer than the interval, never drifting


async def test_reserve_refuses_beyond_max_wait_and_books_nothing(store: KeyValueStore) -> None:
    assert await store.reserve("far", interval=1.0, max_wait=0.5) == 0
    assert await store.reserve("far", interval=1.0, max_wait=0.5) is None  # would wait ~1 s
    wait = await store.reserve("far", interval=1.0, max_wait=5.0)
    assert wait is not None and 0.9 <= wait <= 1.0  # the refusal booked nothing
    with pytest.raises(ValueError):
        await store.reserve("bad", interval=0, max_wait=1)
