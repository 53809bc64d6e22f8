"""The live search of a process: answers while its index is (re)built, and the popular-courses fallback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core import catalog_search
from core.catalog import Course, DripMode, Price
from core.catalog_search import CatalogSearch
from core.popularity import rank_popular
from core.search import SearchIndex

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def course(cid: int, title: str, language: str = "en") -> Course:
    return Course(cid, f"c{cid}", title, "", "", "", (), language, Price(), DripMode.ALL, 8)


class FakeCatalog:
    def __init__(self, courses: list[Course]) -> None:
        self.courses = courses
        self.sales: dict[int, tuple[int, int]] = {}
        self.sales_queries = 0

    async def list_courses(self) -> list[Course]:
        return list(self.courses)  # a fresh list of the same objects, like the catalog cache

    async def course_sales(self, since: datetime) -> dict[int, tuple[int, int]]:
        self.sales_queries += 1
        return dict(self.sales)


class FakeUow:
    def __init__(self, courses: list[Course]) -> None:
        self.catalog = FakeCatalog(courses)


class GatedIndex(SearchIndex):
    """An index whose updates wait for the test to open the gate (a big catalog being segmented)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def update(self, courses: Iterable[Course]) -> None:
        assert self.gate.wait(5)
        super().update(courses)


async def titles(search: CatalogSearch, uow: Any, query: str) -> list[str]:
    return [c.title for c in await search.search(uow, query, limit=10)]


async def test_while_a_big_catalog_is_first_indexed_searches_answer_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_search, "COLD_WAIT_CHARS", 0)  # every catalog counts as big
    index = GatedIndex()
    search, uow = CatalogSearch(index, max_wait=0.05), FakeUow([course(1, "Python for Beginners")])
    assert await titles(search, uow, "python") == ["Python for Beginners"]  # plain substring matching meanwhile
    assert await titles(search, uow, "pyhton") == []
    index.gate.set()
    await search.refresh(await uow.catalog.list_courses(), wait=True)
    assert await titles(search, uow, "pyhton") == ["Python for Beginners"]  # the real index now


async def test_a_slow_update_does_not_hold_searches_up() -> None:
    index = GatedIndex()
    index.gate.set()
    search, uow = CatalogSearch(index, max_wait=0.05), FakeUow([course(1, "Python for Beginners")])
    assert await titles(search, uow, "python") == ["Python for Beginners"]
    index.gate.clear()
    uow.catalog.courses = [course(1, "Python for Beginners"), course(2, "Python in Depth")]
    assert await titles(search, uow, "python") == ["Python for Beginners"]  # the previous snapshot, in time
    index.gate.set()
    await asyncio.sleep(0.2)
    assert await titles(search, uow, "python") == ["Python for Beginners", "Python in Depth"]


async def test_a_small_change_is_in_the_very_next_search() -> None:
    search, uow = CatalogSearch(), FakeUow([course(1, "Python for Beginners")])
    assert await titles(search, uow, "rust") == []
    uow.catalog.courses = [*uow.catalog.courses, course(2, "Rust for Pythonistas")]
    assert await titles(search, uow, "rust") == ["Rust for Pythonistas"]
    uow.catalog.courses = [replace(c, published=c.id != 2) for c in uow.catalog.courses]
    assert await titles(search, uow, "rust") == []


def test_recent_sales_count_more_and_ties_go_to_the_learners_language() -> None:
    courses = [course(1, "Old Favourite"), course(2, "New Hit"), course(3, "无人问津", "zh"), course(4, "Unsold")]
    sales = {1: (5, 0), 2: (2, 2)}  # 5 sales long ago; 2 sales, both this month (worth 3 each)
    assert [c.id for c in rank_popular(courses, sales, lang="en", limit=4)] == [2, 1, 4, 3]
    assert [c.id for c in rank_popular(courses, sales, lang="zh", limit=3)] == [2, 1, 3]
    hidden = replace(courses[1], published=False)
    assert [c.id for c in rank_popular([hidden, *courses[2:]], sales, lang="en", limit=4)] == [4, 3]


async def test_popular_sales_are_queried_once_per_ttl() -> None:
    search, uow = CatalogSearch(popular_ttl=timedelta(minutes=5)), FakeUow([course(1, "A"), course(2, "B")])
    uow.catalog.sales = {2: (1, 1)}
    assert [c.id for c in await search.popular(uow, now=NOW, lang="en", limit=2)] == [2, 1]
    uow.catalog.sales = {1: (9, 9)}
    assert [c.id for c in await search.popular(uow, now=NOW + timedelta(minutes=4), lang="en", limit=2)] == [2, 1]
    assert [c.id for c in await search.popular(uow, now=NOW + timedelta(minutes=6), lang="en", limit=2)] == [1, 2]
    assert uow.catalog.sales_queries == 2
