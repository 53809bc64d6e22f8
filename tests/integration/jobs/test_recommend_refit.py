"""The recommendation refit against a real database: it stores a top-N for every learner with history,
which /recommend then shows with reasons; owned, refunded and unpublished courses never show; a learner
the refit did not know gets content and popularity results at once; jieba's tokens are reused; a refit
that fails leaves the previous lists live.

Learners: four "pythonistas" bought both Python courses, three "speakers" bought Public Speaking and
Personal Finance. The demo catalog was imported 60 days before, so no course counts as new.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from recommend_support import buy, course_id, refund, shown, view
from search_support import publish, spec
from support import TestBot, new_user

import bot
import jobs.recommend as job
from core.clock import FrozenClock
from core.recommendations import LiveModel
from core.users import Ref, User
from jobs.recommend import follow, load_live, refit
from storage.jobs_repo import session_of
from storage.recommend_jobs_repo import SqlRecommendJobs

PYTHON, PYTHON_ZH = "Python for Beginners", "Python 入门"
SPEAKING, FINANCE = "Public Speaking Essentials", "Personal Finance 101"
LEARNING, PHOTO = "高效学习法", "摄影构图基础"


@pytest.fixture
async def crowd(demo: bot.App, clock: FrozenClock) -> bot.App:
    clock.advance(timedelta(days=60))
    for i in range(4):
        await buy(demo, await new_user(demo, f"py{i}"), "python-basics", "python-basics-zh")
    for i in range(3):
        await buy(demo, await new_user(demo, f"sp{i}"), "public-speaking", "personal-finance")
    return demo


async def recommended(app: bot.App, who: str, lang: str = "en") -> tuple[list[str], str]:
    """The titles /recommend lists for a console user, best first, and the whole answer."""
    out = await TestBot(app, user=who, lang=lang).say("/recommend")
    return [line.split(". ", 1)[1] for line in shown(out)], out


async def stored_titles(app: bot.App, user: User) -> list[str]:
    async with app.uow() as uow:
        picks = await uow.recommendations.stored(user.id, limit=10)
        titles = {c.id: c.title for c in await uow.catalog.list_courses(published_only=False)}
    assert picks is not None
    return [titles[r.course_id] for r in picks.items]


async def test_the_refit_stores_each_learners_top_n_and_recommend_shows_it_with_reasons(
    crowd: bot.App, clock: FrozenClock
) -> None:
    ann = await new_user(crowd, "ann")
    await buy(crowd, ann, "python-basics")
    report = await refit(crowd.uow, clock)
    assert report.users == 8 and report.courses == 6 and report.interactions == 4 * 2 + 3 * 2 + 1
    everything = {PYTHON, PYTHON_ZH, SPEAKING, FINANCE, LEARNING, PHOTO}
    async with crowd.uow() as uow:
        py0, sp0 = await uow.users.get_by_ref(Ref("console", "py0")), await uow.users.get_by_ref(Ref("console", "sp0"))
    assert py0 is not None and sp0 is not None
    assert set(await stored_titles(crowd, py0)) == everything - {PYTHON, PYTHON_ZH}  # all but what they own
    assert set(await stored_titles(crowd, sp0)) == everything - {SPEAKING, FINANCE}
    assert report.rows == 4 * 4 + 3 * 4 + 5
    titles, out = await recommended(crowd, "ann")
    assert titles[0] == PYTHON_ZH  # what the other Python learners took
    first_reason = out.splitlines()[2].strip()
    assert first_reason in (f"because you studied “{PYTHON}”", f"learners of “{PYTHON}” also took it")
    assert PYTHON not in titles and len(titles) == 5  # she owns it; the rest of the catalog fills up to five
    zh, out_zh = await recommended(crowd, "ann", lang="zh")
    assert zh == titles and "✨ 为你推荐" not in out_zh  # her language is English: the list speaks it


async def test_owned_refunded_and_unpublished_courses_are_never_recommended(crowd: bot.App, clock: FrozenClock) -> None:
    ben = await new_user(crowd, "ben")
    await buy(crowd, ben, "public-speaking", "photo-composition-zh")
    await refund(crowd, ben, "photo-composition-zh")
    await refit(crowd.uow, clock)
    titles, _ = await recommended(crowd, "ben")
    assert SPEAKING not in titles and PHOTO not in titles and titles[0] == FINANCE
    assert PHOTO not in await stored_titles(crowd, ben)

    await buy(crowd, ben, "personal-finance")  # bought after the refit: gone from his list at once
    titles, _ = await recommended(crowd, "ben")
    assert FINANCE not in titles and SPEAKING not in titles

    await publish(crowd, spec("learning-how-zh", LEARNING, language="zh", published=False))  # withdrawn
    for who in ("ben", "py0", "sp0", "nobody-yet"):
        titles, _ = await recommended(crowd, who)
        assert LEARNING not in titles, who
    await refit(crowd.uow, clock)
    assert LEARNING not in await stored_titles(crowd, ben)


async def test_a_learner_the_refit_did_not_know_gets_content_and_popularity_at_once(
    crowd: bot.App, clock: FrozenClock
) -> None:
    await refit(crowd.uow, clock, crowd.services.recommender)
    titles, out = await recommended(crowd, "newbie")  # no history at all: the popular courses
    assert set(titles[:2]) == {PYTHON, PYTHON_ZH}  # bought by four learners, the others by three or none
    assert out.splitlines()[2].strip() == "popular with learners right now"

    cat = await new_user(crowd, "cat")
    await view(crowd, cat, "python-basics")  # her first step, after the refit
    titles, out = await recommended(crowd, "cat")
    assert titles[0] == PYTHON_ZH and PYTHON not in titles  # similar content first; what she saw is not repeated
    assert out.splitlines()[2].strip() in (f"because you studied “{PYTHON}”", f"learners of “{PYTHON}” also took it")

    # A course published after the refit is known to the live model at once.
    await publish(crowd, spec("python-advanced", "Advanced Python", tags=("python", "programming")))
    titles, _ = await recommended(crowd, "cat")
    assert "Advanced Python" in titles
    await publish(crowd, spec("python-advanced", "Advanced Python", tags=("python",), published=False))
    titles, _ = await recommended(crowd, "cat")
    assert "Advanced Python" not in titles


async def test_another_process_loads_the_live_model_once(crowd: bot.App, clock: FrozenClock) -> None:
    other = LiveModel()  # a web process that does not run the refit
    assert await load_live(crowd.uow, clock, other) is False  # nothing live yet
    report = await refit(crowd.uow, clock)
    assert await load_live(crowd.uow, clock, other) is True
    assert other.ready and other.run_id == report.run_id
    assert await load_live(crowd.uow, clock, other) is False  # already current

    stop = asyncio.Event()  # and the loop such a process runs picks up the next refit by itself
    following = asyncio.ensure_future(follow(crowd.uow, clock, other, stop, every=0.01))
    second = await refit(crowd.uow, clock)
    for _ in range(1000):
        if other.run_id == second.run_id:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await following
    assert other.run_id == second.run_id


async def test_only_courses_whose_text_changed_are_tokenized_again(crowd: bot.App, clock: FrozenClock) -> None:
    assert (await refit(crowd.uow, clock)).tokenized == 6
    assert (await refit(crowd.uow, clock)).tokenized == 0  # the tokens were kept with the live run
    await publish(crowd, spec("python-basics", PYTHON, tags=("python", "beginner"), description="Learn Python."))
    assert (await refit(crowd.uow, clock)).tokenized == 1


async def test_a_refit_that_fails_leaves_the_previous_lists_live(
    crowd: bot.App, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await refit(crowd.uow, clock)
    before, _ = await recommended(crowd, "py0")

    def broken(*args: object, **kwargs: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(job.Recommender, "fit", broken)
    with pytest.raises(MemoryError):
        await refit(crowd.uow, clock)
    assert (await recommended(crowd, "py0"))[0] == before
    async with crowd.uow() as uow:
        live = await SqlRecommendJobs(session_of(uow)).live_run()
    assert live is not None and live.id == first.run_id
    monkeypatch.undo()
    second = await refit(crowd.uow, clock)  # the next refit works, and clears the failed run away
    assert second.run_id > first.run_id + 1
    assert await course_id(crowd, "python-basics") > 0


async def test_a_new_install_refits_to_nothing_and_recommend_says_so(app: bot.App, clock: FrozenClock) -> None:
    report = await refit(app.uow, clock, app.services.recommender)  # no catalog, no learners yet
    assert (report.users, report.rows, report.courses) == (0, 0, 0)
    assert "No recommendations yet" in await TestBot(app, user="first").say("/recommend")
