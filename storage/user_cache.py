"""An in-process cache of users by REF: the read every single event starts with.

Why: resolving the sender costs a database round trip per update (on SQLite,
a thread hop through aiosqlite), which is most of the cost of a read-only
event such as /catalog. Users change rarely (language, timezone, role,
referrer), so each process keeps them for a short TTL:

- a commit in this process that changed a user invalidates the cache at once;
- a change made by another process (``bot.py grant`` while ``run`` runs)
  shows up here within ``ttl`` seconds.

Each entry's lifetime is jittered (75-100 % of ``ttl``), so users cached in
one burst don't all expire, and reload, in the same instant.

Only users that exist are cached, so a first contact always reaches the
database. A generation counter stops a reader that loaded *before* an
invalidation from putting its stale copy back afterwards.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from core.users import Ref, User

__all__ = ["UserCache"]


class UserCache:
    def __init__(self, ttl: float = 60.0, *, max_size: int = 100_000, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._by_ref: dict[tuple[str, str], tuple[User, float]] = {}
        self.generation = 0

    def get(self, ref: Ref) -> User | None:
        entry = self._by_ref.get((ref.channel, ref.external_id))
        if entry is None:
            return None
        if self._clock() > entry[1]:
            self._by_ref.pop((ref.channel, ref.external_id), None)
            return None
        return entry[0]

    def put(self, ref: Ref, user: User, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self._by_ref) >= self.max_size:
            self._by_ref.pop(next(iter(self._by_ref)))  # the oldest insertion
        expires = self._clock() + self.ttl * (0.75 + 0.25 * random.random())
        self._by_ref[(ref.channel, ref.external_id)] = (user, expires)

    def invalidate(self) -> None:
        self.generation += 1
        self._by_ref.clear()
