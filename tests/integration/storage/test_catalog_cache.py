"""The published-course cache: fresh at once after an import in this process,
within its TTL for another process, and never re-filled with stale rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import bot
from core.catalog import Course
from storage.catalog_cache import CatalogCache
from storage.uow import SqlUnitOfWorkFactory

ROOT = Path(__file__).resolve().parents[3]


async def titles(factory: SqlUnitOfWorkFactory) -> set[str]:
    async with factory() as uow:
        return {c.title for c in await uow.catalog.list_courses()}


async def test_an_import_in_this_process_shows_at_once(demo: bot.App, tmp_path: Path) -> None:
    assert "Python for Beginners" in await titles(demo.uow)  # now cached
    folder = tmp_path / "python-basics"
    shutil.copytree(ROOT / "examples" / "catalog" / "python-basics", folder)
    toml = folder / "course.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("Python for Beginners", "Python, Renamed"), encoding="utf-8"
    )
    await bot.import_path(demo, folder)
    assert "Python, Renamed" in await titles(demo.uow)


async def test_another_process_sees_an_import_within_the_ttl(demo: bot.App, tmp_path: Path) -> None:
    now = [0.0]
    other = SqlUnitOfWorkFactory(demo.db.sessions, catalog_ttl=5.0)  # a second process, its own cache
    assert other.catalog_cache is not None
    other.catalog_cache._clock = lambda: now[0]
    assert "Python for Beginners" in await titles(other)
    folder = tmp_path / "python-basics"
    shutil.copytree(ROOT / "examples" / "catalog" / "python-basics", folder)
    toml = folder / "course.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("Python for Beginners", "Python, Renamed"), encoding="utf-8"
    )
    await bot.import_path(demo, folder)  # "the first process"
    now[0] = 4.0
    assert "Python for Beginners" in await titles(other)  # still within the TTL
    now[0] = 5.5
    assert "Python, Renamed" in await titles(other)


def _course(title: str) -> Course:
    from core.catalog import DripMode, Price

    return Course(1, "s", title, "", "", "", (), "en", Price(), DripMode.ALL, 8)


def test_a_reader_that_loaded_before_an_invalidation_cannot_store_its_copy() -> None:
    cache = CatalogCache(ttl=60)
    generation = cache.generation  # a reader starts loading …
    cache.invalidate()  # … an import commits meanwhile …
    cache.put([_course("old")], generation)  # … the reader finishes with old rows
    assert cache.get() is None
    cache.put([_course("new")], cache.generation)
    cached = cache.get()
    assert cached is not None and [c.title for c in cached] == ["new"]
    cached.clear()  # callers may sort or trim their copy
    assert cache.get() is not None and len(cache.get() or []) == 1


async def test_lesson_edits_show_at_once_in_this_process(demo: bot.App, tmp_path: Path) -> None:
    async def first_lesson_title() -> str:
        async with demo.uow() as uow:
            course = await uow.catalog.get_course("python-basics")
            assert course is not None
            return (await uow.catalog.lessons(course.id))[0].title

    before = await first_lesson_title()  # now cached
    folder = tmp_path / "python-basics"
    shutil.copytree(ROOT / "examples" / "catalog" / "python-basics", folder)
    lesson = sorted((folder / "lessons").glob("01-*.md"))[0]
    text = lesson.read_text(encoding="utf-8")
    lesson.write_text(text.replace(f'title = "{before}"', 'title = "Renamed lesson"', 1), encoding="utf-8")
    await bot.import_path(demo, folder)
    assert await first_lesson_title() == "Renamed lesson"


def test_when_the_ttl_runs_out_one_reader_reloads_and_the_others_keep_the_previous_copy() -> None:
    now = [0.0]
    cache = CatalogCache(ttl=5, clock=lambda: now[0])
    cache.put([_course("old")], cache.generation)
    now[0] = 6.0
    assert cache.get() is None
    assert cache.stale() is None  # the first reader after expiry reloads …
    again = cache.stale()  # … while every other reader gets the previous list, not a database query
    assert again is not None and [c.title for c in again] == ["old"]
    cache.put([_course("new")], cache.generation)
    fresh = cache.get()
    assert fresh is not None and [c.title for c in fresh] == ["new"]
    now[0] = 20.0  # a reload that never finished is handed to another reader after the ttl
    assert cache.stale() is None
    now[0] = 26.0
    assert cache.stale() is None


def test_after_an_invalidation_there_is_no_stale_copy_to_serve() -> None:
    cache = CatalogCache(ttl=5)
    cache.put([_course("old")], cache.generation)
    cache.invalidate()
    assert cache.get() is None and cache.stale() is None and cache.stale() is None
