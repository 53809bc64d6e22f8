"""What a careless or hostile console user can do: nothing they weren't offered."""

from __future__ import annotations

from support import TestBot

import bot
from bots.console import CAPABILITIES
from core.events import ButtonPress, Message, PaymentSucceeded, Sender
from core.money import Money
from core.users import Ref


async def test_numbers_only_press_offered_buttons(testbot: TestBot) -> None:
    assert "no menu" in (await testbot.say("1")).lower()
    out = await testbot.say("/start")
    assert "There is no option 9" in await testbot.say("9")
    assert "There is no option 0" in await testbot.say("0")
    assert "Course catalog" in await testbot.press("Catalog", out)


async def test_forged_actions_get_menu_expired_and_no_access(demo: bot.App) -> None:
    sender = Sender(Ref.parse("console:mallory"), "en")
    for action in ("l:999999", "done:abc", "nx:../../etc", "buy:" + "x" * 70, "cancel:zzzz", "zz:1", "l:1;DROP", ""):
        replies = await demo.dispatcher.dispatch(ButtonPress(sender, action), CAPABILITIES)
        text = " ".join(getattr(r, "text", "") for r in replies)
        assert "expired" in text or "No course" in text, (action, text)


async def test_paid_lesson_ids_cannot_be_opened_without_buying(demo: bot.App) -> None:
    sender = Sender(Ref.parse("console:mallory"), "en")
    async with demo.uow() as uow:
        course = await uow.catalog.get_course("python-basics")
        assert course is not None
        paid = [ls for ls in await uow.catalog.lessons(course.id) if not ls.free]
    for lesson in paid:
        replies = await demo.dispatcher.dispatch(ButtonPress(sender, f"l:{lesson.id}"), CAPABILITIES)
        text = " ".join(getattr(r, "text", "") for r in replies)
        assert lesson.body[:40] not in text
        assert "paid course" in text or "opens when" in text
        done = await demo.dispatcher.dispatch(ButtonPress(sender, f"done:{lesson.id}"), CAPABILITIES)
        assert "not open" in " ".join(getattr(r, "text", "") for r in done)


async def test_a_forged_payment_for_someone_elses_order_grants_nothing(testbot: TestBot, demo: bot.App) -> None:
    invoice = await testbot.say("/buy python-basics")
    code = next(line for line in invoice.splitlines() if "Invoice" in line)  # the invoice was shown to alice
    assert code
    sender = Sender(Ref.parse("console:mallory"), "en")
    replies = await demo.dispatcher.dispatch(
        PaymentSucceeded(sender, "sandbox", "forged-1", "notarealorder", Money(1, "USD")), CAPABILITIES
    )
    # The charge bought nothing, so the provider gives it straight back.
    assert any("refunded to you automatically" in getattr(r, "text", "") for r in replies)
    my = await demo.dispatcher.dispatch(Message(sender, "/my"), CAPABILITIES)
    assert "You have no courses" in " ".join(getattr(r, "text", "") for r in my)


async def test_huge_and_odd_messages_are_answered_politely(testbot: TestBot) -> None:
    assert "too long" in await testbot.say("x" * 5000)
    assert "don't know that command" in await testbot.say("/nosuchcommand")
    assert "don't know that command" in await testbot.say("/" + "a" * 100)
    assert "Nothing found" in await testbot.say("\u202e\u0000<alert>(1)</alert>")
    # Markup is just words to search: "script" is in a course summary, and the reply is an ordinary result.
    assert "Results for" in await testbot.say("\u202e\u0000<script>alert(1)</script>")
    out = await testbot.say("/course ../../etc/passwd")
    assert "No course" in out
