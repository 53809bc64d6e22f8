"""Buying a course in Telegram with Stars, end to end through PTB and the fake Bot API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from telegram_support import TgHarness, TgUser, telegram_app, text_of

import bot
from core.clock import FrozenClock
from core.ports import KeyValueStore
from core.users import Ref


def invoice_in(messages: list[dict[str, Any]]) -> dict[str, Any]:
    found = [m for m in messages if m.get("invoice")]
    assert found, f"no invoice among {[m.get('_method') for m in messages]}"
    return found[-1]


async def buy_course(ann: TgUser, slug: str = "python-basics") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    card = (await ann.say(f"/course {slug}"))[-1]
    invoice = invoice_in(await ann.press(card, "Buy"))
    return await ann.pay(invoice)


@pytest.mark.parametrize(
    ("webhook", "desk"), [(False, True), (True, True), (True, False)], ids=["polling", "webhook", "webhook-no-desk"]
)
async def test_catalog_card_buy_invoice_precheckout_payment_lesson(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore, webhook: bool, desk: bool
) -> None:
    async with telegram_app(demo.settings, clock, kv, webhook=webhook, desk=desk) as h:
        ann = h.user(1001)
        listing = (await ann.say("/catalog"))[-1]
        card = (await ann.press(listing, "Python for Beginners"))[-1]
        assert "Python for Beginners" in card["text"] and "⭐" in card["text"]
        labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
        assert any("Buy" in label and "⭐" in label for label in labels), labels
        assert any("Share" in label for label in labels)
        invoice = invoice_in(await ann.press(card, "Buy"))
        assert invoice["invoice"]["currency"] == "XTR" and invoice["invoice"]["total_amount"] > 0
        call = h.fake.calls_of("sendInvoice")[-1]
        assert call.get("provider_token") in (None, "") and len(call["prices"]) == 1
        result, answer = await ann.pay(invoice)
        assert result["ok"] and result["latency"] < 5, result
        text = text_of(answer)
        assert "Payment received" in text or "paid" in text.lower(), text
        assert "Lesson 2" in text or "Lesson 1" in text, text  # the first lesson not yet read arrives at once
        lesson = next(m for m in answer if "Lesson 1" in (m.get("text") or ""))
        assert lesson["_params"]["parse_mode"] == "HTML" and not lesson.get("has_protected_content")  # free lesson
        done = await ann.press(answer[-1], "Mark as done")
        paid = next(m for m in await ann.press(done[-1], "Next lesson") if "Lesson 2" in (m.get("text") or ""))
        assert paid.get("has_protected_content") is True  # a paid lesson can't be forwarded or saved
        mine = text_of(await ann.say("/my"))
        assert "Python for Beginners" in mine


async def test_pre_checkout_rejects_an_unknown_or_forged_payload(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        mallory = h.user(1002)
        await mallory.say("/start")
        # An invoice our order engine never made (as if someone crafted the payload).
        from telegram import LabeledPrice

        link = await h.channel.bot.create_invoice_link("Fake", "forged", "notarealorder", "XTR", [LabeledPrice("x", 1)])
        result, _ = await mallory.pay(link)
        assert result["ok"] is False and "not valid" in (result["error_message"] or ""), result
        assert result.get("charge_id") is None
        assert "Python for Beginners" not in text_of(await mallory.say("/my"))


async def test_pre_checkout_after_the_order_expired_is_refused(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(1003)
        card = (await ann.say("/course python-basics"))[-1]
        invoice = invoice_in(await ann.press(card, "Buy"))
        clock.advance(timedelta(hours=2))
        async with h.app.uow() as uow:
            from core.purchasing import expire_orders

            assert await expire_orders(uow, clock.now()) == 1
            await uow.commit()
        result, _ = await ann.pay(invoice)
        assert result["ok"] is False and "expired" in result["error_message"], result
        assert result.get("charge_id") is None
        assert "no courses" in text_of(await ann.say("/my")).lower()


async def test_a_resent_or_repeated_payment_grants_once(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(1004)
        result, _ = await buy_course(ann)
        sent_before = len(ann.messages())
        uid = result["update"]["update_id"]
        await h.fake.resend(result["update"])  # Telegram re-delivers the very same update
        await h.fake.wait_for(lambda: h.channel.processed.count(uid) == 2)
        repeat = dict(result["update"])
        repeat["update_id"] = result["update"]["update_id"] + 1000  # the same charge in a new update
        await h.fake.push_update(repeat)
        await h.settle(repeat)
        later = ann.messages()[sent_before:]
        assert "Payment received" not in text_of(later)
        async with h.app.uow() as uow:
            user = await uow.users.get_by_ref(Ref("telegram", "1004"))
            assert user is not None
            ents = await uow.entitlements.for_user(user.id)
        assert len(ents) == 1


async def test_unpaid_user_cannot_open_paid_lessons(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        eve = h.user(1005)
        await eve.say("/start")
        async with h.app.uow() as uow:
            course = await uow.catalog.get_course("python-basics")
            assert course is not None
            paid = [ls for ls in await uow.catalog.lessons(course.id) if not ls.free]
        menu = (await eve.say("/help"))[-1]
        for lesson in paid:
            out = await eve.press_data(menu, f"l:{lesson.id}")
            text = text_of(out)
            assert lesson.body[:30] not in text
            assert "buy" in text.lower() or "paid" in text.lower(), text


async def _admin_refund(h: TgHarness, admin: TgUser, code: str) -> str:
    return text_of(await admin.say(f"/refund {code}"))


async def test_admin_refund_returns_the_stars_and_ends_access(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        admin, ann = h.user(9001, name="Boss"), h.user(1006)
        await admin.say("/start")
        await bot.grant(h.app, "telegram:9001", "admin")
        result, _ = await buy_course(ann)
        code = result["update"]["message"]["successful_payment"]["invoice_payload"]
        assert "Refunded" not in await _admin_refund(h, ann, code)  # a learner may not refund
        assert not h.fake.calls_of("refundStarPayment")
        report = await _admin_refund(h, admin, code)
        assert "Refunded order" in report, report
        calls = h.fake.calls_of("refundStarPayment")
        assert len(calls) == 1 and calls[0]["telegram_payment_charge_id"] == result["charge_id"]
        assert "refunded" in text_of(ann.messages()[-1:]).lower()
        out = text_of(await ann.say("/next python-basics"))
        assert "buy" in out.lower() or "paid" in out.lower(), out
        again = await _admin_refund(h, admin, code)
        assert "not paid" in again and len(h.fake.calls_of("refundStarPayment")) == 1


async def test_refund_reported_by_telegram_revokes_access_once(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(1007)
        result, _ = await buy_course(ann)
        update = await h.fake.refund_from_telegram(1007, result["charge_id"])
        await h.settle(update)
        assert "refunded" in text_of(ann.messages()[-1:]).lower()
        before = len(ann.messages())
        await h.fake.resend(update)
        await h.fake.wait_for(lambda: h.channel.processed.count(update["update_id"]) == 2)
        repeat = dict(update)
        repeat["update_id"] = update["update_id"] + 500
        await h.fake.push_update(repeat)
        await h.settle(repeat)
        assert len(ann.messages()) == before  # nothing more to say
        assert "paid course" in text_of(await ann.say("/next python-basics"))
