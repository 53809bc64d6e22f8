"""The weekly recommendation push against a real database and the delivery engine (with a fake bulk
sender): learners who refused personalized pushes get nothing, everyone else one message a week however
often the job runs, at their own local hour, with their top three courses as tracked buttons.

The clock is set to Monday 4 May 2026, 02:00 UTC: 10:00 in Shanghai, 22:00 (Sunday) in New York.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from recommend_support import FakeSender, buy, shown
from support import TestBot, new_user

import bot
from bots.console import CAPABILITIES
from core.clock import FrozenClock
from core.delivery import CampaignKind, CampaignStatus, DeliveryStatus
from core.events import ButtonPress, Sender
from core.replies import TextReply
from core.users import Ref, User
from jobs.delivery import DeliveryEngine
from jobs.recommend import refit
from jobs.recommend_push import period_of, plan_push, push_now, push_resolver, push_time

MONDAY_10_SHANGHAI = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
MONDAY_10_NEW_YORK = datetime(2026, 5, 4, 14, 0, tzinfo=UTC)  # EDT


@pytest.fixture
async def learners(demo: bot.App, clock: FrozenClock) -> dict[str, User]:
    """Learners with a purchase each (so the refit knows them), in two timezones; then a refit."""
    clock.set(MONDAY_10_SHANGHAI - timedelta(days=3))
    out: dict[str, User] = {}
    for name, tz, slug in (
        ("sh", "Asia/Shanghai", "python-basics"),
        ("sh2", "Asia/Shanghai", "public-speaking"),
        ("ny", "America/New_York", "python-basics"),
    ):
        out[name] = await new_user(demo, name, timezone=tz)
        await buy(demo, out[name], slug)
    await buy(demo, out["sh2"], "python-basics-zh")
    await refit(demo.uow, clock, demo.services.recommender)
    clock.set(MONDAY_10_SHANGHAI)
    return out


def engine(app: bot.App, clock: FrozenClock, sender: FakeSender) -> DeliveryEngine:
    return DeliveryEngine(
        app.uow,
        clock,
        {"console": sender},  # type: ignore[dict-item]
        resolvers={"rec": push_resolver(app.uow, clock, app.services.recommender)},
    )


async def push(app: bot.App, clock: FrozenClock, sender: FakeSender) -> dict[str, str]:
    """Send whatever is due now; who got what."""
    await engine(app, clock, sender).run_once()
    got = sender.texts()
    sender.sent.clear()
    return got


async def test_a_learner_who_refused_pushes_gets_none_and_the_others_one_a_week(
    demo: bot.App, clock: FrozenClock, learners: dict[str, User]
) -> None:
    sh2 = TestBot(demo, user="sh2")
    assert "Muted." in await sh2.press("Mute recommendations", await sh2.say("/settings"))
    assert await plan_push(demo.uow, clock.now(), channels={"console"}) == 2  # sh and ny; sh2 refused
    assert await plan_push(demo.uow, clock.now(), channels={"console"}) == 0  # run twice: nothing doubles
    clock.advance(timedelta(days=3))
    assert await plan_push(demo.uow, clock.now(), channels={"console"}) == 0  # same week
    async with demo.uow() as uow:
        week = period_of(clock.now(), "Asia/Shanghai", 7)
        assert await uow.deliveries.by_key(f"rec:{learners['sh2'].id}:{week}") is None
        assert await uow.deliveries.by_key(f"rec:{learners['sh'].id}:{week}") is not None
    clock.advance(timedelta(days=4))  # the next Monday: a new week
    assert await plan_push(demo.uow, clock.now(), channels={"console"}) == 2

    # /recommend still answers the learner who refused the pushes (PIPL art. 24: they asked).
    out = await TestBot(demo, user="sh2").say("/recommend")
    assert shown(out) and "Weekly recommendation messages are off" in out


async def test_each_learner_gets_the_push_at_their_local_hour(
    demo: bot.App, clock: FrozenClock, learners: dict[str, User]
) -> None:
    sender = FakeSender()
    assert await plan_push(demo.uow, clock.now(), channels={"console"}, hour=10) == 3
    assert sorted(await push(demo, clock, sender)) == ["sh", "sh2"]  # 10:00 in Shanghai: theirs now
    clock.set(MONDAY_10_NEW_YORK - timedelta(minutes=1))
    assert await push(demo, clock, sender) == {}  # 09:59 in New York
    clock.set(MONDAY_10_NEW_YORK)
    assert list(await push(demo, clock, sender)) == ["ny"]
    assert await push(demo, clock, sender) == {}
    async with demo.uow() as uow:
        (campaign,) = [c for c in await uow.deliveries.campaigns() if c.kind is CampaignKind.RECOMMENDATION]
    assert campaign.status is CampaignStatus.DONE and campaign.total == 3


def test_the_push_hour_is_the_next_one_on_the_learners_clock() -> None:
    assert push_time(MONDAY_10_SHANGHAI, "Asia/Shanghai", 10) == MONDAY_10_SHANGHAI
    assert push_time(MONDAY_10_SHANGHAI, "America/New_York", 10) == MONDAY_10_NEW_YORK
    tokyo = push_time(MONDAY_10_SHANGHAI, "Asia/Tokyo", 10)  # 11:00 there: passed an hour ago, so now
    assert tokyo == MONDAY_10_SHANGHAI
    kiritimati = push_time(MONDAY_10_SHANGHAI, "Pacific/Kiritimati", 10)  # 16:00 there: tomorrow at 10:00
    assert kiritimati == datetime(2026, 5, 4, 20, 0, tzinfo=UTC)
    assert period_of(MONDAY_10_SHANGHAI, "Asia/Shanghai", 7) == "2026w19"
    assert period_of(MONDAY_10_SHANGHAI - timedelta(hours=3), "Asia/Shanghai", 7) == "2026w19"  # Mon 07:00
    assert period_of(MONDAY_10_SHANGHAI - timedelta(hours=11), "Asia/Shanghai", 7) == "2026w18"  # Sun 23:00


async def test_the_push_shows_three_courses_with_reasons_tracked_buttons_and_an_opt_out(
    demo: bot.App, clock: FrozenClock, learners: dict[str, User]
) -> None:
    sender = FakeSender()
    await plan_push(demo.uow, clock.now(), channels={"console"}, at_once=True)
    await engine(demo, clock, sender).run_once()
    by_user = {ref.external_id: replies for ref, replies in sender.sent}
    (message,) = by_user["sh"]
    assert isinstance(message, TextReply)
    lines = message.text.splitlines()
    assert lines[0] == "✨ Your picks this week"
    assert len(shown(message.text)) == 3 and "1. Python for Beginners" not in shown(message.text)  # she owns it
    assert lines[1] == "1. Python 入门" and lines[2].strip().startswith("because you studied")
    courses, opt_out = message.buttons[:3], message.buttons[3]
    assert [b.action.split(".")[0].split(":")[0] for (b,) in courses] == ["rp", "rp", "rp"]
    assert opt_out[0].action == "mute:r.1"

    # Pressing a course opens it and counts as a click of the push; the opt-out button mutes at once.
    sh = Sender(Ref("console", "sh"), "en")
    opened = await demo.dispatcher.dispatch(ButtonPress(sh, courses[0][0].action), CAPABILITIES)
    assert "Python 入门" in opened[0].text  # type: ignore[attr-defined]
    campaign_id = int(courses[0][0].action.split(":")[1].split(".")[0])
    async with demo.uow() as uow:
        assert await uow.deliveries.clicks(campaign_id) == 1
    muted = await demo.dispatcher.dispatch(ButtonPress(sh, opt_out[0].action), CAPABILITIES)
    assert muted[0].text.startswith("Muted.")  # type: ignore[attr-defined]
    clock.advance(timedelta(days=7))
    await refit(demo.uow, clock, demo.services.recommender)
    await plan_push(demo.uow, clock.now(), channels={"console"}, at_once=True)
    sender.sent.clear()
    await engine(demo, clock, sender).run_once()
    assert sorted(ref.external_id for ref, _ in sender.sent) == ["ny", "sh2"]  # not sh any more


async def test_a_learner_who_mutes_after_the_row_was_written_gets_nothing(
    demo: bot.App, clock: FrozenClock, learners: dict[str, User]
) -> None:
    await plan_push(demo.uow, clock.now(), channels={"console"}, at_once=True)
    assert "Muted." in await TestBot(demo, user="ny").say("/settings mute recommendations")
    sender = FakeSender()
    assert sorted(await push(demo, clock, sender)) == ["sh", "sh2"]
    async with demo.uow() as uow:
        row = await uow.deliveries.by_key(f"rec:{learners['ny'].id}:{period_of(clock.now(), 'Asia/Shanghai', 7)}")
    assert row is not None and row.status is DeliveryStatus.SKIPPED


async def test_push_now_refits_first_when_nothing_is_live(demo: bot.App, clock: FrozenClock) -> None:
    ann = await new_user(demo, "ann")
    await buy(demo, ann, "python-basics")
    assert await plan_push(demo.uow, clock.now(), channels={"console"}) == 0  # no refit yet: nothing to push
    assert await push_now(demo.uow, clock, demo.settings, channels={"console"}, at_once=True) == 1
    assert await push_now(demo.uow, clock, demo.settings, channels={"console"}, at_once=True) == 0
    sender = FakeSender()
    assert list(await push(demo, clock, sender)) == ["ann"]
