"""Publishing a validated catalog: upsert courses, then plans, in one transaction.

The caller validated the whole folder first (:func:`core.course_import.load_catalog`)
and staged the media; here everything is written by slug, so re-importing
updates and never duplicates. The caller commits, so a failure changes nothing.

The courses' titles, tags and categories join jieba's dictionary of domain terms
(:func:`core.tokens.add_terms`) as they are published, so "手机摄影" stays one word
for search in this process. Other processes learn them when their search index
picks the new courses up (:mod:`core.catalog_search`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.course_spec import CatalogSpec
from core.ports import UnitOfWork
from core.tokens import add_terms

__all__ = ["ImportSummary", "publish_catalog"]


@dataclass(frozen=True, slots=True)
class ImportSummary:
    courses_created: int
    courses_updated: int
    plans_created: int
    plans_updated: int
    lessons: int


async def publish_catalog(
    uow: UnitOfWork, spec: CatalogSpec, media_paths: dict[str, str], now: datetime
) -> ImportSummary:
    cc = cu = pc = pu = 0
    for course in spec.courses:
        if await uow.catalog.upsert_course(course, media_paths, now):
            cc += 1
        else:
            cu += 1
    add_terms(term for c in spec.courses for term in (c.title, *c.tags, c.category))
    for plan in spec.plans:
        if await uow.catalog.upsert_plan(plan, now):
            pc += 1
        else:
            pu += 1
    return ImportSummary(cc, cu, pc, pu, sum(len(c.lessons) for c in spec.courses))
