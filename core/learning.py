"""Learning: opening lessons, /next, marking lessons done, and "my courses".

:func:`may_open` is the one answer every channel uses to "may this user
open this lesson now?". It gathers the user's entitlements, the plans they
come from and the user's progress, then applies the pure rules in
:func:`core.entitlements.decide`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.catalog import Course, Lesson, Plan
from core.entitlements import AccessDecision, CourseAccess, Entitlement, course_access, decide
from core.errors import NotFound, UserFacingError
from core.ports import UnitOfWork
from core.progress import Progress
from core.recommendations import record_completion
from core.users import User

__all__ = [
    "CourseState",
    "MyCourse",
    "NextKind",
    "NextLesson",
    "access_to",
    "complete_lesson",
    "course_state",
    "current_course",
    "may_open",
    "my_courses",
    "next_lesson",
    "open_lesson",
]


async def _plans_for(uow: UnitOfWork, ents: list[Entitlement]) -> dict[int, Plan]:
    out: dict[int, Plan] = {}
    for pid in {e.plan_id for e in ents if e.plan_id is not None}:
        plan = await uow.catalog.get_plan_by_id(pid)
        if plan is not None:
            out[pid] = plan
    return out


@dataclass(frozen=True, slots=True)
class CourseState:
    """Everything needed to decide about one user's lessons in one course."""

    course: Course
    lessons: list[Lesson]
    progress: dict[int, Progress]
    access: CourseAccess | None

    @property
    def started_at(self) -> datetime | None:
        times = [p.delivered_at for p in self.progress.values() if p.delivered_at is not None]
        return min(times) if times else None

    @property
    def completed(self) -> int:
        ids = {lesson.id for lesson in self.lessons}
        return sum(1 for p in self.progress.values() if p.completed_at is not None and p.lesson_id in ids)

    def decide(self, user: User, lesson: Lesson, now: datetime) -> AccessDecision:
        prev = self.lessons[lesson.position - 1] if 0 < lesson.position <= len(self.lessons) else None
        prev_done = prev is None or (prev.id in self.progress and self.progress[prev.id].completed_at is not None)
        return decide(
            course=self.course,
            lesson=lesson,
            access=self.access,
            started_at=self.started_at,
            previous_completed=prev_done,
            timezone=user.timezone,
            now=now,
        )


async def access_to(uow: UnitOfWork, user: User, course: Course, now: datetime) -> CourseAccess | None:
    """The user's access to ``course`` now, from every entitlement and the plans behind them."""
    ents = await uow.entitlements.for_user(user.id)
    return course_access(course, ents, await _plans_for(uow, ents), now)


async def course_state(uow: UnitOfWork, user: User, course: Course, now: datetime) -> CourseState:
    access = await access_to(uow, user, course, now)
    lessons = await uow.catalog.lessons(course.id)
    # Positions are re-numbered densely so archived lessons never leave a gap in the drip.
    lessons = [
        Lesson(ls.id, ls.course_id, ls.slug, i, ls.title, ls.free, ls.body, ls.media) for i, ls in enumerate(lessons)
    ]
    return CourseState(course, lessons, await uow.progress.for_course(user.id, course.id), access)


async def _locate(
    uow: UnitOfWork, user: User, lesson_id: int, course_id: int, now: datetime
) -> tuple[CourseState, Lesson]:
    """The user's state in the lesson's course and the lesson as numbered there (NotFound if not live)."""
    course = await uow.catalog.get_course_by_id(course_id)
    if course is None or not course.published:
        raise NotFound("lesson.not_found")
    state = await course_state(uow, user, course, now)
    current = next((ls for ls in state.lessons if ls.id == lesson_id), None)
    if current is None:
        raise NotFound("lesson.not_found")
    return state, current


async def may_open(uow: UnitOfWork, user: User, lesson: Lesson, now: datetime) -> AccessDecision:
    """May ``user`` open ``lesson`` now? The single rule every channel uses."""
    state, current = await _locate(uow, user, lesson.id, lesson.course_id, now)
    return state.decide(user, current, now)


class NextKind(enum.StrEnum):
    DELIVER = "deliver"
    LOCKED = "locked"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class NextLesson:
    kind: NextKind
    course: Course
    lesson: Lesson | None = None
    decision: AccessDecision | None = None
    previous: Lesson | None = None  # the lesson to finish first (on_complete drip)
    total: int = 0


async def next_lesson(uow: UnitOfWork, user: User, course: Course, now: datetime) -> NextLesson:
    """The first lesson the learner has not seen yet: delivered if open, else why not."""
    state = await course_state(uow, user, course, now)
    total = len(state.lessons)
    for lesson in state.lessons:
        p = state.progress.get(lesson.id)
        if p is not None and (p.delivered_at is not None or p.completed_at is not None):
            continue
        decision = state.decide(user, lesson, now)
        prev = state.lessons[lesson.position - 1] if lesson.position > 0 else None
        if decision.allowed:
            await uow.progress.mark_delivered(user.id, lesson, now)
            return NextLesson(NextKind.DELIVER, course, lesson, decision, prev, total)
        return NextLesson(NextKind.LOCKED, course, lesson, decision, prev, total)
    return NextLesson(NextKind.FINISHED, course, total=total)


async def open_lesson(
    uow: UnitOfWork, user: User, lesson_id: int, now: datetime
) -> tuple[Lesson, Course, AccessDecision]:
    """Open one specific lesson (a Preview or a lesson button); delivered only if allowed."""
    lesson = await uow.catalog.get_lesson(lesson_id)
    if lesson is None:
        raise NotFound("lesson.not_found")
    state, current = await _locate(uow, user, lesson_id, lesson.course_id, now)
    decision = state.decide(user, current, now)
    if decision.allowed:
        await uow.progress.mark_delivered(user.id, current, now)
    return current, state.course, decision


async def complete_lesson(uow: UnitOfWork, user: User, lesson_id: int, now: datetime) -> tuple[Lesson, Course, bool]:
    """Mark a lesson done (only one the user may open). Returns (lesson, course, newly_done)."""
    lesson, course, decision = await open_lesson(uow, user, lesson_id, now)
    if not decision.allowed:
        raise UserFacingError("lesson.locked")
    newly = await uow.progress.mark_completed(user.id, lesson, now)
    if newly:  # each lesson counts once as a signal for the recommender
        await record_completion(uow, user.id, course.id, now)
    return lesson, course, newly


@dataclass(frozen=True, slots=True)
class MyCourse:
    course: Course
    access: CourseAccess | None
    completed: int


async def my_courses(uow: UnitOfWork, user: User, now: datetime) -> list[MyCourse]:
    """Courses the user owns or has started, most recently active first."""
    ents = await uow.entitlements.for_user(user.id)
    plans = await _plans_for(uow, ents)
    activity = await uow.progress.course_activity(user.id)
    done = dict(activity)
    rank = {cid: i for i, (cid, _) in enumerate(activity)}
    out: list[MyCourse] = []
    for course in await uow.catalog.list_courses():
        access = course_access(course, ents, plans, now)
        if access is None and course.id not in rank:
            continue
        out.append(MyCourse(course, access, done.get(course.id, 0)))
    out.sort(key=lambda m: rank.get(m.course.id, len(rank)))
    return out


async def current_course(uow: UnitOfWork, user: User, now: datetime) -> Course | None:
    """The course /next continues: the most recently active one the user can keep learning."""
    mine = await my_courses(uow, user, now)
    for item in mine:
        if item.access is not None or item.course.is_free:
            return item.course
    return mine[0].course if mine else None
