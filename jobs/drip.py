"""The daily drip push: each learner's next lesson, sent when it opens at the course hour in their timezone.

Before this job, a daily-drip lesson reached a learner only when they asked
for it (/next, or the Next button under the previous lesson). Now the
scheduler runs :func:`plan_drip` every few minutes: for every learner with
access to a daily-drip course whose *next* lesson (the first one not yet
delivered, as /next picks it) is open by :mod:`core.learning`'s rules, it
records one delivery row ``drip:<user>:<lesson>``; the delivery engine sends
it through :func:`lesson_resolver`, which renders the lesson as /next does and
marks it delivered, so /next moves on to the lesson after it.

Why this can never flood: only the next lesson of each (learner, course) is
considered, and its key is per lesson, so a row that is already recorded
(pending, or sent and not yet marked, or refused) is not recorded again. A
learner who missed three days (the scheduler was down) gets one lesson per
run until they have caught up, never three at once.

The push and /next agree because both use the same progress: whichever
delivers a lesson first marks it, and the resolver checks again right before
sending, so a lesson the learner opened with /next meanwhile is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from core.catalog import Course, DripMode, Lesson, Plan
from core.clock import Clock
from core.delivery import Delivery, NewDelivery
from core.entitlements import course_access
from core.errors import Conflict
from core.i18n import translator
from core.learning import CourseState, course_state
from core.ports import UnitOfWork, UnitOfWorkFactory
from core.progress import Progress
from core.replies import Reply
from core.users import User
from handlers.views import lesson_messages
from storage.jobs_repo import SqlJobQueries, session_of

__all__ = ["BATCH", "PREFIX", "lesson_resolver", "next_open_lesson", "plan_drip"]

log = logging.getLogger(__name__)

BATCH = 500
PREFIX = "lesson"  # delivery content "lesson:<lesson id>", resolved by lesson_resolver

Resolver = Callable[[Delivery], Awaitable[Sequence[Reply] | None]]


def _renumbered(lessons: list[Lesson]) -> list[Lesson]:
    """Dense positions, as :func:`core.learning.course_state` numbers them (archived lessons leave no gap)."""
    return [lesson if lesson.position == i else replace(lesson, position=i) for i, lesson in enumerate(lessons)]


def next_open_lesson(state: CourseState, user: User, now: datetime) -> Lesson | None:
    """The lesson /next would deliver now (the first not yet delivered), if it is open; else None."""
    for lesson in state.lessons:
        p = state.progress.get(lesson.id)
        if p is not None and (p.delivered_at is not None or p.completed_at is not None):
            continue
        return lesson if state.decide(user, lesson, now).allowed else None
    return None


async def plan_drip(
    uow_factory: UnitOfWorkFactory, clock: Clock, *, batch: int = BATCH, channels: Collection[str] | None = None
) -> int:
    """Record the due drip lessons of every learner; returns how many rows were new.

    Walks (learner, course) pairs of daily-drip courses the learner holds an active entitlement
    to, ``batch`` at a time by keyset, each batch in one transaction. Each row goes to the
    learner's oldest reachable identity on one of ``channels`` (those the delivery engine can send
    on; None: any). Learners with none (every identity blocked the bot) are left for a later run.
    """
    now = clock.now()
    after = (0, 0)
    plans: dict[int, Plan] | None = None
    courses: dict[int, tuple[Course, list[Lesson]] | None] = {}
    total = 0
    while True:
        async with uow_factory() as uow:
            q = SqlJobQueries(session_of(uow))
            pairs = await q.drip_pairs(now, after, batch)
            if not pairs:
                return total
            if plans is None:
                plans = {p.id: p for p in await uow.catalog.list_plans(published_only=False)}
            for _, course_id in pairs:
                if course_id not in courses:
                    courses[course_id] = await _course(uow, course_id)
            rows = await _plan_batch(q, pairs, courses, plans, now, channels)
            added = await uow.deliveries.add(rows)
            await uow.commit()
        total += added
        after = pairs[-1]
        if len(pairs) < batch:
            return total


async def _course(uow: UnitOfWork, course_id: int) -> tuple[Course, list[Lesson]] | None:
    course = await uow.catalog.get_course_by_id(course_id)
    if course is None or not course.published or course.drip_mode is not DripMode.DAILY:
        return None
    return course, _renumbered(await uow.catalog.lessons(course.id))


async def _plan_batch(
    q: SqlJobQueries,
    pairs: list[tuple[int, int]],
    courses: dict[int, tuple[Course, list[Lesson]] | None],
    plans: dict[int, Plan],
    now: datetime,
    channels: Collection[str] | None,
) -> list[NewDelivery]:
    user_ids = sorted({u for u, _ in pairs})
    users = await q.users(user_ids)
    ents = await q.entitlements(user_ids)
    progress = await q.progress(user_ids, sorted({c for _, c in pairs}))
    refs = await q.reachable_ref(user_ids, channels)
    rows: list[NewDelivery] = []
    for user_id, course_id in pairs:
        user, ref, found = users.get(user_id), refs.get(user_id), courses.get(course_id)
        if user is None or ref is None or found is None:
            continue
        course, lessons = found
        access = course_access(course, ents.get(user_id, []), plans, now)
        if access is None:
            continue
        done: dict[int, Progress] = progress.get((user_id, course_id), {})
        if _had_one_today(done.values(), user.timezone, now):
            continue  # catching up after downtime: one lesson per learner and course per local day, never a flood
        lesson = next_open_lesson(CourseState(course, lessons, done, access), user, now)
        if lesson is not None:
            rows.append(
                NewDelivery(
                    key=f"drip:{user_id}:{lesson.id}",
                    ref=ref,
                    user_id=user_id,
                    next_at=now,
                    content=f"{PREFIX}:{lesson.id}",
                )
            )
    return rows


def _had_one_today(done: Iterable[Progress], timezone: str, now: datetime) -> bool:
    """Whether a lesson of this course already reached the learner on their current local day."""
    tz = ZoneInfo(timezone)
    today = now.astimezone(tz).date()
    return any(p.delivered_at is not None and p.delivered_at.astimezone(tz).date() == today for p in done)


def lesson_resolver(uow_factory: UnitOfWorkFactory, clock: Clock, *, attempts: int = 3) -> Resolver:
    """The delivery engine's resolver for ``lesson:<id>`` rows: the lesson as /next shows it, marked delivered.

    Right before the send it checks again, in the transaction that marks the lesson delivered:
    None (the engine records the row as skipped) when the learner lost access, the lesson is not
    open (any more) for them, or it was delivered meanwhile (/next, another device). A row the
    engine is retrying (an earlier attempt hit a network error or flood control) was marked by
    that attempt, so it is sent again unless the learner has completed the lesson since.
    """

    async def resolve(d: Delivery) -> Sequence[Reply] | None:
        for attempt in range(attempts):
            try:
                return await _resolve(uow_factory, clock, d)
            except Conflict:  # SQLite: another writer won the race; read again
                await asyncio.sleep(0.05 * (attempt + 1))
            except Exception:
                log.exception("drip delivery %s: rendering %s failed", d.id, d.content)
                return None
        log.warning("drip delivery %s: the database stayed busy; skipped", d.id)
        return None

    return resolve


async def _resolve(uow_factory: UnitOfWorkFactory, clock: Clock, d: Delivery) -> Sequence[Reply] | None:
    try:
        lesson_id = int(d.content.split(":", 1)[1])
    except (IndexError, ValueError):
        return None
    if d.user_id is None:
        return None
    now = clock.now()
    async with uow_factory() as uow:
        user = await uow.users.get(d.user_id)
        lesson = await uow.catalog.get_lesson(lesson_id)
        course = await uow.catalog.get_course_by_id(lesson.course_id) if lesson is not None else None
        if user is None or course is None or not course.published:
            return None
        state = await course_state(uow, user, course, now)
        current = next((ls for ls in state.lessons if ls.id == lesson_id), None)
        if current is None or (state.access is None and not course.is_free):
            return None
        if not state.decide(user, current, now).allowed:
            return None
        seen = state.progress.get(lesson_id)
        retried = d.attempts > 0 or bool(d.error)
        if seen is not None and (seen.completed_at is not None or (seen.delivered_at is not None and not retried)):
            return None
        await uow.progress.mark_delivered(user.id, current, now)
        await uow.commit()
    return lesson_messages(translator(user.lang), course, current, len(state.lessons))
