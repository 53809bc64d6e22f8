"""Recommendations through the console channel: 👍 after a lesson, /recommend before and after the nightly
refit, reasons in the learner's language, and /recommend for a learner who refused the weekly push."""

from __future__ import annotations

from recommend_support import buy, shown
from support import TestBot, new_user

import bot
from core.clock import FrozenClock
from jobs.recommend import refit


async def test_a_learner_likes_a_course_and_gets_recommendations_in_chinese(demo: bot.App, clock: FrozenClock) -> None:
    wang = TestBot(demo, user="wang", lang="zh")
    assert "暂时还没有推荐" in await wang.say("/recommend")  # nothing refitted yet: an honest answer

    paid = await wang.press("支付", await wang.say("/buy python-basics-zh"))
    done = await wang.press("完成", paid)
    liked = await wang.press("👍 喜欢", done)
    assert "👍 收到！之后会多为你推荐类似《Python 入门》的课程。" in liked
    lesson2 = await wang.say("/next python-basics-zh")
    again = await wang.press("👍 喜欢", await wang.press("完成", lesson2))
    assert "你已经喜欢过《Python 入门》了。" in again  # a like counts once

    for i in range(3):  # other learners who took both Python courses
        await buy(demo, await new_user(demo, f"py{i}"), "python-basics", "python-basics-zh")
    await refit(demo.uow, clock, demo.services.recommender)  # the nightly job

    out = await wang.press("✨ 为你推荐", again)
    assert out.startswith("✨ 为你推荐\n1. Python for Beginners\n")
    assert out.splitlines()[2].strip() in ("因为你学过《Python 入门》", "学过《Python 入门》的同学也在学")
    assert "Python 入门" not in "\n".join(shown(out))  # bought: never recommended
    assert len(shown(out)) == 5
    card = await wang.press("Python for Beginners", out)  # the buttons open the courses
    assert "Python for Beginners" in card and "购买" in card


async def test_a_learner_who_refused_the_weekly_push_still_gets_recommend(demo: bot.App, clock: FrozenClock) -> None:
    ann = TestBot(demo, user="ann")
    await ann.press("Pay", await ann.say("/buy public-speaking"))
    settings = await ann.say("/settings")
    assert "Muted." in await ann.press("Mute recommendations", settings)
    await refit(demo.uow, clock, demo.services.recommender)
    out = await ann.say("/recommend")
    assert out.startswith("✨ Recommended for you\n1. ")
    assert "Public Speaking Essentials" not in "\n".join(shown(out))
    assert "Weekly recommendation messages are off. Turn them back on in /settings." in out
    assert "Weekly recommendation" not in await TestBot(demo, user="bob").say("/recommend")
