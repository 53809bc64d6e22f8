"""The daily analytics rollup: per local day of the default timezone (Asia/Shanghai here), idempotent,
and catching up every day it missed.

Day boundaries: March 2 in Shanghai is [March 1 16:00, March 2 16:00) UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from support import checkout, confirm, new_user

import bot
from core.clock import FrozenClock
from core.delivery import NewDelivery, Outcome, SendResult
from core.learning import complete_lesson, next_lesson
from core.ports import SendLimits
from core.purchasing import refund_order
from core.replies import Reply, TextReply
from core.users import Ref
from jobs.analytics import day_bounds, rollup_day, rollup_missing
from jobs.delivery import DeliveryEngine
from storage.jobs_repo import session_of
from storage.stats_repo import SqlStats

TZ = "Asia/Shanghai"
MAR2, MAR3 = date(2026, 3, 2), date(2026, 3, 3)


class OkSender:
    channel = "console"

    def limits(self, *, paid: bool) -> SendLimits:
        return SendLimits("console", 1000, 1000)

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        return SendResult(Outcome.SENT)


async def stored(app: bot.App, day: date) -> dict[tuple[str, str], int]:
    async with app.uow() as uow:
        return await SqlStats(session_of(uow)).day(day)


async def busy_day(app: bot.App, clock: FrozenClock) -> None:
    """March 2 (Shanghai): two sign-ups, two sales in two currencies, a lesson delivered and completed,
    a refund, two messages (one sent); then one sign-up just before and one just after local midnight."""
    clock.set(datetime(2026, 3, 1, 16, 0, tzinfo=UTC))  # 00:00 on March 2 in Shanghai
    ann = await new_user(app, "ann")
    await confirm(app, await checkout(app, ann, "python-basics", frozenset({"USD"})), "c1")
    clock.set(datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    bob = await new_user(app, "bob")
    order = await checkout(app, bob, "personal-finance", frozenset({"XTR"}))
    await confirm(app, order, "c2")
    async with app.uow() as uow:
        user = await uow.users.get(ann.id)
        course = await uow.catalog.get_course("python-basics")
        assert user is not None and course is not None
        first = await next_lesson(uow, user, course, clock.now())
        assert first.lesson is not None
        await complete_lesson(uow, user, first.lesson.id, clock.now())
        await refund_order(uow, order.code, clock.now(), reason="changed mind")
        rows = [
            NewDelivery(
                f"t:{u.id}", Ref("console", n), u.id, clock.now(), content="replies", replies=(TextReply("hi"),)
            )
            for u, n in ((ann, "ann"), (bob, "bob"))
        ]
        await uow.deliveries.add(rows)
        await uow.commit()
    await DeliveryEngine(app.uow, clock, {"console": OkSender()}, batch=1).run_once()  # type: ignore[dict-item]
    clock.set(datetime(2026, 3, 2, 15, 59, tzinfo=UTC))  # 23:59 in Shanghai
    await new_user(app, "late")
    clock.set(datetime(2026, 3, 2, 16, 0, tzinfo=UTC))  # 00:00 on March 3
    await new_user(app, "early")


def test_day_bounds_follow_the_timezone() -> None:
    assert day_bounds(MAR2, TZ) == (datetime(2026, 3, 1, 16, tzinfo=UTC), datetime(2026, 3, 2, 16, tzinfo=UTC))
    start, end = day_bounds(date(2026, 3, 8), "America/New_York")  # DST starts: a 23-hour day
    assert end - start == timedelta(hours=23)


async def test_a_day_is_rolled_up_per_metric_and_dimension(demo: bot.App, clock: FrozenClock) -> None:
    await busy_day(demo, clock)
    values = await rollup_day(demo.uow, MAR2, TZ)
    expected = {
        ("new_users", ""): 3,
        ("active_learners", ""): 1,
        ("lessons_delivered", ""): 1,
        ("lessons_completed", ""): 1,
        ("orders_paid", "USD"): 1,
        ("orders_paid", "XTR"): 1,
        ("revenue", "USD"): 1999,
        ("revenue", "XTR"): 500,
        ("refunds", "XTR"): 1,
        ("refunded_amount", "XTR"): 500,
        ("deliveries", "sent"): 1,
        ("deliveries", "pending"): 1,
    }
    assert values == expected
    assert await stored(demo, MAR2) == expected
    assert await rollup_day(demo.uow, MAR3, TZ) == {("new_users", ""): 1}


async def test_re_running_a_day_replaces_its_values(demo: bot.App, clock: FrozenClock) -> None:
    await busy_day(demo, clock)
    first = await rollup_day(demo.uow, MAR2, TZ)
    async with demo.uow() as uow:  # a stale value and a metric that no longer exists
        stats = SqlStats(session_of(uow))
        await stats.replace_day(MAR2, [("new_users", "", 99), ("bogus", "", 1)])
        await uow.commit()
    assert await rollup_day(demo.uow, MAR2, TZ) == first
    assert await stored(demo, MAR2) == first


async def test_missed_days_are_caught_up_once(demo: bot.App, clock: FrozenClock) -> None:
    await busy_day(demo, clock)
    clock.set(datetime(2026, 3, 3, 16, 20, tzinfo=UTC))  # 00:20 on March 4: March 2 and 3 are complete
    assert await rollup_missing(demo.uow, clock, TZ) == 2
    assert (await stored(demo, MAR2))[("new_users", "")] == 3
    assert await stored(demo, MAR3) == {("new_users", ""): 1}
    assert await rollup_missing(demo.uow, clock, TZ) == 0  # nothing left: not redone

    clock.advance(timedelta(days=3))  # the scheduler was down for three days
    assert await rollup_missing(demo.uow, clock, TZ) == 3
    assert await stored(demo, date(2026, 3, 5)) == {}  # a quiet day: rolled up, with nothing to count
    assert await rollup_missing(demo.uow, clock, TZ) == 0


async def test_nothing_to_roll_up_before_the_first_user(app: bot.App, clock: FrozenClock) -> None:
    assert await rollup_missing(app.uow, clock, TZ) == 0
