"""The all-access membership as a Telegram Stars subscription, end to end through PTB and the fake Bot API.

Bought through a ``createInvoiceLink`` with a 30-day ``subscription_period``; managed under /my
(``editUserStarSubscription``); extended only by a renewal payment Telegram sends; locked again when
renewal is off and the period runs out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes.telegram_payments import SUBSCRIPTION_PERIOD
from telegram_support import TgHarness, TgUser, telegram_app, text_of

import bot
from core.clock import FrozenClock
from core.i18n import translator
from core.ports import KeyValueStore
from core.users import Ref

PLAN = "all-access"
TZ = "Asia/Shanghai"  # the default time zone of a new learner (Settings.default_timezone)
PAID_COURSE = "public-speaking"  # drip "all": lesson 1 free, lessons 2-4 paid


def when(at: datetime) -> str:
    """A date as the bot shows it to an English-speaking learner in the default time zone."""
    return translator("en").when(at, TZ)


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"] for b in buttons(message)]


def with_button(messages: list[dict[str, Any]], label: str) -> dict[str, Any]:
    found = [m for m in messages if any(label in text for text in labels(m))]
    assert found, f"no message with a {label!r} button among {[(m.get('text'), labels(m)) for m in messages]}"
    return found[-1]


async def subscribe(h: TgHarness, ann: TgUser) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """/buy the plan, check the subscription link, pay it; (the fake's payment result, the bot's answer)."""
    offer = await ann.say(f"/buy {PLAN}")
    message = next(m for m in offer if any("url" in b for b in buttons(m)))
    assert "Subscribe" in text_of([message]) or "subscribe" in text_of([message]).lower()
    link = next(b["url"] for b in buttons(message) if "url" in b)
    assert any("Subscribe" in b["text"] and "url" in b for b in buttons(message)), labels(message)
    invoice = h.fake.invoice_links[link]  # a link the bot created through createInvoiceLink
    assert invoice["subscription_period"] == SUBSCRIPTION_PERIOD == 2_592_000
    assert invoice["currency"] == "XTR" and invoice["total_amount"] == 250
    assert not h.fake.calls_of("sendInvoice")  # a subscription can only be a link
    result, answer = await ann.pay(link)
    assert result["ok"], result
    return result, answer


async def open_next_paid_lesson(ann: TgUser) -> list[dict[str, Any]]:
    """/next in the paid course: the first lesson not seen yet (lesson 1 is free and taken first)."""
    return await ann.say(f"/next {PAID_COURSE}")


async def wait_reprocessed(h: TgHarness, update: dict[str, Any], before: int) -> None:
    uid = update["update_id"]
    await h.fake.wait_for(lambda: list(h.channel.processed).count(uid) > before, timeout=10)


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_subscribe_manage_renew_and_lapse(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore, webhook: bool
) -> None:
    async with telegram_app(demo.settings, clock, kv, webhook=webhook) as h:
        ann = h.user(1001, lang="en")
        fake = h.fake

        # -- subscribe ------------------------------------------------------------------------------------------
        result, answer = await subscribe(h, ann)
        charge_id = result["charge_id"]
        confirmation = text_of(answer)
        assert "Payment received" in confirmation, confirmation
        assert "renews automatically" in confirmation, confirmation
        first_end = datetime.fromtimestamp(fake.subscriptions[charge_id]["expires"].timestamp(), UTC)
        assert first_end == clock.now() + timedelta(days=30)
        assert when(first_end) in confirmation, confirmation
        assert [t["amount"] for t in fake.star_transactions] == [250]

        # lesson 1 (free) then lesson 2 (paid): a member opens it, protected from forwarding
        await open_next_paid_lesson(ann)
        lesson2 = await open_next_paid_lesson(ann)
        assert "Lesson 2" in text_of(lesson2), text_of(lesson2)
        assert any(m.get("has_protected_content") for m in lesson2)

        # -- /my: stop renewal ----------------------------------------------------------------------------------
        mine = await ann.say("/my")
        sub_msg = with_button(mine, "Stop renewal")
        assert "renews automatically" in sub_msg["text"] and when(first_end) in sub_msg["text"], sub_msg["text"]
        out = await ann.press(sub_msg, "Stop renewal")
        assert "Renewal is off" in text_of(out), text_of(out)
        edits = fake.calls_of("editUserStarSubscription")
        assert len(edits) == 1
        assert str(edits[0]["user_id"]) == "1001" and edits[0]["telegram_payment_charge_id"] == charge_id
        assert str(edits[0]["is_canceled"]).lower() == "true"
        assert fake.subscriptions[charge_id]["canceled"] is True

        mine = await ann.say("/my")
        sub_msg = with_button(mine, "Turn renewal back on")
        assert "renewal is off" in sub_msg["text"], sub_msg["text"]
        assert not any("Stop renewal" in label for m in mine for label in labels(m))

        # -- turn it back on --------------------------------------------------------------------------------------
        out = await ann.press(sub_msg, "Turn renewal back on")
        assert "Renewal is on again" in text_of(out), text_of(out)
        edits = fake.calls_of("editUserStarSubscription")
        assert len(edits) == 2 and str(edits[1]["is_canceled"]).lower() == "false"
        assert fake.subscriptions[charge_id]["canceled"] is False
        assert with_button(await ann.say("/my"), "Stop renewal")

        # -- Telegram renews at the end of the period ------------------------------------------------------------
        clock.advance(timedelta(days=30) - timedelta(minutes=5))
        renewal = await fake.renew(1001, charge_id)
        before = len(ann.messages())
        await h.settle(renewal)
        renewed = text_of(ann.messages()[before:])
        second_end = first_end + timedelta(days=30)
        assert "renewed" in renewed and when(second_end) in renewed, renewed
        assert renewal["message"]["successful_payment"]["subscription_expiration_date"] == int(second_end.timestamp())
        assert [t["amount"] for t in fake.star_transactions] == [250, 250]

        # past the first period: the membership still opens paid lessons
        clock.advance(timedelta(days=2))
        lesson3 = await open_next_paid_lesson(ann)
        assert "Lesson 3" in text_of(lesson3) and "🔒" not in text_of(lesson3), text_of(lesson3)
        assert any(m.get("has_protected_content") for m in lesson3)

        # -- the same renewal update delivered again changes nothing ---------------------------------------------
        seen = list(h.channel.processed).count(renewal["update_id"])
        before = len(ann.messages())
        await fake.resend(renewal)
        await wait_reprocessed(h, renewal, seen)
        assert ann.messages()[before:] == []  # no second "renewed" message

        # the same payment under a new update_id (say, the dedup store was flushed): recognised by its charge id
        twin = await fake.push_update({"message": dict(renewal["message"])})
        await h.settle(twin)
        assert "already processed" in text_of(ann.messages()[before:]), ann.texts()[before:]
        mine = await ann.say("/my")
        sub_msg = with_button(mine, "Stop renewal")
        assert when(second_end) in sub_msg["text"], sub_msg["text"]  # one renewal, one more period
        assert not fake.calls_of("refundStarPayment")

        # -- renewal off again, the period passes: paid lessons lock ---------------------------------------------
        await ann.press(sub_msg, "Stop renewal")
        assert fake.subscriptions[charge_id]["canceled"] is True
        clock.advance(second_end - clock.now() + timedelta(minutes=1))
        locked = await open_next_paid_lesson(ann)
        text = text_of(locked)
        assert "Lesson 4" in text and "paid course" in text, text
        assert any("Buy" in label for m in locked for label in labels(m))
        assert not any(m.get("has_protected_content") for m in locked)  # no lesson content was sent
        mine = await ann.say("/my")
        assert not any("renewal" in label.lower() for m in mine for label in labels(m))


async def test_someone_else_cannot_switch_a_subscription(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann, mallory = h.user(1001, name="Ann"), h.user(1002, name="Mallory")
        await subscribe(h, ann)
        action = next(b["callback_data"] for b in buttons(with_button(await ann.say("/my"), "Stop renewal")))
        assert action.startswith("sub:") and action.endswith(".0")
        anchor = (await mallory.say("/start"))[-1]
        out = await mallory.press_data(anchor, action)
        assert "not found" in text_of(out).lower(), text_of(out)
        assert h.fake.calls_of("editUserStarSubscription") == []
        assert with_button(await ann.say("/my"), "Stop renewal")  # Ann's subscription is untouched


async def test_refunding_a_renewed_subscription_gives_back_the_current_period(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann, admin = h.user(1001, name="Ann"), h.user(1009, name="Ada")
        await admin.say("/start")
        await bot.grant(h.app, "telegram:1009", "admin")
        result, _ = await subscribe(h, ann)
        first_charge = result["charge_id"]
        order_code = h.fake.payments[first_charge]["payload"]
        clock.advance(timedelta(days=30) - timedelta(minutes=5))
        renewal = await h.fake.renew(1001, first_charge)
        await h.settle(renewal)
        renewal_charge = renewal["message"]["successful_payment"]["telegram_payment_charge_id"]
        await open_next_paid_lesson(ann)  # lesson 1 (free)

        out = await admin.say(f"/refund {order_code}")
        assert f"Refunded order {order_code}" in text_of(out), text_of(out)
        [refund] = h.fake.calls_of("refundStarPayment")
        assert refund["telegram_payment_charge_id"] == renewal_charge and int(refund["user_id"]) == 1001
        assert [(r["charge_id"], r["amount"]) for r in h.fake.refunds] == [(renewal_charge, 250)]
        assert "has been refunded" in text_of(ann.messages()[-1:]), ann.texts()[-1]

        # access ends at once, and /my no longer offers to manage the subscription
        locked = await open_next_paid_lesson(ann)
        assert "Lesson 2" in text_of(locked) and "paid course" in text_of(locked), text_of(locked)
        assert not any(m.get("has_protected_content") for m in locked)
        assert not any("renewal" in label.lower() for m in await ann.say("/my") for label in labels(m))


async def test_a_refund_by_telegram_ends_the_membership(demo: bot.App, clock: FrozenClock, kv: KeyValueStore) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(1001, name="Ann")
        result, _ = await subscribe(h, ann)
        await open_next_paid_lesson(ann)  # lesson 1 (free)
        before = len(ann.messages())
        await h.settle(await h.fake.refund_from_telegram(1001, result["charge_id"]))
        assert "has been refunded" in text_of(ann.messages()[before:]), ann.texts()[before:]
        assert h.fake.calls_of("refundStarPayment") == []  # Telegram already gave the money back
        locked = await open_next_paid_lesson(ann)
        assert "Lesson 2" in text_of(locked) and "paid course" in text_of(locked), text_of(locked)


async def test_a_second_subscription_to_the_same_plan_is_not_sold(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(1001, name="Ann")
        result, _ = await subscribe(h, ann)
        first_end = h.fake.subscriptions[result["charge_id"]]["expires"]
        clock.advance(timedelta(days=1))
        offer = await ann.say(f"/buy {PLAN}")
        links = [b["url"] for m in offer for b in buttons(m) if "url" in b]
        if not links:  # refused up front: the member is pointed to /my
            assert "/my" in text_of(offer), text_of(offer)
            return
        paid, _ = await ann.pay(links[0])
        if not paid["ok"]:  # or refused at pre-checkout: no money taken
            return
        # paid anyway: the money must come back, or buy a whole period more
        async with h.app.uow() as uow:
            user = await uow.users.get_by_ref(Ref("telegram", "1001"))
            assert user is not None
            ends = [e.expires_at for e in await uow.entitlements.for_user(user.id) if e.expires_at]
        assert h.fake.calls_of("refundStarPayment") or max(ends) >= first_end + timedelta(days=29), max(ends)
