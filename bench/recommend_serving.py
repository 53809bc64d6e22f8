#!/usr/bin/env python3
"""Serving a learner's recommendations from the precomputed rows (issue 6: top 10 in 5 ms or less at p99).

What is measured
----------------
A database holds ``--courses`` published courses, ``--users`` learners and a live refit with a top 10 for
each of them (``recommendations``, primary key ``(run_id, user_id, rank)``); a third of the learners own
two courses (entitlements and paid orders, so the exclusions have something to exclude). Timed, per call,
over ``--calls`` random learners:

``stored``
    ``uow.recommendations.stored(user, limit=10)`` in its own unit of work: the one statement serving runs
    (the live run joined with the learner's rows).
``recommend_for``
    :func:`core.recommendations.recommend_for` for 5 courses in its own unit of work, as /recommend calls
    it: the catalog (from the process's catalog cache), the learner's entitlements and orders for the
    exclusions, the stored rows, and the anchors' titles.
``floor: SELECT 1``
    A unit of work running ``SELECT 1``: the driver, pool and session with no application code.

p50/p99 are pooled over all calls; the clock is ``time.perf_counter``. SQLite in a temporary directory
(WAL, as ``storage.db`` configures it), or ``--database-url`` (its schema is recreated: never point it at a
database you need). Output: one JSON object on stdout.

Usage::

    nice -n 19 python bench/recommend_serving.py [--users 20000] [--courses 2000] [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from core.recommend import Reason, Recommendation
from core.recommendations import recommend_for
from storage.db import Database
from storage.jobs_repo import session_of
from storage.recommend_jobs_repo import SqlRecommendJobs
from storage.tables import CourseRow, EntitlementRow, OrderRow, UserRow
from storage.uow import SqlUnitOfWorkFactory

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fill(db: Database, uow: SqlUnitOfWorkFactory, users: int, courses: int) -> None:
    rng = random.Random(7)
    async with db.engine.begin() as conn:
        await conn.execute(
            CourseRow.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "slug": f"c{i}",
                    "title": f"Course {i}",
                    "summary": "",
                    "description": "",
                    "category": f"cat{i % 20}",
                    "tags": [],
                    "language": "en",
                    "drip_mode": "all",
                    "drip_hour": 8,
                    "published": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(1, courses + 1)
            ],
        )
        await conn.execute(
            UserRow.__table__.insert(),  # type: ignore[attr-defined]
            [
                {"ref_code": f"r{i}", "role": 1, "lang": "en", "timezone": "Asia/Shanghai", "created_at": NOW}
                for i in range(1, users + 1)
            ],
        )
        owners = range(1, users + 1, 3)
        await conn.execute(
            OrderRow.__table__.insert(),  # type: ignore[attr-defined]
            [
                {
                    "code": f"o{u}-{k}",
                    "user_id": u,
                    "item_kind": "course",
                    "item_id": (u * 7 + k) % courses + 1,
                    "amount": 100,
                    "currency": "USD",
                    "provider": "sandbox",
                    "status": "paid",
                    "created_at": NOW,
                    "expires_at": NOW,
                    "paid_at": NOW,
                }
                for u in owners
                for k in range(2)
            ],
        )
        await conn.execute(
            EntitlementRow.__table__.insert(),  # type: ignore[attr-defined]
            [
                {"user_id": u, "course_id": (u * 7 + k) % courses + 1, "starts_at": NOW - timedelta(days=1)}
                for u in owners
                for k in range(2)
            ],
        )
    async with uow() as unit:
        jobs = SqlRecommendJobs(session_of(unit))
        run_id = await jobs.start_run(NOW, NOW)
        await unit.commit()
    for start in range(1, users + 1, 2000):
        top = {
            u: [
                Recommendation(
                    rng.randrange(1, courses + 1), 1.0 - r / 10, Reason("studied", rng.randrange(1, courses))
                )
                for r in range(10)
            ]
            for u in range(start, min(start + 2000, users + 1))
        }
        async with uow() as unit:
            await SqlRecommendJobs(session_of(unit)).add_rows(run_id, top)
            await unit.commit()
    async with uow() as unit:
        fallback = [Recommendation(c, 1.0, Reason("popular")) for c in range(1, 11)]
        await SqlRecommendJobs(session_of(unit)).go_live(
            run_id, NOW, users=users, courses=courses, interactions=0, fit_ms=0, fallback=fallback, tokens=None
        )
        await unit.commit()


async def main(args: argparse.Namespace) -> dict[str, object]:
    tmp = tempfile.mkdtemp(prefix="ks-rec-bench-")
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
    db = Database(url)
    if not db.is_sqlite:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await db.upgrade()
    uow = SqlUnitOfWorkFactory(db.sessions)
    started = time.perf_counter()
    await fill(db, uow, args.users, args.courses)
    fill_s = time.perf_counter() - started
    rng = random.Random(11)
    picks = [rng.randrange(1, args.users + 1) for _ in range(args.calls)]
    out: dict[str, object] = {
        "database": "sqlite" if db.is_sqlite else "postgresql",
        "users": args.users,
        "courses": args.courses,
        "rows": args.users * 10,
        "fill_seconds": round(fill_s, 1),
    }

    async def floor(_: int) -> None:
        async with uow() as unit:
            await session_of(unit).execute(text("SELECT 1"))

    async def stored(user_id: int) -> None:
        async with uow() as unit:
            found = await unit.recommendations.stored(user_id, limit=10)
            assert found is not None and len(found.items) == 10

    async def served(user_id: int) -> None:
        async with uow() as unit:
            assert len(await recommend_for(unit, user_id, NOW, n=5)) == 5

    for name, fn in (("floor: SELECT 1", floor), ("stored", stored), ("recommend_for", served)):
        for user_id in picks[:200]:  # warm the pool, the caches and the page cache
            await fn(user_id)
        times: list[float] = []
        for user_id in picks:
            t = time.perf_counter()
            await fn(user_id)
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"p50_ms": round(pct(times, 0.5), 3), "p99_ms": round(pct(times, 0.99), 3)}
    await db.dispose()
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--users", type=int, default=20_000)
    p.add_argument("--courses", type=int, default=2_000)
    p.add_argument("--calls", type=int, default=5_000)
    p.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    print(json.dumps(asyncio.run(main(p.parse_args())), indent=2))
