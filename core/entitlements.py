"""Entitlements and the single answer to "may this user open this lesson now?".

A bought course is open for good unless its order is refunded; a plan opens
the courses it includes until its period ends. Free preview lessons are open
to anyone. On top of access, the course's drip mode decides *when* each
lesson opens. :func:`decide` is pure, so every rule is tested with a frozen
clock; :func:`core.learning.may_open` gathers its inputs from storage and is
what every channel calls.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.catalog import Course, DripMode, Lesson, Plan

__all__ = [
    "Access",
    "AccessDecision",
    "CourseAccess",
    "Entitlement",
    "course_access",
    "daily_open_time",
    "decide",
]


@dataclass(frozen=True, slots=True)
class Entitlement:
    id: int
    user_id: int
    course_id: int | None  # a single bought course …
    plan_id: int | None  # … or a membership plan
    order_id: int | None
    starts_at: datetime
    expires_at: datetime | None  # None: for good
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        if self.revoked_at is not None or now < self.starts_at:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class CourseAccess:
    """Why a user may see a course's paid lessons: since when, and until when."""

    since: datetime
    until: datetime | None  # None: for good
    via_plan: bool


def course_access(
    course: Course, entitlements: list[Entitlement], plans: dict[int, Plan], now: datetime
) -> CourseAccess | None:
    """Combine every active entitlement that covers ``course`` (None: no access)."""
    since: datetime | None = None
    until: datetime | None = None
    forever = False
    via_plan = True
    for ent in entitlements:
        if not ent.active(now):
            continue
        if ent.course_id == course.id:
            covers, plan_ent = True, False
        elif ent.plan_id is not None and ent.plan_id in plans:
            covers, plan_ent = plans[ent.plan_id].includes(course.id), True
        else:
            covers, plan_ent = False, False
        if not covers:
            continue
        via_plan = via_plan and plan_ent
        since = ent.starts_at if since is None else min(since, ent.starts_at)
        if ent.expires_at is None:
            forever = True
        else:
            until = ent.expires_at if until is None else max(until, ent.expires_at)
    if since is None:
        return None
    # A plan renewed ahead of time starts when the current one ends; follow the chain.
    if not forever and until is not None:
        for ent in sorted(entitlements, key=lambda e: e.starts_at):
            if ent.revoked_at is None and ent.expires_at and ent.starts_at <= until < ent.expires_at:
                plan = plans.get(ent.plan_id) if ent.plan_id is not None else None
                if ent.course_id == course.id or (plan is not None and plan.includes(course.id)):
                    until = ent.expires_at
    return CourseAccess(since=since, until=None if forever else until, via_plan=via_plan)


def daily_open_time(since: datetime, position: int, hour: int, tz: str) -> datetime:
    """When lesson ``position`` of a daily-drip course opens.

    Lesson 0 opens at once; lesson k opens at ``hour`` o'clock, local time,
    k calendar days after the day access began (so two lessons never open
    within the same local day, whatever the hour of purchase).
    """
    if position <= 0:
        return since
    zone = ZoneInfo(tz)
    start_day = since.astimezone(zone).date()
    day = start_day + timedelta(days=position)
    return datetime.combine(day, time(hour=hour), tzinfo=zone)


class Access(enum.StrEnum):
    OPEN = "open"
    NEEDS_PURCHASE = "needs_purchase"
    NOT_YET = "not_yet"  # daily drip: opens at ``opens_at``
    NEEDS_COMPLETION = "needs_completion"  # on_complete drip: finish the previous lesson


@dataclass(frozen=True, slots=True)
class AccessDecision:
    access: Access
    opens_at: datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.access is Access.OPEN


def decide(
    *,
    course: Course,
    lesson: Lesson,
    access: CourseAccess | None,
    started_at: datetime | None,
    previous_completed: bool,
    timezone: str,
    now: datetime,
) -> AccessDecision:
    """The rules, with every input explicit.

    ``access`` is the user's entitlement to the course; ``started_at`` is when
    a free course was first opened (the drip clock for free courses);
    ``previous_completed`` says whether the lesson before this one is done.
    """
    if lesson.free:
        return AccessDecision(Access.OPEN)
    if not course.is_free and access is None:
        return AccessDecision(Access.NEEDS_PURCHASE)
    if course.drip_mode is DripMode.DAILY:
        since = access.since if access is not None else (started_at or now)
        opens = daily_open_time(since, lesson.position, course.drip_hour, timezone)
        if now < opens:
            return AccessDecision(Access.NOT_YET, opens_at=opens)
    elif course.drip_mode is DripMode.ON_COMPLETE and lesson.position > 0 and not previous_completed:
        return AccessDecision(Access.NEEDS_COMPLETION)
    return AccessDecision(Access.OPEN)
