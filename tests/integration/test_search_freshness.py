"""The search index follows the catalog with no restart: a course published, edited or withdrawn in this
process shows in the very next search, and in another process once its catalog cache reloads."""

from __future__ import annotations

from search_support import publish, spec

import bot
from core.catalog_search import CatalogSearch
from storage.uow import SqlUnitOfWorkFactory


async def found(app: bot.App, query: str, search: CatalogSearch | None = None) -> list[str]:
    async with app.uow() as uow:
        return [c.title for c in await (search or app.services.search).search(uow, query, limit=20)]


async def test_a_published_course_is_found_by_the_next_search(demo: bot.App) -> None:
    assert await found(demo, "rust") == []  # the index is built now, from the demo catalog
    await publish(demo, spec("rust-intro", "Rust 编程入门", tags=("rust", "系统编程"), language="zh"))
    assert await found(demo, "rust") == ["Rust 编程入门"]
    assert "Rust 编程入门" in await found(demo, "系统编程")
    assert demo.services.search.index.segmented == 1  # only the new course was segmented


async def test_an_edit_and_an_unpublish_show_at_once(demo: bot.App) -> None:
    await publish(demo, spec("rust-intro", "Rust for Beginners", tags=("rust",)))
    assert await found(demo, "rust") == ["Rust for Beginners"]
    await publish(demo, spec("rust-intro", "Rust for Systems Programmers", tags=("rust",)))
    assert await found(demo, "rust") == ["Rust for Systems Programmers"]
    assert await found(demo, "beginners") == ["Python for Beginners"]
    await publish(demo, spec("rust-intro", "Rust for Systems Programmers", tags=("rust",), published=False))
    assert await found(demo, "rust") == []


async def test_another_process_finds_the_course_once_its_catalog_cache_reloads(demo: bot.App) -> None:
    now = [0.0]
    other = SqlUnitOfWorkFactory(demo.db.sessions, catalog_ttl=5.0)  # a second process: its own cache …
    assert other.catalog_cache is not None
    other.catalog_cache._clock = lambda: now[0]
    search = CatalogSearch()  # … and its own index

    async def found_there(query: str) -> list[str]:
        async with other() as uow:
            return [c.title for c in await search.search(uow, query, limit=20)]

    assert await found_there("rust") == []
    await publish(demo, spec("rust-intro", "Rust 编程入门", tags=("rust",), language="zh"))  # in "this" process
    now[0] = 4.0
    assert await found_there("rust") == []  # that process's catalog is still within its TTL
    now[0] = 5.5
    assert await found_there("rust") == ["Rust 编程入门"]
    assert search.index.segmented == 1
