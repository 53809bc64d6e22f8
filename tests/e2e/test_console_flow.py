"""The demo journey through the console channel, as a learner would do it."""

from __future__ import annotations

from support import TestBot


async def test_browse_preview_buy_learn_and_my(testbot: TestBot) -> None:
    out = await testbot.say("/start")
    assert "Welcome to KnowledgeSea" in out
    out = await testbot.press("Catalog", out)
    assert "Python for Beginners" in out and "Python 入门" in out
    out = await testbot.press("Python for Beginners", out)
    assert "4 lessons, 1 free" in out and "$19.99" in out
    lesson = await testbot.press("Free preview", out)
    assert "Lesson 1/4" in lesson
    locked = await testbot.say("/next python-basics")
    assert "part of the paid course" in locked
    invoice = await testbot.press("Buy", locked)
    assert "Invoice: Python for Beginners — $19.99" in invoice
    paid = await testbot.press("Pay $19.99", invoice)
    assert "Payment received: Python for Beginners" in paid
    my = await testbot.say("/my")
    assert "Python for Beginners" in my and "lifetime access" in my
