"""Search through the console, as a learner types it: typos, Chinese, more pages, and nothing found."""

from __future__ import annotations

from search_support import publish, spec
from support import TestBot

import bot


async def test_a_typo_still_finds_the_course_and_its_card_opens(testbot: TestBot) -> None:
    out = await testbot.say("pyhton for beginers")
    assert out.index("Python for Beginners") < out.index("Python 入门")  # both title words match, with typos
    card = await testbot.press("Python for Beginners", out)
    assert "Free preview" in card and "Four short lessons" in card


async def test_paging_through_chinese_results_and_opening_one(demo: bot.App) -> None:
    await publish(
        demo,
        *(spec(f"tea-{i}", f"茶艺课堂 第{i}讲", tags=("茶艺",), language="zh") for i in range(1, 10)),
        spec("tea-hidden", "茶艺课堂 内部版", tags=("茶艺",), language="zh", published=False),
    )
    wang = TestBot(demo, user="wang", lang="zh")
    first = await wang.say("/search 茶艺")
    assert "（9）" in first and "第 1/2 页" in first and "内部版" not in first
    second = await wang.press("下一页", first)
    assert "7. 茶艺课堂 第7讲" in second and "第 2/2 页" in second
    card = await wang.press("第8讲", second)
    assert "茶艺课堂 第8讲" in card


async def test_nothing_found_offers_popular_courses_to_open(testbot: TestBot) -> None:
    out = await testbot.say("/search quantum chromodynamics")
    assert "Nothing found for “quantum chromodynamics”" in out and "Popular courses" in out
    card = await testbot.press("Public Speaking", out)  # English first for an English-speaking learner
    assert "Public Speaking Essentials" in card
    again = await testbot.say("quantum chromodynamics")
    assert "Course catalog" in await testbot.press("Catalog", again)
