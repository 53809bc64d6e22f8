"""Leader election on the key-value store: of all scheduler processes, exactly one fires the jobs.

Every ``--role scheduler`` process (and ``--role all``) runs a :class:`LeaderLock`
on the same key. One acquires the lock and is the leader; it renews the lock
every ``ttl / 3``. The others are followers: they try again every ``retry``
seconds, so when the leader dies (its lock expires after at most ``ttl``) or
stops cleanly (it releases the lock) one of them takes over.

A leader stays leader only while it can prove the lock is still its own:

* a renewal that finds the lock gone or someone else's (``renew_lock`` is
  False) deposes it at once;
* a renewal that fails (Redis unreachable) is tolerated only while the last
  successful one is recent enough that the lock cannot have expired before
  the next attempt; measured from when that renewal was *sent*, so the
  leader's view always ends before the lock does.

Being deposed calls ``on_deposed`` at once (the scheduler stops firing), and
a deposed process simply becomes a follower again. Each job also runs under
its own lock (:mod:`jobs.scheduler`), so even the moment of a hand-over, when
an old leader's running job finishes while the new leader starts, never runs
one job twice at the same time.

With the in-process store (one process, ``--role all`` on SQLite) the lock is
always free: the process leads at once, through the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from core.ports import KeyValueStore

__all__ = ["LeaderLock"]

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]


class LeaderLock:
    def __init__(
        self,
        kv: KeyValueStore,
        name: str,
        *,
        ttl: float = 15.0,
        retry: float = 2.0,
        on_elected: Callback | None = None,
        on_deposed: Callback | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl > 0 or not retry > 0:
            raise ValueError("ttl and retry must be positive")
        self.kv = kv
        self.key = f"leader:{name}"
        self.ttl = ttl
        self.renew_every = ttl / 3
        self.retry = retry
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self._monotonic = monotonic
        self._token: str | None = None
        self._leading = False
        self._held_since = 0.0  # when the last successful acquire or renewal was sent

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def attempt(self) -> bool:
        """One step: renew the lock we hold, or try to take a free one. True while this process leads.

        Errors of the store are raised (after stepping down if the lock may have expired meanwhile).
        """
        sent = self._monotonic()
        try:
            if self._token is not None:
                if await self.kv.renew_lock(self.key, self._token, self.ttl):
                    self._held_since = sent
                else:
                    self._token = None
                    if self._leading:
                        log.warning("leader lock %s was lost: stepping down", self.key)
                    await self._depose()
            if self._token is None:
                token = await self.kv.acquire_lock(self.key, self.ttl)
                if token is not None:
                    self._token, self._held_since = token, sent
        except Exception:
            if self._leading and self._monotonic() - self._held_since >= self.ttl - self.renew_every:
                log.warning("leader lock %s could not be renewed in time: stepping down", self.key)
                await self._depose()
            raise
        if self._token is not None and not self._leading:
            await self._elect()
        return self._leading

    async def run(self, stop: asyncio.Event) -> None:
        """Lead or follow until ``stop`` is set, then release the lock (if held)."""
        try:
            failing = False
            while not stop.is_set():
                try:
                    await self.attempt()
                except Exception:
                    if not failing:  # once per outage, not every few seconds
                        log.exception("leader lock %s: the key-value store failed; retrying", self.key)
                    failing = True
                else:
                    if failing:
                        log.info("leader lock %s: the key-value store answers again", self.key)
                    failing = False
                pause = self.renew_every if self._token is not None else self.retry
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
        finally:
            await self.release()

    async def release(self) -> None:
        """Step down and free the lock, so a follower takes over without waiting for it to expire."""
        token, self._token = self._token, None
        await self._depose()
        if token is not None:
            try:
                await self.kv.release_lock(self.key, token)
            except Exception:
                log.warning("leader lock %s could not be released; it expires by itself", self.key)

    async def _elect(self) -> None:
        self._leading = True
        if self.on_elected is None:
            return
        try:
            await self.on_elected()
        except Exception:
            log.exception("starting as the leader failed: releasing the lock for another process")
            await self.release()

    async def _depose(self) -> None:
        if not self._leading:
            return
        self._leading = False
        if self.on_deposed is not None:
            try:
                await self.on_deposed()
            except Exception:
                log.exception("stepping down as the leader failed")
