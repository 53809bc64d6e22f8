"""An in-process cache of the published course list and each course's lessons,
the hottest reads in the product.

Why: /catalog, search and "my courses" all list the published courses, and
on SQLite each query costs about half a millisecond of driver round trip
before any work is done. The list changes only when a catalog is imported
or published, so each process keeps it for a short TTL:
- a commit that changed the catalog in this process invalidates it at once;
- another process's import shows up here within ``ttl`` seconds.

A generation counter stops a reader that loaded *before* an invalidation
from putting its stale copy back afterwards.

When the TTL runs out, exactly one reader reloads while every other reader
keeps getting the previous copy (stale-while-revalidate). Without this, all
the requests in flight at that moment missed together and queued for the
database at once (a 50-request stampede every 5 s, measured as a p99 of
~300 ms in bench/wechat_webhook.py). After an invalidation there is no
previous copy to serve, so readers load fresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from core.catalog import Course, Lesson

__all__ = ["CatalogCache"]


class CatalogCache:
    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._courses: list[Course] | None = None
        self._loaded_at = 0.0
        self._lessons: dict[int, tuple[list[Lesson], float]] = {}
        self._refreshing: dict[object, float] = {}  # what is being reloaded, since when
        self.generation = 0

    def _claim(self, key: object) -> bool:
        """True for the one reader that should reload ``key`` now (again after ``ttl`` if it never finished)."""
        now = self._clock()
        started = self._refreshing.get(key)
        if started is not None and now - started <= self.ttl:
            return False
        self._refreshing[key] = now
        return True

    def stale(self) -> list[Course] | None:
        """The last list even if expired, unless this reader must reload it (then None)."""
        if self._courses is None or not self._claim("courses"):
            return None if self._courses is None else list(self._courses)
        return None

    def get(self) -> list[Course] | None:
        """A fresh copy of the cached list (callers may sort it), or None when stale."""
        if self._courses is None or self._clock() - self._loaded_at > self.ttl:
            return None
        return list(self._courses)

    def put(self, courses: list[Course], generation: int) -> None:
        """Store ``courses`` if nothing was invalidated since the caller read ``generation``."""
        self._refreshing.pop("courses", None)
        if generation == self.generation:
            self._courses = list(courses)
            self._loaded_at = self._clock()

    def get_lessons(self, course_id: int) -> list[Lesson] | None:
        entry = self._lessons.get(course_id)
        if entry is None:
            return None
        if self._clock() - entry[1] > self.ttl and self._claim(("lessons", course_id)):
            return None  # this reader reloads; the others keep the previous copy meanwhile
        return list(entry[0])

    def put_lessons(self, course_id: int, lessons: list[Lesson], generation: int) -> None:
        self._refreshing.pop(("lessons", course_id), None)
        if generation == self.generation:
            self._lessons[course_id] = (list(lessons), self._clock())

    def invalidate(self) -> None:
        self.generation += 1
        self._courses = None
        self._lessons.clear()
        self._refreshing.clear()
