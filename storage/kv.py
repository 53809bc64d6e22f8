"""Key-value store: :class:`core.ports.KeyValueStore` in process and on Redis.

The store holds the short-lived state the bot shares between handlers and
processes: dedup marks, token-bucket rate limits, locks and conversation
state. Two implementations pass one contract test suite
(``tests/storage/test_kv_contract.py``), so code written against the port
behaves the same on either:

* :class:`MemoryKeyValueStore` for ``python bot.py demo``, tests and a
  single process (it is not shared between processes);
* :class:`RedisKeyValueStore` as soon as several processes run.

:func:`make_kv_store` picks one from the configured ``REDIS_URL``.

The contract:

* Every key is stored under ``namespace`` (``"ks:"`` by default; a missing
  trailing ``:`` is added) and a per-kind prefix (``dedup:``, ``rate:``,
  ``lock:``, ``state:``), so one ``key`` used for a rate limit and a lock
  never collides, and tests can isolate (and clean up) a namespace.
* ``ttl`` is in seconds, positive and finite (else ValueError); it is
  rounded *up* to whole milliseconds, at least 1 ms, as Redis ``PX`` needs.
* ``set_if_absent`` is True the first time only, until ``ttl`` runs out.
* ``take`` is a token bucket that starts full, refills continuously at
  ``rate``/s up to ``burst`` and takes ``cost`` only when that many tokens
  are there; a refusal takes nothing and says when it would pass
  (``(cost - tokens) / rate``). ``rate > 0``, ``burst >= 1`` and
  ``1 <= cost <= burst`` (else ValueError).
* ``acquire_lock`` returns a random token (None while held); only that
  token releases it, and it expires after ``ttl`` anyway. ``renew_lock``
  sets a held lock to expire ``ttl`` from now, only for the token holding
  it (False once it expired or another took it: the holder lost it).
* State is a JSON object, stored encoded: what comes back is a fresh copy
  with JSON semantics (tuples become lists, keys become strings). Values JSON
  cannot encode raise TypeError (ValueError for NaN and cycles) and store
  nothing.

Why the memory store is asyncio-safe without locks: no method awaits between
reading and writing an entry, so on one event loop every operation is atomic.
It is not thread-safe. Its time is ``time.monotonic()`` (injectable as
``clock``), so wall-clock jumps neither refill buckets nor expire keys.
Its memory stays bounded: an expired entry is dropped when next touched, and
a sweep drops every expired entry, touched or not, ``max(sweep_every, L)``
operations after the previous sweep left ``L`` entries. So garbage never
exceeds ``max(sweep_every, L)`` entries, and a sweep (O(entries)) costs
amortised O(1) per operation. Every entry expires (a bucket once it would be
full again), so nothing stays forever.

How the Redis store stays correct with several processes: ``set_if_absent``
and ``acquire_lock`` are one ``SET NX PX``; ``take`` is one Lua script
(``EVALSHA``, loaded on demand) keeping ``tokens`` and the last update time in
a hash, using the server's ``TIME`` rather than the caller's clock so
processes with skewed clocks agree, and expiring the hash once the bucket
would be full again (plus a margin) so idle buckets vanish; ``release_lock``
is a Lua compare-and-delete, so a holder whose lock expired and was taken by
another cannot delete the new holder's lock; ``renew_lock`` is a Lua
compare-and-``PEXPIRE`` for the same reason.

Redis failures: sockets time out after ``socket_timeout`` seconds, so an
unreachable Redis fails fast instead of hanging a handler. Operations then
raise ``redis.exceptions.ConnectionError`` (or ``redis.exceptions.TimeoutError``)
for the caller to handle; only ``ping()`` turns them into False. Commands are
not retried by default (``retries=0``): had Redis applied ``SET NX`` and the
reply been lost, a retry would report a fresh key as a duplicate (or a lock
as taken) and silently drop work. redis-py still reconnects a stale pooled
connection before using it.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from core.ports import KeyValueStore, RateDecision

__all__ = ["DEFAULT_NAMESPACE", "MemoryKeyValueStore", "RedisKeyValueStore", "make_kv_store"]

DEFAULT_NAMESPACE = "ks:"

# Per-kind prefixes, after the namespace: kinds never share a key.
_DEDUP = "dedup:"
_RATE = "rate:"
_LOCK = "lock:"
_STATE = "state:"
_SLOT = "slot:"

# An idle bucket is dropped this long after it would be full again (a full
# bucket and a missing one mean the same thing).
_BUCKET_IDLE_MARGIN_S = 1.0

_GLOB_CHARS = frozenset("*?[]\\")


def make_kv_store(redis_url: str | None, *, namespace: str = DEFAULT_NAMESPACE) -> KeyValueStore:
    """Redis when ``redis_url`` is set, otherwise the in-process store.

    No connection is made here: a down Redis shows up at the first
    operation (or as ``ping() is False``), not at start-up.
    """
    if redis_url is None:
        return MemoryKeyValueStore(namespace=namespace)
    return RedisKeyValueStore(redis_url, namespace=namespace)


# --- shared rules ----------------------------------------------------------


def _namespace(namespace: str) -> str:
    """``"ks"`` and ``"ks:"`` both mean ``"ks:"``.

    Glob characters are refused so ``SCAN MATCH <namespace>*`` selects
    exactly this namespace's keys.
    """
    if not namespace:
        raise ValueError("namespace must not be empty")
    if _GLOB_CHARS.intersection(namespace):
        raise ValueError(f"namespace must not contain any of '*?[]\\': {namespace!r}")
    return namespace if namespace.endswith(":") else namespace + ":"


def _ttl_ms(ttl: float) -> int:
    """``ttl`` seconds as whole milliseconds, rounded up, at least 1."""
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
    return max(1, math.ceil(ttl * 1000))


def _check_slot(interval: float, max_wait: float) -> None:
    if not interval > 0 or max_wait < 0:
        raise ValueError(f"a schedule needs interval > 0 and max_wait >= 0, got {interval} and {max_wait}")


def _check_bucket(rate: float, burst: int, cost: int) -> None:
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be positive, got {rate!r}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst!r}")
    if not 1 <= cost <= burst:
        raise ValueError(f"cost must be between 1 and burst ({burst}), got {cost!r}")


def _encode_state(value: dict[str, Any]) -> str:
    if not isinstance(value, dict):
        raise TypeError(f"state must be a dict, got {type(value).__name__}")
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _decode_state(raw: str | bytes) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError("stored state is not a JSON object")
    return value


def _lock_token() -> str:
    """Unguessable: only the holder can release the lock."""
    return secrets.token_urlsafe(16)


# --- in process ------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    expires_at: float  # on the store's clock
    value: Any  # dedup: None; lock: token; state: JSON text; rate: _Bucket


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class MemoryKeyValueStore:
    """A dict with expiry; see the module docstring for the guarantees."""

    def __init__(
        self,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        sweep_every: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` returns seconds (monotonic); ``sweep_every`` is the least number of
        operations between two sweeps of expired entries.
        """
        if sweep_every < 1:
            raise ValueError("sweep_every must be at least 1")
        self._ns = _namespace(namespace)
        self._sweep_every = sweep_every
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._ops = 0  # operations since the last sweep
        self._sweep_due = sweep_every  # ... when the next one is due

    def __len__(self) -> int:
        """Entries held, expired ones not yet swept included."""
        return len(self._entries)

    @property
    def namespace(self) -> str:
        return self._ns

    async def set_if_absent(self, key: str, ttl: float) -> bool:
        seconds = _ttl_ms(ttl) / 1000
        now = self._tick()
        full = self._ns + _DEDUP + key
        if self._live(full, now) is not None:
            return False
        self._entries[full] = _Entry(now + seconds, None)
        return True

    async def take(self, key: str, *, rate: float, burst: int, cost: int = 1) -> RateDecision:
        _check_bucket(rate, burst, cost)
        now = self._tick()
        full = self._ns + _RATE + key
        entry = self._live(full, now)
        if entry is None:
            tokens = float(burst)
        else:
            bucket: _Bucket = entry.value
            tokens = min(float(burst), bucket.tokens + max(0.0, now - bucket.at) * rate)
        if tokens >= cost:
            tokens -= cost
            decision = RateDecision(True, 0.0)
        else:
            decision = RateDecision(False, (cost - tokens) / rate)
        expires_at = now + (burst - tokens) / rate + _BUCKET_IDLE_MARGIN_S
        self._entries[full] = _Entry(expires_at, _Bucket(tokens, now))
        return decision

    async def reserve(self, key: str, *, interval: float, max_wait: float) -> float | None:
        _check_slot(interval, max_wait)
        now = self._tick()
        full = self._ns + _SLOT + key
        entry = self._live(full, now)
        slot = max(float(entry.value), now) if entry is not None else now
        wait = slot - now
        if wait > max_wait:
            return None
        self._entries[full] = _Entry(slot + interval + _BUCKET_IDLE_MARGIN_S, slot + interval)
        return wait

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        seconds = _ttl_ms(ttl) / 1000
        now = self._tick()
        full = self._ns + _LOCK + key
        if self._live(full, now) is not None:
            return None
        token = _lock_token()
        self._entries[full] = _Entry(now + seconds, token)
        return token

    async def release_lock(self, key: str, token: str) -> bool:
        now = self._tick()
        full = self._ns + _LOCK + key
        entry = self._live(full, now)
        if entry is None or entry.value != token:
            return False
        del self._entries[full]
        return True

    async def renew_lock(self, key: str, token: str, ttl: float) -> bool:
        seconds = _ttl_ms(ttl) / 1000
        now = self._tick()
        entry = self._live(self._ns + _LOCK + key, now)
        if entry is None or entry.value != token:
            return False
        entry.expires_at = now + seconds
        return True

    async def get_state(self, key: str) -> dict[str, Any] | None:
        entry = self._live(self._ns + _STATE + key, self._tick())
        return None if entry is None else _decode_state(entry.value)

    async def set_state(self, key: str, value: dict[str, Any], ttl: float) -> None:
        seconds = _ttl_ms(ttl) / 1000
        raw = _encode_state(value)  # before touching anything: a bad value changes nothing
        now = self._tick()
        self._entries[self._ns + _STATE + key] = _Entry(now + seconds, raw)

    async def clear_state(self, key: str) -> None:
        self._tick()
        self._entries.pop(self._ns + _STATE + key, None)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Nothing to release; entries stay readable."""

    def sweep(self) -> int:
        """Drop every expired entry now; returns how many went."""
        now = self._clock()
        dead = [k for k, e in self._entries.items() if e.expires_at <= now]
        for k in dead:
            del self._entries[k]
        self._ops = 0
        self._sweep_due = max(self._sweep_every, len(self._entries))
        return len(dead)

    def _tick(self) -> float:
        """Count one operation, sweeping when due; the current time."""
        self._ops += 1
        if self._ops >= self._sweep_due:
            self.sweep()
        return self._clock()

    def _live(self, full: str, now: float) -> _Entry | None:
        entry = self._entries.get(full)
        if entry is not None and entry.expires_at <= now:
            del self._entries[full]
            return None
        return entry


# --- Redis -----------------------------------------------------------------

# KEYS[1] bucket hash; ARGV rate (tokens/s), burst, cost, idle margin (ms).
# Returns {1 or 0, retry_after as a string} (Lua numbers become integers in replies).
_RESERVE_LUA = """
-- GCRA virtual scheduling: KEYS[1] holds the next free slot (µs, Redis clock). Returns the wait in µs, or -1.
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1])) or now
if slot < now then slot = now end
local wait = slot - now
if wait > max_wait then return -1 end
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', math.ceil((wait + interval) / 1000) + 1000)
return wait
"""

_TAKE_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local margin_ms = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1])
local at = tonumber(saved[2])
if tokens == nil or at == nil then
  tokens = burst
else
  local elapsed = (now - at) / 1000000
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tokens + elapsed * rate)
end
local allowed = 0
local retry_after = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_after = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.0f', now))
local ttl = math.ceil((burst - tokens) / rate * 1000) + margin_ms
if ttl > 1e15 then ttl = 1e15 end
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
return {allowed, string.format('%.17g', retry_after)}
"""

# KEYS[1] lock; ARGV[1] token. 1 if deleted, 0 if the token does not hold it.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] lock; ARGV[1] token, ARGV[2] ttl (ms). 1 if the token holds it (now expiring after ttl), else 0.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class RedisKeyValueStore:
    """A :class:`core.ports.KeyValueStore` on one Redis (URL: ``redis://``, ``rediss://``, ``unix://``)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        socket_timeout: float = 2.0,
        retries: int = 0,
    ) -> None:
        """``socket_timeout`` bounds connecting and every reply (seconds); ``retries``
        re-sends a command after a connection error (see the module docstring
        for why it is 0). Nothing connects until the first operation.
        """
        self._ns = _namespace(namespace)
        self._client: aioredis.Redis = aioredis.from_url(
            url,
            decode_responses=True,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
        )
        self._take = self._client.register_script(_TAKE_LUA)
        self._release = self._client.register_script(_RELEASE_LUA)
        self._renew = self._client.register_script(_RENEW_LUA)
        self._reserve = self._client.register_script(_RESERVE_LUA)

    @property
    def namespace(self) -> str:
        return self._ns

    async def set_if_absent(self, key: str, ttl: float) -> bool:
        ms = _ttl_ms(ttl)
        return bool(await self._client.set(self._ns + _DEDUP + key, "1", nx=True, px=ms))

    async def take(self, key: str, *, rate: float, burst: int, cost: int = 1) -> RateDecision:
        _check_bucket(rate, burst, cost)
        margin_ms = round(_BUCKET_IDLE_MARGIN_S * 1000)
        allowed, retry_after = await self._take(
            keys=[self._ns + _RATE + key], args=[repr(float(rate)), int(burst), int(cost), margin_ms]
        )
        if int(allowed):
            return RateDecision(True, 0.0)
        return RateDecision(False, float(retry_after))

    async def reserve(self, key: str, *, interval: float, max_wait: float) -> float | None:
        _check_slot(interval, max_wait)
        wait_us = await self._reserve(
            keys=[self._ns + _SLOT + key], args=[round(interval * 1e6), round(max_wait * 1e6)]
        )
        return None if int(wait_us) < 0 else int(wait_us) / 1e6

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        ms = _ttl_ms(ttl)
        token = _lock_token()
        acquired = await self._client.set(self._ns + _LOCK + key, token, nx=True, px=ms)
        return token if acquired else None

    async def release_lock(self, key: str, token: str) -> bool:
        return bool(await self._release(keys=[self._ns + _LOCK + key], args=[token]))

    async def renew_lock(self, key: str, token: str, ttl: float) -> bool:
        ms = _ttl_ms(ttl)
        return bool(await self._renew(keys=[self._ns + _LOCK + key], args=[token, ms]))

    async def get_state(self, key: str) -> dict[str, Any] | None:
        raw = await self._client.get(self._ns + _STATE + key)
        return None if raw is None else _decode_state(raw)

    async def set_state(self, key: str, value: dict[str, Any], ttl: float) -> None:
        ms = _ttl_ms(ttl)
        await self._client.set(self._ns + _STATE + key, _encode_state(value), px=ms)

    async def clear_state(self, key: str) -> None:
        await self._client.delete(self._ns + _STATE + key)

    async def ping(self) -> bool:
        """True if Redis answers; False (never an exception) if it cannot be reached."""
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
