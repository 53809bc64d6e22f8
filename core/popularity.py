"""Popular courses: what others bought, recent purchases weighted more. The fallback when a search finds nothing.

Popularity is the number of live (not refunded) course entitlements, where each one granted in the last
:data:`RECENT` days counts :data:`RECENT_WEIGHT` times: a course that sells now beats one that sold a lot
a year ago, without a long history being worth nothing. Ties (every course, on a new catalog) go to the
learner's language first, then the course id, so the list is stable.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime, timedelta

from core.catalog import Course
from core.ports import UnitOfWork

__all__ = ["RECENT", "RECENT_WEIGHT", "load_sales", "rank_popular"]

RECENT = timedelta(days=30)
RECENT_WEIGHT = 3.0

Sales = Mapping[int, tuple[int, int]]  # course id -> (entitlements ever, entitlements in the last RECENT)


async def load_sales(uow: UnitOfWork, now: datetime) -> dict[int, tuple[int, int]]:
    return await uow.catalog.course_sales(now - RECENT)


def score(total: int, recent: int) -> float:
    return total + (RECENT_WEIGHT - 1.0) * recent


def rank_popular(courses: list[Course], sales: Sales, *, lang: str, limit: int) -> list[Course]:
    """The ``limit`` most popular of ``courses`` (published ones only), most popular first."""

    live = [c for c in courses if c.published]
    sold = sorted((c for c in live if c.id in sales), key=lambda c: (-score(*sales[c.id]), c.language != lang, c.id))[
        :limit
    ]
    if len(sold) == limit:
        return sold
    # Courses nobody bought (most of a big catalog) only need the first few, not a full sort.
    unsold = (c for c in live if c.id not in sales)
    return sold + heapq.nsmallest(limit - len(sold), unsold, key=lambda c: (c.language != lang, c.id))
