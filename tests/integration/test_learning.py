"""Learning (core.learning) on the demo catalog with a frozen clock: /next,
opening and completing lessons in each drip mode, "my courses", re-import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

import bot
from core.accounts import ensure_user, set_timezone
from core.catalog import Course, Lesson
from core.clock import FrozenClock
from core.entitlements import Access
from core.errors import UserFacingError
from core.events import Sender
from core.learning import NextKind, NextLesson, complete_lesson, course_state, my_courses, next_lesson, open_lesson
from core.orders import PaymentOutcome
from core.purchasing import confirm_payment, start_checkout
from core.users import Ref, User

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def frozen(app: bot.App) -> FrozenClock:
    assert isinstance(app.clock, FrozenClock)
    return app.clock


async def new_user(app: bot.App, name: str, timezone: str = "Asia/Shanghai") -> User:
    async with app.uow() as uow:
        user, _ = await ensure_user(uow, Sender(Ref("console", name), "en"), now=app.clock.now(), timezone=timezone)
        await uow.commit()
    return user


async def buy(app: bot.App, user: User, slug: str) -> None:
    async with app.uow() as uow:
        checkout = await start_checkout(
            uow, user, slug, provider="sandbox", currencies=None, now=app.clock.now(), ttl=timedelta(minutes=30)
        )
        result = await confirm_payment(
            uow,
            provider="sandbox",
            charge_id=f"ch-{checkout.order.code}",
            payload=checkout.order.code,
            total=checkout.order.price,
            now=app.clock.now(),
        )
        await uow.commit()
    assert result.outcome is PaymentOutcome.APPLIED


async def course_and_lessons(app: bot.App, slug: str) -> tuple[Course, list[Lesson]]:
    async with app.uow() as uow:
        course = await uow.catalog.get_course(slug)
        assert course is not None
        return course, await uow.catalog.lessons(course.id)


async def next_of(app: bot.App, user: User, course: Course) -> NextLesson:
    async with app.uow() as uow:
        result = await next_lesson(uow, user, course, app.clock.now())
        await uow.commit()
    return result


async def complete(app: bot.App, user: User, lesson: Lesson) -> bool:
    async with app.uow() as uow:
        _, _, newly = await complete_lesson(uow, user, lesson.id, app.clock.now())
        await uow.commit()
    return newly


async def count(app: bot.App, sql: str) -> int:
    async with app.db.engine.connect() as conn:
        return int((await conn.execute(text(sql))).scalar_one())


# --------------------------------------------------------------------------- drip mode "all"


async def test_all_mode_delivers_lessons_in_order_then_finished(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    course, lessons = await course_and_lessons(demo, "public-speaking")
    assert len(lessons) == 4
    await buy(demo, alice, "public-speaking")
    delivered = []
    for _ in lessons:
        step = await next_of(demo, alice, course)
        assert step.kind is NextKind.DELIVER
        assert step.total == 4
        assert step.lesson is not None
        delivered.append(step.lesson.id)
    assert delivered == [ls.id for ls in lessons]
    done = await next_of(demo, alice, course)
    assert done.kind is NextKind.FINISHED and done.lesson is None and done.total == 4


async def test_without_purchase_next_stops_after_the_free_preview(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    course, lessons = await course_and_lessons(demo, "public-speaking")
    first = await next_of(demo, alice, course)
    assert first.kind is NextKind.DELIVER and first.lesson is not None and first.lesson.id == lessons[0].id
    locked = await next_of(demo, alice, course)
    assert locked.kind is NextKind.LOCKED
    assert locked.lesson is not None and locked.lesson.id == lessons[1].id
    assert locked.decision is not None and locked.decision.access is Access.NEEDS_PURCHASE
    # Locked lessons are not marked delivered: the same answer again, and it opens once bought.
    assert (await next_of(demo, alice, course)).kind is NextKind.LOCKED
    await buy(demo, alice, "public-speaking")
    after = await next_of(demo, alice, course)
    assert after.kind is NextKind.DELIVER and after.lesson is not None and after.lesson.id == lessons[1].id


# --------------------------------------------------------------------------- drip mode "daily"


async def test_daily_next_lesson_opens_the_next_morning_at_eight_shanghai(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")  # Asia/Shanghai; T0 is Monday 09:00 there
    course, lessons = await course_and_lessons(demo, "personal-finance")
    await buy(demo, alice, "personal-finance")
    first = await next_of(demo, alice, course)
    assert first.kind is NextKind.DELIVER and first.lesson is not None and first.lesson.id == lessons[0].id
    tuesday_8 = datetime(2026, 3, 3, 8, 0, tzinfo=SH)
    second = await next_of(demo, alice, course)
    assert second.kind is NextKind.LOCKED
    assert second.lesson is not None and second.lesson.id == lessons[1].id
    assert second.decision is not None and second.decision.access is Access.NOT_YET
    assert second.decision.opens_at == tuesday_8
    # Not even completable before it opens.
    with pytest.raises(UserFacingError) as excinfo:
        await complete(demo, alice, lessons[1])
    assert excinfo.value.key == "lesson.locked"
    frozen(demo).set(tuesday_8 - timedelta(seconds=1))
    assert (await next_of(demo, alice, course)).kind is NextKind.LOCKED
    frozen(demo).set(tuesday_8)
    opened = await next_of(demo, alice, course)
    assert opened.kind is NextKind.DELIVER and opened.lesson is not None and opened.lesson.id == lessons[1].id
    third = await next_of(demo, alice, course)
    assert third.kind is NextKind.LOCKED
    assert third.decision is not None and third.decision.opens_at == datetime(2026, 3, 4, 8, 0, tzinfo=SH)


async def test_daily_follows_the_learners_timezone(demo: bot.App) -> None:
    bob = await new_user(demo, "bob")
    async with demo.uow() as uow:
        await set_timezone(uow, bob, "America/New_York")
        await uow.commit()
        stored = await uow.users.get(bob.id)
    assert stored is not None and stored.timezone == "America/New_York"
    course, lessons = await course_and_lessons(demo, "personal-finance")
    await buy(demo, stored, "personal-finance")  # Sunday 20:00 in New York
    await next_of(demo, stored, course)
    locked = await next_of(demo, stored, course)
    assert locked.lesson is not None and locked.lesson.id == lessons[1].id
    assert locked.decision is not None and locked.decision.access is Access.NOT_YET
    assert locked.decision.opens_at == datetime(2026, 3, 2, 8, 0, tzinfo=NY)
    assert locked.decision.opens_at == datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    frozen(demo).set(datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    assert (await next_of(demo, stored, course)).kind is NextKind.DELIVER


# --------------------------------------------------------------------------- drip mode "on_complete"


async def test_on_complete_needs_the_previous_lesson_done(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    course, lessons = await course_and_lessons(demo, "python-basics")
    await buy(demo, alice, "python-basics")
    first = await next_of(demo, alice, course)
    assert first.kind is NextKind.DELIVER and first.lesson is not None and first.lesson.id == lessons[0].id
    locked = await next_of(demo, alice, course)
    assert locked.kind is NextKind.LOCKED
    assert locked.decision is not None and locked.decision.access is Access.NEEDS_COMPLETION
    assert locked.previous is not None and locked.previous.id == lessons[0].id
    # Skipping ahead is refused, and opening a locked lesson delivers nothing.
    for ahead in (lessons[1], lessons[2]):
        with pytest.raises(UserFacingError) as excinfo:
            await complete(demo, alice, ahead)
        assert excinfo.value.key == "lesson.locked"
    async with demo.uow() as uow:
        _, _, decision = await open_lesson(uow, alice, lessons[2].id, demo.clock.now())
        assert decision.access is Access.NEEDS_COMPLETION
        state = await course_state(uow, alice, course, demo.clock.now())
    assert set(state.progress) == {lessons[0].id}
    assert await complete(demo, alice, lessons[0]) is True
    assert await complete(demo, alice, lessons[0]) is False  # already done
    second = await next_of(demo, alice, course)
    assert second.kind is NextKind.DELIVER and second.lesson is not None and second.lesson.id == lessons[1].id
    assert (await next_of(demo, alice, course)).kind is NextKind.LOCKED
    assert await complete(demo, alice, lessons[1]) is True
    assert (await next_of(demo, alice, course)).kind is NextKind.DELIVER


# --------------------------------------------------------------------------- progress and "my courses"


async def test_progress_is_per_user(demo: bot.App) -> None:
    alice, bob = await new_user(demo, "alice"), await new_user(demo, "bob")
    course, lessons = await course_and_lessons(demo, "public-speaking")
    await buy(demo, alice, "public-speaking")
    await next_of(demo, alice, course)
    assert await complete(demo, alice, lessons[0]) is True
    async with demo.uow() as uow:
        assert await my_courses(uow, bob, demo.clock.now()) == []
        bob_state = await course_state(uow, bob, course, demo.clock.now())
        alice_state = await course_state(uow, alice, course, demo.clock.now())
    assert bob_state.progress == {} and bob_state.completed == 0
    assert alice_state.completed == 1
    # Bob starts at the beginning, and completing the same lesson is new for him.
    first = await next_of(demo, bob, course)
    assert first.lesson is not None and first.lesson.id == lessons[0].id
    assert await complete(demo, bob, lessons[0]) is True


async def test_my_courses_lists_owned_and_previewed_with_completed_counts(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    speaking, speaking_lessons = await course_and_lessons(demo, "public-speaking")
    python, python_lessons = await course_and_lessons(demo, "python-basics")
    await buy(demo, alice, "personal-finance")  # owned, never opened
    await buy(demo, alice, "public-speaking")
    await complete(demo, alice, speaking_lessons[0])
    await complete(demo, alice, speaking_lessons[2])
    frozen(demo).advance(timedelta(minutes=5))
    async with demo.uow() as uow:  # a free preview of a course alice does not own
        _, _, decision = await open_lesson(uow, alice, python_lessons[0].id, demo.clock.now())
        await uow.commit()
    assert decision.allowed
    async with demo.uow() as uow:
        mine = await my_courses(uow, alice, demo.clock.now())
    listed = {m.course.slug: m for m in mine}
    assert set(listed) == {"python-basics", "public-speaking", "personal-finance"}
    assert listed["public-speaking"].completed == 2
    assert listed["public-speaking"].access is not None and listed["public-speaking"].access.until is None
    assert listed["python-basics"].completed == 0 and listed["python-basics"].access is None
    assert listed["personal-finance"].completed == 0 and listed["personal-finance"].access is not None
    # Most recently active first; owned-but-untouched last.
    assert [m.course.slug for m in mine] == ["python-basics", "public-speaking", "personal-finance"]
    assert speaking.id == listed["public-speaking"].course.id and python.id == listed["python-basics"].course.id


async def test_reimport_keeps_progress_and_does_not_duplicate(demo: bot.App) -> None:
    alice = await new_user(demo, "alice")
    course, lessons = await course_and_lessons(demo, "python-basics")
    await buy(demo, alice, "python-basics")
    await next_of(demo, alice, course)
    await complete(demo, alice, lessons[0])
    before = [await count(demo, f"SELECT COUNT(*) FROM {t}") for t in ("courses", "lessons", "plans", "progress")]
    assert before[:3] == [6, 23, 1]
    frozen(demo).advance(timedelta(hours=1))
    summary = await bot.import_path(demo, bot.DEMO_CATALOG)
    assert (summary.courses_created, summary.courses_updated) == (0, 6)
    assert (summary.plans_created, summary.plans_updated) == (0, 1)
    after = [await count(demo, f"SELECT COUNT(*) FROM {t}") for t in ("courses", "lessons", "plans", "progress")]
    assert after == before
    same_course, same_lessons = await course_and_lessons(demo, "python-basics")
    assert same_course.id == course.id
    assert [ls.id for ls in same_lessons] == [ls.id for ls in lessons]
    async with demo.uow() as uow:
        state = await course_state(uow, alice, same_course, demo.clock.now())
        mine = await my_courses(uow, alice, demo.clock.now())
    assert state.completed == 1 and state.access is not None
    assert [(m.course.slug, m.completed) for m in mine] == [("python-basics", 1)]
    step = await next_of(demo, alice, same_course)
    assert step.kind is NextKind.DELIVER and step.lesson is not None and step.lesson.id == lessons[1].id
