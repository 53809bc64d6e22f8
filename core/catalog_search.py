"""The live course search of one process: a :class:`core.search.SearchIndex` kept in step with the catalog.

Freshness contract: every search first asks the unit of work for the published courses
(``uow.catalog.list_courses()``, which the storage layer serves from its process-wide catalog cache) and
brings the index up to date with that list before ranking. So the index follows the catalog cache exactly:

- an import or publish committed in *this* process invalidates the cache, and the next search reloads
  the list and indexes the change at once (only the changed courses are segmented again);
- another process's change arrives when this process's cache reloads (its TTL, 5 s by default): the
  reloaded list has new course objects, the index compares their texts with what it holds and
  re-segments only those that changed.

When nothing changed, the check costs an identity comparison of the list (~0.1 ms for 10,000 courses).
Updates run in a worker thread, one at a time, while searches keep answering from the previous snapshot.
A search waits for an update in flight up to ``max_wait``, so a small change is visible to the search that
triggered it, and a big one (a bulk import) does not hold searches up.

Cold start: segmenting a whole catalog costs ~1 ms per 1,000 characters (about 4–5 s for 10,000 courses of
400 characters), so :meth:`CatalogSearch.warm_up` builds the index at start-up, in a worker thread. Until
that first build is done, searches wait for it when the catalog is small (under :data:`COLD_WAIT_CHARS`
characters: the demo, the tests), and otherwise answer with :func:`core.search.substring_search`, the
plain substring ranking the bot used before issue 6, instead of making learners wait seconds.

The popular courses (the fallback when nothing matches) come from one grouped query, memoized for
``popular_ttl`` of the injected clock's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from core import tokens
from core.catalog import Course
from core.popularity import load_sales, rank_popular
from core.ports import UnitOfWork, UnitOfWorkFactory
from core.search import SearchIndex, substring_search

__all__ = ["COLD_WAIT_CHARS", "CatalogSearch"]

log = logging.getLogger(__name__)

#: A catalog with less text than this is indexed before the first search answers (~0.3 s of jieba).
COLD_WAIT_CHARS = 300_000


class CatalogSearch:
    """Process-wide: build one in the composition root and share it (handlers reach it through ``Services``)."""

    def __init__(
        self,
        index: SearchIndex | None = None,
        *,
        max_wait: float = 0.5,
        popular_ttl: timedelta = timedelta(minutes=5),
    ) -> None:
        self.index = index if index is not None else SearchIndex()
        self.max_wait = max_wait
        self.popular_ttl = popular_ttl
        self._running: asyncio.Future[None] | None = None
        self._sales: tuple[datetime, dict[int, tuple[int, int]]] | None = None

    async def warm_up(self, uow_factory: UnitOfWorkFactory) -> None:
        """Load jieba and index the catalog now, before the first search (call it at start-up)."""
        await asyncio.to_thread(tokens.warm_up)
        async with uow_factory() as uow:
            courses = await uow.catalog.list_courses()
        await self.refresh(courses, wait=True)

    async def search(self, uow: UnitOfWork, query: str, *, limit: int) -> list[Course]:
        """Published courses matching ``query``, best first (see :mod:`core.search` for the ranking)."""
        courses = await uow.catalog.list_courses()
        await self.refresh(courses)
        if not self.index.ready:  # the first build of a big catalog is still running
            return substring_search(courses, query, limit=limit)
        return self.index.search(query, limit=limit)

    async def refresh(self, courses: list[Course], *, wait: bool = False) -> None:
        """Bring the index up to date with ``courses`` (a no-op when they are the ones indexed last).

        ``wait``: until it is done, whatever it takes (otherwise see the module docstring).
        """
        for _ in range(2):  # at most: let an update in flight (of an older list) finish, then run ours
            if self.index.is_current(courses):
                return
            running = self._running
            mine = running is None
            if running is None:
                running = self._running = asyncio.ensure_future(self._update(courses))
            if not (wait or (not self.index.ready and _text_size(courses) <= COLD_WAIT_CHARS)):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(running), self.max_wait)
                return  # if that was an older list's update, the next search starts one for this list
            await asyncio.shield(running)
            if mine:
                return

    async def _update(self, courses: list[Course]) -> None:
        try:
            await asyncio.to_thread(self.index.update, courses)
        except Exception:
            log.exception("the search index could not be updated; searches use the previous one")
        finally:
            self._running = None

    async def popular(self, uow: UnitOfWork, *, now: datetime, lang: str, limit: int) -> list[Course]:
        """The most popular published courses (recent sales weigh more), for when a search finds nothing."""
        memo = self._sales
        if memo is None or not timedelta(0) <= now - memo[0] < self.popular_ttl:
            memo = self._sales = (now, await load_sales(uow, now))
        return rank_popular(await uow.catalog.list_courses(), memo[1], lang=lang, limit=limit)


def _text_size(courses: list[Course]) -> int:
    return sum(len(c.title) + len(c.summary) + len(c.description) for c in courses)
