"""Refunds: an admin's /refund, the provider's refund notice afterwards, and automatic refunds
of charges that bought nothing, driven through the dispatcher with a fake payment provider."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from service_fakes import PROVIDER, Installed, install, texts, write_club_catalog

import bot
from bots.console import CAPABILITIES
from core.clock import FrozenClock
from core.events import Message, PaymentRefunded, PaymentSucceeded, PreCheckout, Sender
from core.learning import access_to
from core.orders import Order, OrderStatus, PaymentEventKind
from core.replies import CheckoutAnswer, InvoiceReply, Reply, TextReply
from core.subscriptions import SubscriptionStatus
from core.users import Ref

BUYER = Sender(Ref("console", "lin"), "zh", "Lin")  # reads Chinese
ADMIN = Sender(Ref("console", "boss"), "en", "Boss")
LEARNER = Sender(Ref("console", "sam"), "en", "Sam")


@pytest.fixture
async def club(app: bot.App, tmp_path: Path) -> bot.App:
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    await app.dispatcher.dispatch(Message(ADMIN, "/help"), CAPABILITIES)  # first contact: English
    await bot.grant(app, str(ADMIN.ref), "admin")
    return app


@pytest.fixture
def fakes(club: bot.App) -> Installed:
    return install(club)


async def say(app: bot.App, fakes: Installed, sender: Sender, text: str) -> list[Reply]:
    return await app.dispatcher.dispatch(Message(sender, text), fakes.caps)


async def buy(
    app: bot.App, fakes: Installed, sender: Sender, slug: str, charge: str, **sub: object
) -> tuple[InvoiceReply, list[Reply]]:
    replies = await say(app, fakes, sender, f"/buy {slug}")
    inv = next(r for r in replies if isinstance(r, InvoiceReply))
    assert await app.dispatcher.dispatch(PreCheckout(sender, inv.order_code, inv.price), fakes.caps) == [
        CheckoutAnswer(True, "")
    ]
    event = PaymentSucceeded(sender, PROVIDER, charge, inv.order_code, inv.price, **sub)  # type: ignore[arg-type]
    return inv, await app.dispatcher.dispatch(event, fakes.caps)


async def order(app: bot.App, code: str) -> Order:
    async with app.uow() as uow:
        found = await uow.orders.get_by_code(code)
    assert found is not None
    return found


async def has_course(app: bot.App, ref: Ref) -> bool:
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(ref)
        course = await uow.catalog.get_course("club-notes")
        assert user is not None and course is not None
        return await access_to(uow, user, course, app.clock.now()) is not None


async def test_a_learner_may_not_refund(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    replies = await say(club, fakes, LEARNER, f"/refund {inv.order_code}")
    assert "don't have permission" in texts(replies)
    assert (await order(club, inv.order_code)).status is OrderStatus.PAID
    assert fakes.payments.refunds == [] and fakes.notifier.sent == []
    assert await has_course(club, BUYER.ref)


async def test_an_admin_refund_gives_the_money_back_and_ends_access(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    assert await has_course(club, BUYER.ref)
    replies = await say(club, fakes, ADMIN, f"/refund {inv.order_code} asked by email")
    assert f"Refunded order {inv.order_code} (Club Notes, 100 ⭐)" in texts(replies)
    assert fakes.payments.refunds == [(BUYER.ref, "ch1")]
    assert (await order(club, inv.order_code)).status is OrderStatus.REFUNDED
    assert not await has_course(club, BUYER.ref)
    async with club.uow() as uow:
        buyer = await uow.users.get_by_ref(BUYER.ref)
        admin = await uow.users.get_by_ref(ADMIN.ref)
        assert buyer is not None and admin is not None
    assert (PaymentEventKind.REFUNDED, f"admin {admin.id}: asked by email") in await _events(club, inv.order_code)
    # the buyer is told, in Chinese, once the refund committed
    assert fakes.notifier.to(buyer.id) == ["💸 你为 Club Notes 支付的 100 ⭐ 已退款，相应的访问权限已终止。"]


async def test_the_provider_refusing_changes_nothing(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    fakes.payments.refuse = "CHARGE_ALREADY_REFUNDED"
    replies = await say(club, fakes, ADMIN, f"/refund {inv.order_code}")
    assert "refused the refund: CHARGE_ALREADY_REFUNDED. Nothing was changed." in texts(replies)
    assert (await order(club, inv.order_code)).status is OrderStatus.PAID
    assert await has_course(club, BUYER.ref)
    assert fakes.notifier.sent == []


async def test_refunding_twice_or_an_unknown_order_is_explained(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    await say(club, fakes, ADMIN, f"/refund {inv.order_code}")
    again = await say(club, fakes, ADMIN, f"/refund {inv.order_code}")
    assert "is refunded, not paid" in texts(again)
    assert "Usage: /refund" in texts(await say(club, fakes, ADMIN, "/refund"))
    assert texts(await say(club, fakes, ADMIN, "/refund zzzzzzzzzzzz")) == "No such order."
    assert fakes.payments.refunds == [(BUYER.ref, "ch1")]


async def test_the_providers_refund_notice_after_our_refund_is_a_no_op(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    await say(club, fakes, ADMIN, f"/refund {inv.order_code}")
    sent = list(fakes.notifier.sent)
    echo = PaymentRefunded(BUYER, PROVIDER, "ch1", inv.order_code, inv.price)
    assert await club.dispatcher.dispatch(echo, fakes.caps) == []
    assert fakes.notifier.sent == sent  # no second message
    assert (await order(club, inv.order_code)).status is OrderStatus.REFUNDED


async def test_a_refund_notice_for_an_unknown_charge_is_a_no_op(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    unknown = PaymentRefunded(BUYER, PROVIDER, "ch-unknown", inv.order_code, inv.price)
    assert await club.dispatcher.dispatch(unknown, fakes.caps) == []
    assert (await order(club, inv.order_code)).status is OrderStatus.PAID
    assert await has_course(club, BUYER.ref)


async def test_a_refund_at_the_provider_ends_access_and_tells_the_buyer(club: bot.App, fakes: Installed) -> None:
    """Telegram support refunded the charge: the notice revokes access, once."""
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    notice = PaymentRefunded(BUYER, PROVIDER, "ch1", inv.order_code, inv.price)
    assert "已退款" in texts(await club.dispatcher.dispatch(notice, fakes.caps))
    assert (await order(club, inv.order_code)).status is OrderStatus.REFUNDED
    assert not await has_course(club, BUYER.ref)
    assert await club.dispatcher.dispatch(notice, fakes.caps) == []


async def test_an_extra_payment_for_an_owned_course_is_refunded_automatically(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    second = PaymentSucceeded(BUYER, PROVIDER, "ch2", inv.order_code, inv.price)
    replies = await club.dispatcher.dispatch(second, fakes.caps)
    assert texts(replies) == "这笔付款没有购买到新内容，100 ⭐ 已自动退还给你。"
    assert fakes.payments.refunds == [(BUYER.ref, "ch2")]
    assert (await order(club, inv.order_code)).status is OrderStatus.PAID  # the first charge still counts
    assert await has_course(club, BUYER.ref)
    kinds = [k for k, _ in await _events(club, inv.order_code)]
    assert kinds[-2:] == [PaymentEventKind.EXTRA, PaymentEventKind.CHARGE_REFUNDED]


async def test_when_the_automatic_refund_fails_the_buyer_is_told_to_expect_one(club: bot.App, fakes: Installed) -> None:
    inv, _ = await buy(club, fakes, BUYER, "club-notes", "ch1")
    fakes.payments.refuse = "network down"
    second = PaymentSucceeded(BUYER, PROVIDER, "ch2", inv.order_code, inv.price)
    replies = await club.dispatcher.dispatch(second, fakes.caps)
    assert "support@example.com" in texts(replies)
    assert fakes.payments.refunds == []
    kinds = [k for k, _ in await _events(club, inv.order_code)]
    assert kinds[-1] is PaymentEventKind.EXTRA  # recorded, so reconciliation shows it as owed


async def test_an_admin_refund_of_a_subscription_gives_back_the_current_period(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    first_end = clock.now() + timedelta(days=30)
    inv, _ = await buy(club, fakes, BUYER, "club", "ch1", recurring=True, first_recurring=True, period_end=first_end)
    clock.set(first_end - timedelta(minutes=1))
    renewal = PaymentSucceeded(
        BUYER, PROVIDER, "ch2", inv.order_code, inv.price, True, False, first_end + timedelta(days=30)
    )
    await club.dispatcher.dispatch(renewal, fakes.caps)
    await say(club, fakes, ADMIN, f"/refund {inv.order_code}")
    assert fakes.payments.refunds == [(BUYER.ref, "ch2")]
    async with club.uow() as uow:
        buyer = await uow.users.get_by_ref(BUYER.ref)
        assert buyer is not None
        (sub,) = await uow.subscriptions.for_user(buyer.id)
    assert (sub.status, sub.auto_renew) == (SubscriptionStatus.REFUNDED, False)
    assert not await has_course(club, BUYER.ref)
    my = await say(club, fakes, BUYER, "/my")
    assert "关闭自动续费" not in [b.label for r in my if isinstance(r, TextReply) for row in r.buttons for b in row]


async def _events(app: bot.App, code: str) -> list[tuple[PaymentEventKind, str]]:
    async with app.uow() as uow:
        found = await uow.orders.get_by_code(code)
        assert found is not None
        return await uow.orders.events(found.id)
