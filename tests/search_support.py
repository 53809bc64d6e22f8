"""Publishing made-up courses through the real publish path (importable as ``search_support``)."""

from __future__ import annotations

import bot
from core.catalog import DripMode, Price
from core.course_spec import CatalogSpec, CourseSpec, LessonSpec
from core.money import Money
from core.ports import UnitOfWorkFactory
from core.publishing import publish_catalog

__all__ = ["publish", "spec"]


def spec(
    slug: str,
    title: str,
    *,
    tags: tuple[str, ...] = (),
    summary: str = "",
    description: str = "",
    category: str = "",
    language: str = "en",
    published: bool = True,
) -> CourseSpec:
    lesson = LessonSpec("01-intro", 0, "Intro", True, "Hello.")
    price = Price(fiat=Money(990, "USD"), stars=50)
    return CourseSpec(
        slug, title, summary, description, category, tags, language, price, DripMode.ALL, 8, (lesson,), published
    )


async def publish(app: bot.App, *courses: CourseSpec, uow: UnitOfWorkFactory | None = None) -> None:
    """What an import does once the folder is validated: upsert by slug in one transaction, commit."""
    async with (uow or app.uow)() as unit:
        await publish_catalog(unit, CatalogSpec(courses=courses), {}, app.clock.now())
        await unit.commit()
