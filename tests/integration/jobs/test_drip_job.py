"""The daily drip push against a real database: rows appear when each learner's local course hour
passes, the delivery engine renders and marks the lesson, a catch-up after downtime sends one
lesson per learner per run, and /next agrees with what the push delivered.

The demo course ``personal-finance`` drips daily at 08:00 (4 lessons, the first a free preview).
The clock starts at T0 = 2026-03-02 01:00 UTC: 09:00 in Shanghai, 20:00 the day before in New York.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from support import TestBot, checkout, confirm, new_user

import bot
from core.clock import FrozenClock
from core.delivery import DeliveryStatus, Outcome, SendResult
from core.ports import SendLimits
from core.purchasing import refund_order
from core.replies import Reply, TextReply
from core.users import Ref, User
from jobs.delivery import DeliveryEngine
from jobs.drip import lesson_resolver, plan_drip

COURSE = "personal-finance"
TITLES = [
    "Where does your money go?",
    "Build an emergency fund",
    "Pay off debt: avalanche vs snowball",
    "Start investing with index funds",
]


class FakeSender:
    """Records what the engine sends; ``script`` answers a user's next sends with other outcomes."""

    channel = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[Ref, tuple[Reply, ...]]] = []
        self.script: dict[str, list[SendResult]] = {}

    def limits(self, *, paid: bool) -> SendLimits:
        return SendLimits("console", 1000, 1000)

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        queue = self.script.get(ref.external_id)
        if queue:
            return queue.pop(0)
        self.sent.append((ref, tuple(replies)))
        return SendResult(Outcome.SENT)

    def lessons(self) -> list[tuple[str, str]]:
        """(who, lesson title) of every lesson sent, in order; the bookkeeping is cleared."""
        out = []
        for ref, replies in self.sent:
            first = replies[0]
            assert isinstance(first, TextReply)
            out.append((ref.external_id, next(t for t in TITLES if t in first.text.splitlines()[0])))
        self.sent.clear()
        return out


async def learner(app: bot.App, name: str, timezone: str, slug: str = COURSE) -> User:
    user = await new_user(app, name, timezone=timezone)
    order = await checkout(app, user, slug)
    await confirm(app, order, f"ch-{name}")
    return user


def engine(app: bot.App, clock: FrozenClock, sender: FakeSender) -> DeliveryEngine:
    return DeliveryEngine(
        app.uow,
        clock,
        {"console": sender},  # type: ignore[dict-item]
        resolvers={"lesson": lesson_resolver(app.uow, clock)},
    )


async def push(app: bot.App, clock: FrozenClock, sender: FakeSender) -> list[tuple[str, str]]:
    """One drip run, then the engine sends what it recorded; what arrived."""
    await plan_drip(app.uow, clock)
    await engine(app, clock, sender).run_once()
    return sender.lessons()


async def _course_id(app: bot.App) -> int:
    async with app.uow() as uow:
        course = await uow.catalog.get_course(COURSE)
    assert course is not None
    return course.id


async def _lesson_ids(app: bot.App) -> list[int]:
    course_id = await _course_id(app)
    async with app.uow() as uow:
        return [lesson.id for lesson in await uow.catalog.lessons(course_id)]


async def _first_lesson(app: bot.App) -> int:
    return (await _lesson_ids(app))[0]


async def test_lessons_go_out_at_the_course_hour_in_each_learners_timezone(demo: bot.App, clock: FrozenClock) -> None:
    sh = await learner(demo, "sh", "Asia/Shanghai")
    ny = await learner(demo, "ny", "America/New_York")
    nobody = await new_user(demo, "nobody")  # no access: never gets anything
    sender = FakeSender()

    # Lesson 1 opens at once: both get it on the first run, and nothing more that day.
    assert sorted(await push(demo, clock, sender)) == [("ny", TITLES[0]), ("sh", TITLES[0])]
    assert await push(demo, clock, sender) == []

    # New York: access began on its March 1, so lesson 2 opens at 08:00 EST on March 2 = 13:00 UTC.
    clock.set(datetime(2026, 3, 2, 12, 59, tzinfo=UTC))
    assert await plan_drip(demo.uow, clock) == 0
    clock.set(datetime(2026, 3, 2, 13, 0, tzinfo=UTC))
    assert await push(demo, clock, sender) == [("ny", TITLES[1])]

    # Shanghai: access began on its March 2, so lesson 2 opens at 08:00 CST on March 3 = 00:00 UTC.
    clock.set(datetime(2026, 3, 2, 23, 59, tzinfo=UTC))
    assert await push(demo, clock, sender) == []
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    assert await push(demo, clock, sender) == [("sh", TITLES[1])]

    lessons = await _lesson_ids(demo)
    async with demo.uow() as uow:
        rows = [await uow.deliveries.by_key(f"drip:{u.id}:{lesson}") for u in (sh, ny, nobody) for lesson in lessons]
    recorded = [(d.user_id, d.content, d.status) for d in rows if d is not None]
    assert [(u, c) for u, c, _ in recorded] == [
        (sh.id, f"lesson:{lessons[0]}"),
        (sh.id, f"lesson:{lessons[1]}"),
        (ny.id, f"lesson:{lessons[0]}"),
        (ny.id, f"lesson:{lessons[1]}"),
    ]
    assert {s for _, _, s in recorded} == {DeliveryStatus.SENT}


async def test_the_pushed_lesson_is_rendered_like_next_and_next_moves_on(demo: bot.App, clock: FrozenClock) -> None:
    sh = await learner(demo, "sh", "Asia/Shanghai")
    sender = FakeSender()
    await plan_drip(demo.uow, clock)
    await engine(demo, clock, sender).run_once()
    ((ref, replies),) = sender.sent
    assert ref == Ref("console", "sh")
    header = replies[0]
    assert isinstance(header, TextReply) and header.markdown
    assert header.text.startswith(f"📖 Personal Finance 101 · Lesson 1/4: {TITLES[0]}")
    actions = replies[-1]
    assert isinstance(actions, TextReply) and len(actions.buttons[0]) == 2  # done, next lesson

    out = await TestBot(demo, user="sh").say(f"/next {COURSE}")
    assert f"Lesson 2 “{TITLES[1]}” opens on" in out  # lesson 1 was delivered: /next moves on to lesson 2
    course_id = await _course_id(demo)
    async with demo.uow() as uow:
        progress = await uow.progress.for_course(sh.id, course_id)
    assert [p.delivered_at == clock.now() for p in progress.values()] == [True]


async def test_after_downtime_the_catch_up_sends_one_lesson_per_learner_per_day(
    demo: bot.App, clock: FrozenClock
) -> None:
    await learner(demo, "sh", "Asia/Shanghai")
    await learner(demo, "ny", "America/New_York")
    sender = FakeSender()
    assert len(await push(demo, clock, sender)) == 2  # lesson 1 each

    clock.advance(timedelta(days=3, hours=12))  # the scheduler was down: lessons 2-4 are all open now
    assert await plan_drip(demo.uow, clock) == 2  # one row each: lesson 2
    assert await plan_drip(demo.uow, clock) == 0  # not sent yet: the same lesson is not recorded twice
    await engine(demo, clock, sender).run_once()
    assert sorted(sender.lessons()) == [("ny", TITLES[1]), ("sh", TITLES[1])]
    assert await push(demo, clock, sender) == []  # the next run the same local day: nothing more, never a flood
    clock.advance(timedelta(days=1))
    assert sorted(await push(demo, clock, sender)) == [("ny", TITLES[2]), ("sh", TITLES[2])]

    # New York reads on with /next meanwhile: the push continues after it, never repeating a lesson.
    ny = TestBot(demo, user="ny")
    assert TITLES[3] in await ny.say(f"/next {COURSE}")
    clock.advance(timedelta(days=1))
    assert await push(demo, clock, sender) == [("sh", TITLES[3])]
    assert await push(demo, clock, sender) == []  # both finished
    assert "You've seen every lesson" in await ny.say(f"/next {COURSE}")


async def test_a_lesson_opened_with_next_before_the_send_is_skipped(demo: bot.App, clock: FrozenClock) -> None:
    sh = await learner(demo, "sh", "Asia/Shanghai")
    first = await _first_lesson(demo)
    sender = FakeSender()
    assert await plan_drip(demo.uow, clock) == 1
    assert TITLES[0] in await TestBot(demo, user="sh").say(f"/next {COURSE}")  # before the engine's round
    await engine(demo, clock, sender).run_once()
    assert sender.sent == []
    async with demo.uow() as uow:
        row = await uow.deliveries.by_key(f"drip:{sh.id}:{first}")
    assert row is not None and row.status is DeliveryStatus.SKIPPED


async def test_a_learner_who_lost_access_gets_nothing(demo: bot.App, clock: FrozenClock) -> None:
    sh = await learner(demo, "sh", "Asia/Shanghai")
    sender = FakeSender()
    assert len(await push(demo, clock, sender)) == 1
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    assert await plan_drip(demo.uow, clock) == 1  # lesson 2 is recorded ...
    async with demo.uow() as uow:
        (order,) = await uow.orders.for_user(sh.id)
        await refund_order(uow, order.code, clock.now(), reason="test")
        await uow.commit()
    await engine(demo, clock, sender).run_once()
    assert sender.sent == []  # ... but refunded before the send: skipped
    clock.advance(timedelta(days=2))
    assert await plan_drip(demo.uow, clock) == 0  # and never recorded again


async def test_a_transient_send_failure_sends_the_lesson_again(demo: bot.App, clock: FrozenClock) -> None:
    await learner(demo, "sh", "Asia/Shanghai")
    sender = FakeSender()
    sender.script["sh"] = [SendResult(Outcome.RETRY, "502"), SendResult(Outcome.FLOOD, "429", retry_after=5)]
    await plan_drip(demo.uow, clock)
    await engine(demo, clock, sender).run_once()  # marked delivered, then the send failed
    clock.advance(timedelta(seconds=30))
    await engine(demo, clock, sender).run_once()  # flood control
    clock.advance(timedelta(seconds=5))
    await engine(demo, clock, sender).run_once()
    assert sender.lessons() == [("sh", TITLES[0])]  # the retry resent it although it was marked delivered


async def test_plan_members_get_the_drip_of_included_courses_in_batches(demo: bot.App, clock: FrozenClock) -> None:
    members = [await learner(demo, f"m{i}", "Asia/Shanghai", slug="all-access") for i in range(5)]
    first = await _first_lesson(demo)
    await plan_drip(demo.uow, clock, batch=2)  # several pages of (learner, course) pairs
    async with demo.uow() as uow:
        for i, m in enumerate(members):
            row = await uow.deliveries.by_key(f"drip:{m.id}:{first}")
            assert row is not None and row.ref == Ref("console", f"m{i}")
    assert await plan_drip(demo.uow, clock, batch=2) == 0  # idempotent


async def test_only_identities_on_a_channel_the_engine_sends_on_are_used(demo: bot.App, clock: FrozenClock) -> None:
    await learner(demo, "sh", "Asia/Shanghai")
    assert await plan_drip(demo.uow, clock, channels={"telegram", "wechat"}) == 0  # a console-only learner
    assert await plan_drip(demo.uow, clock, channels={"console"}) == 1
