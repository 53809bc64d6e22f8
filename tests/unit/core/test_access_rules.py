"""The pure access rules (core.entitlements): who may open which lesson, and when.

Every input is explicit: no database, no clock, just datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.catalog import Course, DripMode, Lesson, Plan, Price
from core.entitlements import Access, CourseAccess, Entitlement, course_access, daily_open_time, decide
from core.money import Money

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai, Sunday 20:00 in New York
SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
SH = ZoneInfo(SHANGHAI)
NY = ZoneInfo(NEW_YORK)

PAID_COURSE_ID = 10
OTHER_COURSE_ID = 11
PLAN_ID = 5


def course(
    drip: DripMode = DripMode.ALL, *, price: Price | None = None, hour: int = 8, course_id: int = PAID_COURSE_ID
) -> Course:
    return Course(
        id=course_id,
        slug=f"course-{course_id}",
        title="A course",
        summary="",
        description="",
        category="",
        tags=(),
        language="en",
        price=Price(Money(1999, "USD"), 400) if price is None else price,
        drip_mode=drip,
        drip_hour=hour,
        lesson_count=4,
        free_lesson_count=1,
    )


def lesson(position: int, *, free: bool = False, course_id: int = PAID_COURSE_ID) -> Lesson:
    return Lesson(
        id=100 + position,
        course_id=course_id,
        slug=f"l{position}",
        position=position,
        title=f"Lesson {position}",
        free=free,
        body="",
    )


def ent(
    *,
    course_id: int | None = None,
    plan_id: int | None = None,
    starts: datetime = T0,
    expires: datetime | None = None,
    revoked: datetime | None = None,
    ent_id: int = 1,
) -> Entitlement:
    return Entitlement(
        id=ent_id,
        user_id=1,
        course_id=course_id,
        plan_id=plan_id,
        order_id=ent_id,
        starts_at=starts,
        expires_at=expires,
        revoked_at=revoked,
    )


def plan(*, includes_all: bool = False, course_ids: frozenset[int] = frozenset(), period_days: int = 30) -> Plan:
    return Plan(
        id=PLAN_ID,
        slug="plan",
        title="Plan",
        description="",
        period_days=period_days,
        includes_all=includes_all,
        course_ids=course_ids,
    )


def judge(
    c: Course,
    ls: Lesson,
    access: CourseAccess | None,
    now: datetime,
    *,
    started_at: datetime | None = None,
    previous_completed: bool = True,
    tz: str = SHANGHAI,
) -> tuple[Access, datetime | None]:
    d = decide(
        course=c,
        lesson=ls,
        access=access,
        started_at=started_at,
        previous_completed=previous_completed,
        timezone=tz,
        now=now,
    )
    assert d.allowed is (d.access is Access.OPEN)
    return d.access, d.opens_at


def forever(since: datetime = T0) -> CourseAccess:
    return CourseAccess(since=since, until=None, via_plan=False)


# --------------------------------------------------------------------------- free lessons and purchase


@pytest.mark.parametrize("drip", list(DripMode))
@pytest.mark.parametrize("position", [0, 3])
def test_free_lesson_is_always_open(drip: DripMode, position: int) -> None:
    # No access, not completed the previous one, long before any drip time: still open.
    got = judge(course(drip), lesson(position, free=True), None, T0, previous_completed=False)
    assert got == (Access.OPEN, None)


@pytest.mark.parametrize("drip", list(DripMode))
def test_paid_lesson_without_entitlement_needs_purchase(drip: DripMode) -> None:
    assert judge(course(drip), lesson(1), None, T0 + timedelta(days=400))[0] is Access.NEEDS_PURCHASE
    assert judge(course(drip), lesson(0), None, T0)[0] is Access.NEEDS_PURCHASE


def test_paid_lesson_with_entitlement_opens() -> None:
    access = course_access(course(), [ent(course_id=PAID_COURSE_ID)], {}, T0)
    assert access == CourseAccess(since=T0, until=None, via_plan=False)
    for position in range(4):
        assert judge(course(), lesson(position), access, T0)[0] is Access.OPEN


def test_course_entitlement_is_forever() -> None:
    ents = [ent(course_id=PAID_COURSE_ID)]
    ten_years = T0 + timedelta(days=3650)
    access = course_access(course(), ents, {}, ten_years)
    assert access is not None and access.until is None
    assert judge(course(), lesson(2), access, ten_years)[0] is Access.OPEN


def test_entitlement_for_another_course_gives_nothing() -> None:
    assert course_access(course(), [ent(course_id=OTHER_COURSE_ID)], {}, T0) is None


def test_entitlement_that_has_not_started_gives_nothing() -> None:
    ents = [ent(course_id=PAID_COURSE_ID, starts=T0 + timedelta(hours=1))]
    assert course_access(course(), ents, {}, T0) is None
    assert course_access(course(), ents, {}, T0 + timedelta(hours=1)) is not None


@pytest.mark.parametrize("revoked_at", [T0, T0 + timedelta(days=1)])
def test_refunded_or_revoked_entitlement_gives_no_access(revoked_at: datetime) -> None:
    now = T0 + timedelta(days=2)
    ents = [ent(course_id=PAID_COURSE_ID, revoked=revoked_at)]
    access = course_access(course(), ents, {}, now)
    assert access is None
    assert judge(course(), lesson(1), access, now)[0] is Access.NEEDS_PURCHASE


def test_revoked_plan_entitlement_gives_no_access() -> None:
    p = plan(includes_all=True)
    ents = [ent(plan_id=PLAN_ID, expires=T0 + timedelta(days=30), revoked=T0 + timedelta(days=1))]
    assert course_access(course(), ents, {PLAN_ID: p}, T0 + timedelta(days=2)) is None


# --------------------------------------------------------------------------- plans


def test_plan_that_includes_the_course_opens_it() -> None:
    p = plan(course_ids=frozenset({PAID_COURSE_ID}))
    ents = [ent(plan_id=PLAN_ID, expires=T0 + timedelta(days=30))]
    access = course_access(course(), ents, {PLAN_ID: p}, T0)
    assert access == CourseAccess(since=T0, until=T0 + timedelta(days=30), via_plan=True)
    assert judge(course(), lesson(3), access, T0)[0] is Access.OPEN


def test_plan_that_does_not_include_the_course_opens_nothing() -> None:
    p = plan(course_ids=frozenset({OTHER_COURSE_ID}))
    ents = [ent(plan_id=PLAN_ID, expires=T0 + timedelta(days=30))]
    access = course_access(course(), ents, {PLAN_ID: p}, T0)
    assert access is None
    assert judge(course(), lesson(3), access, T0)[0] is Access.NEEDS_PURCHASE


def test_all_access_plan_includes_every_course() -> None:
    p = plan(includes_all=True)
    ents = [ent(plan_id=PLAN_ID, expires=T0 + timedelta(days=30))]
    for cid in (PAID_COURSE_ID, OTHER_COURSE_ID, 999):
        assert course_access(course(course_id=cid), ents, {PLAN_ID: p}, T0) is not None


def test_plan_entitlement_whose_plan_is_unknown_opens_nothing() -> None:
    ents = [ent(plan_id=PLAN_ID, expires=T0 + timedelta(days=30))]
    assert course_access(course(), ents, {}, T0) is None


def test_plan_expiry_open_the_second_before_closed_at_expiry() -> None:
    p = plan(includes_all=True)
    expiry = T0 + timedelta(days=30)
    ents = [ent(plan_id=PLAN_ID, expires=expiry)]
    before = expiry - timedelta(seconds=1)
    access = course_access(course(), ents, {PLAN_ID: p}, before)
    assert access is not None and access.until == expiry
    assert judge(course(), lesson(2), access, before)[0] is Access.OPEN
    at_expiry = course_access(course(), ents, {PLAN_ID: p}, expiry)
    assert at_expiry is None
    assert judge(course(), lesson(2), at_expiry, expiry)[0] is Access.NEEDS_PURCHASE


def test_renewal_starting_at_previous_expiry_extends_until() -> None:
    p = plan(includes_all=True)
    first_end = T0 + timedelta(days=30)
    second_end = first_end + timedelta(days=30)
    ents = [
        ent(plan_id=PLAN_ID, starts=T0, expires=first_end, ent_id=1),
        ent(plan_id=PLAN_ID, starts=first_end, expires=second_end, ent_id=2),
    ]
    access = course_access(course(), ents, {PLAN_ID: p}, T0 + timedelta(days=1))
    assert access is not None
    assert access.since == T0
    assert access.until == second_end
    # And the renewal really opens the course once the first period is over.
    later = course_access(course(), ents, {PLAN_ID: p}, first_end + timedelta(days=1))
    assert later is not None and later.until == second_end
    assert course_access(course(), ents, {PLAN_ID: p}, second_end) is None


def test_chain_of_three_renewals_is_followed_to_the_end() -> None:
    p = plan(includes_all=True)
    ends = [T0 + timedelta(days=30 * k) for k in (1, 2, 3)]
    ents = [
        ent(plan_id=PLAN_ID, starts=T0, expires=ends[0], ent_id=1),
        ent(plan_id=PLAN_ID, starts=ends[1], expires=ends[2], ent_id=3),  # stored out of order
        ent(plan_id=PLAN_ID, starts=ends[0], expires=ends[1], ent_id=2),
    ]
    access = course_access(course(), ents, {PLAN_ID: p}, T0)
    assert access is not None and access.until == ends[2]


def test_renewal_after_a_gap_does_not_extend_until() -> None:
    p = plan(includes_all=True)
    first_end = T0 + timedelta(days=30)
    ents = [
        ent(plan_id=PLAN_ID, starts=T0, expires=first_end, ent_id=1),
        ent(plan_id=PLAN_ID, starts=first_end + timedelta(days=1), expires=first_end + timedelta(days=31), ent_id=2),
    ]
    access = course_access(course(), ents, {PLAN_ID: p}, T0)
    assert access is not None and access.until == first_end


def test_course_entitlement_and_plan_together_are_forever_not_via_plan() -> None:
    p = plan(includes_all=True)
    ents = [
        ent(plan_id=PLAN_ID, starts=T0, expires=T0 + timedelta(days=30), ent_id=1),
        ent(course_id=PAID_COURSE_ID, starts=T0 + timedelta(days=2), ent_id=2),
    ]
    access = course_access(course(), ents, {PLAN_ID: p}, T0 + timedelta(days=3))
    assert access == CourseAccess(since=T0, until=None, via_plan=False)


# --------------------------------------------------------------------------- daily drip


def local(tz: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=tz)  # type: ignore[misc]


def test_daily_lesson_zero_opens_at_once() -> None:
    assert daily_open_time(T0, 0, 8, SHANGHAI) == T0
    c = course(DripMode.DAILY)
    assert judge(c, lesson(0), forever(), T0) == (Access.OPEN, None)


@pytest.mark.parametrize(
    ("position", "opens"),
    [
        (1, datetime(2026, 3, 3, 8, 0, tzinfo=SH)),
        (2, datetime(2026, 3, 4, 8, 0, tzinfo=SH)),
        (3, datetime(2026, 3, 5, 8, 0, tzinfo=SH)),
    ],
)
def test_daily_lesson_k_opens_at_the_hour_k_local_days_later_shanghai(position: int, opens: datetime) -> None:
    # Bought Monday 09:00 Shanghai, after the 08:00 hour.
    assert daily_open_time(T0, position, 8, SHANGHAI) == opens
    c = course(DripMode.DAILY)
    assert judge(c, lesson(position), forever(), opens - timedelta(seconds=1)) == (Access.NOT_YET, opens)
    assert judge(c, lesson(position), forever(), opens) == (Access.OPEN, None)


def test_daily_purchase_late_in_the_evening_opens_next_morning() -> None:
    bought = datetime(2026, 3, 2, 23, 30, tzinfo=SH)
    opens = daily_open_time(bought, 1, 8, SHANGHAI)
    assert opens == datetime(2026, 3, 3, 8, 0, tzinfo=SH)
    assert opens - bought == timedelta(hours=8, minutes=30)


def test_daily_purchase_early_morning_before_the_hour_waits_a_calendar_day() -> None:
    # Bought 06:00: lesson 0 at once, lesson 1 not the same morning at 08:00 but the next day.
    bought = datetime(2026, 3, 3, 6, 0, tzinfo=SH)
    assert daily_open_time(bought, 1, 8, SHANGHAI) == datetime(2026, 3, 4, 8, 0, tzinfo=SH)
    c = course(DripMode.DAILY)
    same_morning = datetime(2026, 3, 3, 8, 30, tzinfo=SH)
    assert judge(c, lesson(1), forever(bought), same_morning)[0] is Access.NOT_YET


def test_daily_uses_the_learners_timezone() -> None:
    # T0 is Monday 09:00 in Shanghai but still Sunday 20:00 in New York.
    assert daily_open_time(T0, 1, 8, SHANGHAI) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    ny_open = daily_open_time(T0, 1, 8, NEW_YORK)
    assert ny_open == datetime(2026, 3, 2, 8, 0, tzinfo=NY)
    assert ny_open == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # EST = UTC-5
    c = course(DripMode.DAILY)
    at = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 Monday in NY, 22:00 Monday in Shanghai
    assert judge(c, lesson(1), forever(), at, tz=NEW_YORK)[0] is Access.OPEN
    assert judge(c, lesson(1), forever(), at, tz=SHANGHAI)[0] is Access.NOT_YET


def test_daily_new_york_late_evening_and_early_morning() -> None:
    late = datetime(2026, 3, 4, 23, 45, tzinfo=NY)
    assert daily_open_time(late, 1, 8, NEW_YORK) == datetime(2026, 3, 5, 8, 0, tzinfo=NY)
    early = datetime(2026, 3, 5, 5, 0, tzinfo=NY)
    assert daily_open_time(early, 1, 8, NEW_YORK) == datetime(2026, 3, 6, 8, 0, tzinfo=NY)


def test_daily_across_the_new_york_dst_change() -> None:
    # Clocks jump from 02:00 EST to 03:00 EDT on Sunday 2026-03-08.
    bought = datetime(2026, 3, 7, 20, 0, tzinfo=NY)  # Saturday evening, EST
    opens = daily_open_time(bought, 1, 8, NEW_YORK)
    assert opens.astimezone(UTC) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT = UTC-4
    assert opens.astimezone(NY).hour == 8
    # The lessons either side of the change are 23 hours apart and both at 08:00 local.
    sat = daily_open_time(T0, 6, 8, NEW_YORK)
    sun = daily_open_time(T0, 7, 8, NEW_YORK)
    assert sat.astimezone(UTC) == datetime(2026, 3, 7, 13, 0, tzinfo=UTC)
    assert sun.astimezone(UTC) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    # (subtract in UTC: Python subtracts same-zone datetimes as wall-clock times)
    assert sun.astimezone(UTC) - sat.astimezone(UTC) == timedelta(hours=23)
    c = course(DripMode.DAILY)
    just_before = datetime(2026, 3, 8, 11, 59, 59, tzinfo=UTC)  # 07:59:59 EDT
    assert judge(c, lesson(1), forever(bought), just_before, tz=NEW_YORK)[0] is Access.NOT_YET
    assert judge(c, lesson(1), forever(bought), just_before + timedelta(seconds=1), tz=NEW_YORK)[0] is Access.OPEN


def test_daily_hour_is_the_course_hour() -> None:
    c = course(DripMode.DAILY, hour=20)
    opens = datetime(2026, 3, 3, 20, 0, tzinfo=SH)
    assert judge(c, lesson(1), forever(), opens - timedelta(minutes=1)) == (Access.NOT_YET, opens)


def test_daily_plan_access_counts_from_plan_start() -> None:
    p = plan(includes_all=True)
    c = course(DripMode.DAILY)
    ents = [ent(plan_id=PLAN_ID, starts=T0, expires=T0 + timedelta(days=30))]
    now = T0 + timedelta(days=2, hours=1)  # Wednesday 10:00 Shanghai
    access = course_access(c, ents, {PLAN_ID: p}, now)
    assert judge(c, lesson(2), access, now)[0] is Access.OPEN
    assert judge(c, lesson(3), access, now) == (Access.NOT_YET, datetime(2026, 3, 5, 8, 0, tzinfo=SH))


# --------------------------------------------------------------------------- on_complete drip


def test_on_complete_first_paid_lesson_needs_nothing_else() -> None:
    c = course(DripMode.ON_COMPLETE)
    assert judge(c, lesson(0), forever(), T0, previous_completed=False)[0] is Access.OPEN


@pytest.mark.parametrize("position", [1, 2, 3])
def test_on_complete_lesson_k_needs_k_minus_one_completed(position: int) -> None:
    c = course(DripMode.ON_COMPLETE)
    assert judge(c, lesson(position), forever(), T0, previous_completed=False)[0] is Access.NEEDS_COMPLETION
    assert judge(c, lesson(position), forever(), T0, previous_completed=True)[0] is Access.OPEN


def test_on_complete_without_purchase_still_needs_purchase() -> None:
    c = course(DripMode.ON_COMPLETE)
    assert judge(c, lesson(2), None, T0, previous_completed=True)[0] is Access.NEEDS_PURCHASE


def test_all_mode_ignores_previous_and_time() -> None:
    c = course(DripMode.ALL)
    assert judge(c, lesson(3), forever(), T0, previous_completed=False)[0] is Access.OPEN


# --------------------------------------------------------------------------- free courses


def test_free_course_daily_counts_from_started_at() -> None:
    c = course(DripMode.DAILY, price=Price())
    assert c.is_free
    started = datetime(2026, 3, 2, 21, 0, tzinfo=SH)
    now = datetime(2026, 3, 3, 7, 0, tzinfo=SH)
    opens = datetime(2026, 3, 3, 8, 0, tzinfo=SH)
    assert judge(c, lesson(1), None, now, started_at=started) == (Access.NOT_YET, opens)
    assert judge(c, lesson(1), None, opens, started_at=started)[0] is Access.OPEN
    assert judge(c, lesson(2), None, opens, started_at=started) == (
        Access.NOT_YET,
        datetime(2026, 3, 4, 8, 0, tzinfo=SH),
    )


def test_free_course_daily_not_started_counts_from_now() -> None:
    c = course(DripMode.DAILY, price=Price())
    assert judge(c, lesson(0), None, T0)[0] is Access.OPEN
    assert judge(c, lesson(1), None, T0) == (Access.NOT_YET, datetime(2026, 3, 3, 8, 0, tzinfo=SH))


def test_free_course_all_mode_is_open_without_entitlement() -> None:
    c = course(DripMode.ALL, price=Price(Money(0, "USD"), None))
    assert c.is_free
    assert judge(c, lesson(3), None, T0)[0] is Access.OPEN
