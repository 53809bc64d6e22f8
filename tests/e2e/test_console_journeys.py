"""More learner journeys through the console: deep links, search, memberships, settings, drip."""

from __future__ import annotations

from datetime import timedelta

from support import TestBot

import bot
from core.clock import FrozenClock


async def test_course_deep_link_opens_the_card(testbot: TestBot) -> None:
    out = await testbot.say("/start c_public-speaking")
    assert "Public Speaking Essentials" in out and "Free preview" in out
    assert "No course" in await testbot.say("/start c_nope")


async def test_search_in_english_and_chinese_and_free_text(testbot: TestBot) -> None:
    out = await testbot.say("/search python")
    assert "Python for Beginners" in out and "Python 入门" in out
    assert "摄影构图基础" in await testbot.say("/search 摄影")
    assert "Personal Finance 101" in await testbot.say("budget")  # free text is a search
    none = await testbot.say("/search quantum chromodynamics")
    assert "Nothing found" in none and "Catalog" in none
    assert "What are you looking for" in await testbot.say("/search")


async def test_catalog_lists_the_learners_language_first(demo: bot.App) -> None:
    zh = TestBot(demo, user="wang", lang="zh")
    out = await zh.say("/catalog")
    first = next(line for line in out.splitlines() if line.startswith("1. "))
    assert "入门" in first or "学习" in first or "摄影" in first
    assert "课程目录（共 6 门）" in out


async def test_membership_opens_every_course_until_it_ends(demo: bot.App, clock: FrozenClock) -> None:
    member = TestBot(demo, user="member", lang="en")
    plans = await member.say("/plans")
    assert "All-Access" in plans and "30 days" in plans and "every course" in plans
    invoice = await member.press("All-Access", plans)
    assert "Invoice" in invoice and "Membership for 30 days" in invoice
    paid = await member.press("Pay", invoice)
    assert "Payment received" in paid and "membership is active until" in paid
    lesson = await member.say("/next public-speaking")
    assert "Lesson 1/" in lesson
    lesson2 = await member.say("/next public-speaking")
    assert "Lesson 2/" in lesson2  # a paid lesson, open through the plan
    clock.advance(timedelta(days=31))
    after = await member.say("/next public-speaking")
    assert "part of the paid course" in after


async def test_settings_language_and_timezone(testbot: TestBot) -> None:
    out = await testbot.say("/settings")
    assert "Language: English" in out and "Asia/Shanghai" in out
    zh = await testbot.press("中文", out)
    assert "语言已设为中文" in zh
    assert "课程目录" in await testbot.say("/catalog")
    assert "时区已设为 Europe/London" in await testbot.say("/settings tz Europe/London")
    assert "无法识别时区" in await testbot.say("/settings tz Mars/Olympus")
    assert "用法" in await testbot.say("/settings colour blue")


async def test_daily_drip_says_when_the_next_lesson_opens(testbot: TestBot, clock: FrozenClock) -> None:
    invoice = await testbot.say("/buy personal-finance")
    paid = await testbot.press("Pay", invoice)
    assert "Lesson 1/4" in paid  # the first lesson arrives with the confirmation
    later = await testbot.say("/next")
    assert "opens on Mar 3, 2026, 8:00\u202fAM" in later  # 08:00 the next day, Asia/Shanghai
    clock.advance(timedelta(hours=23))  # 2026-03-03 00:00 UTC = 08:00 in Shanghai
    assert "Lesson 2/4" in await testbot.say("/next")


async def test_cancelled_invoice_cannot_be_paid(testbot: TestBot) -> None:
    invoice = await testbot.say("/buy python-basics")
    cancelled = await testbot.press("Cancel", invoice)
    assert "Order cancelled" in cancelled
    # the old invoice's Pay option is gone: numbers now map to what the last reply offered
    assert "There is no option 2" in await testbot.say("2")
    assert "Course catalog" in await testbot.say("1")
