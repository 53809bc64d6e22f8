"""The recommendations' storage against a real database (SQLite, or PostgreSQL when DATABASE_URL says so):
signals read back as the live model needs them, serving reads exactly one run's rows and switches runs
at once, and the push's clicks and conversions are found again."""

from __future__ import annotations

from datetime import timedelta

from recommend_support import buy, course_id, like, search, view
from support import TestBot, new_user

import bot
from core.clock import FrozenClock
from core.delivery import CampaignKind, CampaignStatus
from core.money import Money
from core.recommend import Reason, Recommendation, Signal
from core.users import Ref
from storage.jobs_repo import session_of
from storage.recommend_jobs_repo import SqlRecommendJobs


async def test_signals_read_back_newest_first_and_repeats_are_not_stored(demo: bot.App, clock: FrozenClock) -> None:
    ann = await new_user(demo, "ann")
    python, finance = await course_id(demo, "python-basics"), await course_id(demo, "personal-finance")
    await view(demo, ann, "python-basics")
    clock.advance(timedelta(minutes=20))
    await view(demo, ann, "python-basics")  # the same page again within the hour: not another view
    assert await like(demo, ann, "personal-finance") is True
    clock.advance(timedelta(hours=2))
    assert await like(demo, ann, "personal-finance") is False  # a like counts once
    await view(demo, ann, "python-basics")  # later: a new view
    await search(demo, ann, "  python   for  kids ")
    await search(demo, ann, "budget")
    await search(demo, ann, "python for kids")
    async with demo.uow() as uow:
        history = await uow.recommendations.history(ann.id, since=clock.now() - timedelta(days=1), limit=10)
        queries = await uow.recommendations.queries(ann.id, since=clock.now() - timedelta(days=1), limit=5)
        recent = await uow.recommendations.history(ann.id, since=clock.now() - timedelta(hours=1), limit=10)
    assert [(i.course_id, i.kind) for i in history] == [
        (python, Signal.VIEW),
        (finance, Signal.LIKE),
        (python, Signal.VIEW),
    ]
    assert [(i.course_id, i.kind) for i in recent] == [(python, Signal.VIEW)]
    assert queries == ["python for kids", "budget"]  # newest first, whitespace collapsed, no repeats


async def test_a_purchase_and_a_completed_lesson_are_signals(demo: bot.App, clock: FrozenClock) -> None:
    bob = TestBot(demo, user="bob")
    paid = await bob.press("Pay", await bob.say("/buy public-speaking"))
    assert "Payment received" in paid
    await bob.press("Mark as done", paid)
    await bob.press("Mark as done", paid)  # done twice: one completion
    async with demo.uow() as uow:
        user = await uow.users.get_by_ref(Ref("console", "bob"))
        assert user is not None
        history = await uow.recommendations.history(user.id, since=clock.now() - timedelta(days=1), limit=10)
    speaking = await course_id(demo, "public-speaking")
    assert sorted((i.course_id, i.kind.value) for i in history) == [(speaking, "buy"), (speaking, "complete")]


def _recs(*course_ids: int) -> list[Recommendation]:
    return [Recommendation(c, 1.0 / (i + 1), Reason("popular")) for i, c in enumerate(course_ids)]


async def test_serving_reads_the_live_run_only_and_switches_at_once(demo: bot.App, clock: FrozenClock) -> None:
    ann, bob = await new_user(demo, "ann"), await new_user(demo, "bob")
    a, b, c = [await course_id(demo, s) for s in ("python-basics", "personal-finance", "public-speaking")]
    async with demo.uow() as uow:
        assert await uow.recommendations.stored(ann.id, limit=10) is None  # nothing live yet
        jobs = SqlRecommendJobs(session_of(uow))
        first = await jobs.start_run(clock.now(), clock.now())
        await jobs.add_rows(first, {ann.id: _recs(a, b)})
        await uow.commit()
    async with demo.uow() as uow:
        assert await uow.recommendations.stored(ann.id, limit=10) is None  # still building: not served
        jobs = SqlRecommendJobs(session_of(uow))
        kw = {"users": 1, "courses": 6, "interactions": 2, "fit_ms": 1, "tokens": None}
        assert await jobs.go_live(first, clock.now(), fallback=_recs(c), **kw)  # type: ignore[arg-type]
        await uow.commit()
    async with demo.uow() as uow:
        got = await uow.recommendations.stored(ann.id, limit=10)
        nobody = await uow.recommendations.stored(bob.id, limit=10)
    assert got is not None and [r.course_id for r in got.items] == [a, b] and got.run_id == first
    assert [r.course_id for r in got.fallback] == [c]
    assert nobody is not None and nobody.items == () and [r.course_id for r in nobody.fallback] == [c]

    clock.advance(timedelta(days=1))
    async with demo.uow() as uow:
        jobs = SqlRecommendJobs(session_of(uow))
        second = await jobs.start_run(clock.now(), clock.now())
        await jobs.add_rows(second, {ann.id: _recs(c), bob.id: _recs(a)})
        await uow.commit()
    async with demo.uow() as uow:
        got = await uow.recommendations.stored(ann.id, limit=10)
    assert got is not None and [r.course_id for r in got.items] == [a, b]  # the old run until the switch
    async with demo.uow() as uow:
        jobs = SqlRecommendJobs(session_of(uow))
        assert await jobs.go_live(second, clock.now(), fallback=[], **kw)  # type: ignore[arg-type]
        await uow.commit()
    async with demo.uow() as uow:
        got = await uow.recommendations.stored(ann.id, limit=1)
        deleted = await SqlRecommendJobs(session_of(uow)).cleanup(clock.now())
        await uow.commit()
    assert got is not None and [r.course_id for r in got.items] == [c] and got.run_id == second
    assert deleted == 2  # the first run's rows
    async with demo.uow() as uow:
        live = await SqlRecommendJobs(session_of(uow)).live_run()
    assert live is not None and live.id == second


async def test_a_click_on_a_pushed_course_is_found_and_a_conversion_counts_once(
    demo: bot.App, clock: FrozenClock
) -> None:
    ann = await new_user(demo, "ann")
    a, b = await course_id(demo, "python-basics"), await course_id(demo, "public-speaking")
    async with demo.uow() as uow:
        campaign = await uow.deliveries.create_campaign(
            kind=CampaignKind.RECOMMENDATION,
            creator_id=None,
            audience="recommendations:2026w10",
            channel=None,
            replies=[],
            paid=False,
            now=clock.now(),
            status=CampaignStatus.RUNNING,
        )
        await uow.recommendations.add_push(campaign.id, ann.id, [a, b], clock.now())
        await uow.recommendations.add_push(campaign.id, ann.id, [b, a], clock.now())  # rendered again: replaced
        await uow.commit()
    clock.advance(timedelta(hours=1))
    clicked_at = clock.now()
    async with demo.uow() as uow:
        assert await uow.recommendations.pushed_course(campaign.id, ann.id, 0) == b
        assert await uow.recommendations.pushed_course(campaign.id, ann.id, 5) is None
        await uow.deliveries.click(campaign.id, ann.id, 1, clicked_at)  # pressed course a (button 1)
        await uow.commit()
    clock.advance(timedelta(days=1))
    later = clock.now()
    async with demo.uow() as uow:
        r = uow.recommendations
        assert await r.push_click(ann.id, a, since=later - timedelta(days=7), until=later) == (campaign.id, clicked_at)
        assert await r.push_click(ann.id, b, since=later - timedelta(days=7), until=later) is None  # not pressed
        assert await r.push_click(ann.id, a, since=later - timedelta(hours=1), until=later) is None  # too long ago
    await buy(demo, ann, "python-basics")  # the real purchase path records the conversion
    async with demo.uow() as uow:
        (order,) = await uow.orders.for_user(ann.id)
        again = await uow.recommendations.add_conversion(
            order_id=order.id, user_id=ann.id, course_id=a, campaign_id=campaign.id, clicked_at=clicked_at, at=later
        )
        report = await uow.recommendations.push_report(campaign.id)
    assert again is False  # the purchase was attributed once, already
    assert (report.shown, report.clicked, report.conversions) == (1, 1, 1)
    assert report.revenue == (Money(1999, "USD"),)
