"""Clicks and purchases attributed to the recommendation push, end to end on a real database: a learner
presses a pushed course and buys it within a week, and the admin's /recommend stats count the click, the
purchase and its revenue; a purchase without a press, or long after it, is not the push's doing."""

from __future__ import annotations

from datetime import timedelta

from recommend_support import FakeSender, buy
from support import TestBot, new_user

import bot
from bots.console import CAPABILITIES
from core.clock import FrozenClock
from core.events import ButtonPress, Sender
from core.replies import Button, TextReply
from core.users import Ref
from jobs.delivery import DeliveryEngine
from jobs.recommend import refit
from jobs.recommend_push import plan_push, push_resolver


async def pushed_buttons(app: bot.App, clock: FrozenClock, *names: str) -> dict[str, list[Button]]:
    """Refit, push to everyone at once, send; each learner's course buttons as they received them."""
    await refit(app.uow, clock)
    await plan_push(app.uow, clock.now(), channels={"console"}, at_once=True)
    sender = FakeSender()
    resolvers = {"rec": push_resolver(app.uow, clock)}
    await DeliveryEngine(app.uow, clock, {"console": sender}, resolvers=resolvers).run_once()  # type: ignore[dict-item]
    out: dict[str, list[Button]] = {}
    for ref, replies in sender.sent:
        message = replies[0]
        assert isinstance(message, TextReply)
        out[ref.external_id] = [b for (b,) in message.buttons if b.action.startswith("rp:")]
    assert sorted(out) == sorted(names)
    return out


async def press(app: bot.App, who: str, action: str) -> str:
    replies = await app.dispatcher.dispatch(ButtonPress(Sender(Ref("console", who), "en"), action), CAPABILITIES)
    first = replies[0]
    assert isinstance(first, TextReply)
    return first.text


async def test_a_purchase_within_a_week_of_pressing_a_pushed_course_is_attributed(
    demo: bot.App, clock: FrozenClock
) -> None:
    for i in range(3):
        await buy(demo, await new_user(demo, f"py{i}"), "python-basics", "python-basics-zh")
    learners = {name: await new_user(demo, name) for name in ("ann", "bob", "cat")}
    for user in learners.values():
        await buy(demo, user, "python-basics")
    buttons = await pushed_buttons(demo, clock, "py0", "py1", "py2", "ann", "bob", "cat")
    assert buttons["ann"][0].label == "Python 入门"

    card = await press(demo, "ann", buttons["ann"][0].action)  # opens the course card …
    assert "Python 入门" in card
    clock.advance(timedelta(days=2))
    ann_bot = TestBot(demo, user="ann")
    assert "Payment received" in await ann_bot.press("Pay", await ann_bot.say("/buy python-basics-zh"))  # … bought

    await buy(demo, learners["bob"], "python-basics-zh")  # bob never pressed it
    await press(demo, "cat", buttons["cat"][0].action)
    clock.advance(timedelta(days=8))
    await buy(demo, learners["cat"], "python-basics-zh")  # cat pressed it, then bought it 8 days later

    # Someone the push never reached presses its button (a forwarded or forged action): no click, no course.
    await new_user(demo, "eve")
    assert "This menu has expired" in await press(demo, "eve", buttons["ann"][0].action)

    await bot.grant(demo, "console:boss", "admin")  # an admin who speaks Chinese
    stats = await TestBot(demo, user="boss").say("/recommend stats")
    assert stats.startswith("📈 推荐推送（最新在前）")
    assert "已发送 6/6 · 展示 6 · 点击 2 · 购买 1（¥99.00）" in stats  # ann's purchase only
    assert "Only admins can see the recommendation stats." in await TestBot(demo, user="ann").say("/recommend stats")
