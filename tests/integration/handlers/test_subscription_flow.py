"""Memberships that renew by themselves, driven through the dispatcher with a fake payment provider:
first charge, renewals, duplicates, switching renewal off and on under /my, and the lapse job."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from service_fakes import PROVIDER, Installed, install, texts, write_club_catalog

import bot
from core.clock import FrozenClock
from core.events import ButtonPress, Message, PaymentSucceeded, PreCheckout, Sender
from core.learning import access_to
from core.replies import Button, CheckoutAnswer, InvoiceReply, Reply, TextReply
from core.subscriptions import Subscription, SubscriptionStatus
from core.users import Ref
from jobs.subscriptions import end_lapsed_subscriptions

ALICE = Sender(Ref("console", "alice"), "en", "Alice")
BOB = Sender(Ref("console", "bob"), "en", "Bob")


@pytest.fixture
async def club(app: bot.App, tmp_path: Path) -> bot.App:
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    return app


@pytest.fixture
def fakes(club: bot.App) -> Installed:
    return install(club)


async def say(app: bot.App, fakes: Installed, sender: Sender, text: str) -> list[Reply]:
    return await app.dispatcher.dispatch(Message(sender, text), fakes.caps)


async def invoice(app: bot.App, fakes: Installed, sender: Sender, slug: str = "club") -> InvoiceReply:
    replies = await say(app, fakes, sender, f"/buy {slug}")
    inv = next(r for r in replies if isinstance(r, InvoiceReply))
    answer = await app.dispatcher.dispatch(PreCheckout(sender, inv.order_code, inv.price), fakes.caps)
    assert answer == [CheckoutAnswer(True, "")]
    return inv


async def pay(
    app: bot.App,
    fakes: Installed,
    sender: Sender,
    inv: InvoiceReply,
    charge: str,
    *,
    first: bool = False,
    renewal: bool = False,
    period_end: datetime | None = None,
) -> list[Reply]:
    event = PaymentSucceeded(sender, PROVIDER, charge, inv.order_code, inv.price, first or renewal, first, period_end)
    return await app.dispatcher.dispatch(event, fakes.caps)


async def subscription(app: bot.App, ref: Ref) -> Subscription:
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(ref)
        assert user is not None
        (sub,) = await uow.subscriptions.for_user(user.id)
    return sub


async def access_until(app: bot.App, ref: Ref) -> datetime | None:
    """Until when ``ref`` may read the plan's course right now (None: no access)."""
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(ref)
        course = await uow.catalog.get_course("club-notes")
        assert user is not None and course is not None
        access = await access_to(uow, user, course, app.clock.now())
    return access.until if access else None


async def entitlement_count(app: bot.App, ref: Ref) -> int:
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(ref)
        assert user is not None
        return len(await uow.entitlements.for_user(user.id))


def buttons(replies: list[Reply]) -> list[Button]:
    return [b for r in replies if isinstance(r, TextReply) for row in r.buttons for b in row]


def button(replies: list[Reply], label: str) -> Button:
    found = [b for b in buttons(replies) if b.label == label]
    assert found, f"no {label!r} button in {buttons(replies)}"
    return found[0]


async def subscribe(app: bot.App, fakes: Installed, clock: FrozenClock) -> tuple[InvoiceReply, datetime]:
    inv = await invoice(app, fakes, ALICE)
    period_end = clock.now() + timedelta(days=30)
    await pay(app, fakes, ALICE, inv, "ch1", first=True, period_end=period_end)
    return inv, period_end


async def test_first_payment_starts_a_subscription_until_the_period_end(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    inv = await invoice(club, fakes, ALICE)
    assert inv.subscription_days == 30 and inv.price.currency == "XTR"
    period_end = clock.now() + timedelta(days=30)
    replies = await pay(club, fakes, ALICE, inv, "ch1", first=True, period_end=period_end)
    assert "Payment received: Club Membership" in texts(replies)
    assert "renews automatically" in texts(replies)
    assert any(b.url for b in buttons(replies)), "the members' group invite link"
    sub = await subscription(club, ALICE.ref)
    assert (sub.status, sub.auto_renew, sub.period_end, sub.charge_id) == (
        SubscriptionStatus.ACTIVE,
        True,
        period_end,
        "ch1",
    )
    assert await access_until(club, ALICE.ref) == period_end
    my = await say(club, fakes, ALICE, "/my")
    assert "renews automatically on" in texts(my)
    button(my, "Stop renewal")


async def test_a_renewal_extends_access_and_the_subscription(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    inv, first_end = await subscribe(club, fakes, clock)
    clock.set(first_end - timedelta(minutes=5))
    second_end = first_end + timedelta(days=30)
    replies = await pay(club, fakes, ALICE, inv, "ch2", renewal=True, period_end=second_end)
    assert "Club Membership renewed" in texts(replies)
    sub = await subscription(club, ALICE.ref)
    assert (sub.status, sub.period_end, sub.charge_id) == (SubscriptionStatus.ACTIVE, second_end, "ch1")
    clock.set(first_end + timedelta(days=1))
    assert await access_until(club, ALICE.ref) == second_end
    assert fakes.payments.refunds == []


async def test_a_duplicate_renewal_charge_changes_nothing(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    inv, first_end = await subscribe(club, fakes, clock)
    clock.set(first_end - timedelta(minutes=5))
    second_end = first_end + timedelta(days=30)
    await pay(club, fakes, ALICE, inv, "ch2", renewal=True, period_end=second_end)
    before = await entitlement_count(club, ALICE.ref)
    again = await pay(club, fakes, ALICE, inv, "ch2", renewal=True, period_end=second_end + timedelta(days=30))
    assert "already processed" in texts(again)
    assert await entitlement_count(club, ALICE.ref) == before
    assert (await subscription(club, ALICE.ref)).period_end == second_end
    assert fakes.payments.refunds == []


async def test_turning_renewal_off_and_on_goes_through_the_provider(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    _, period_end = await subscribe(club, fakes, clock)
    my = await say(club, fakes, ALICE, "/my")
    off = await club.dispatcher.dispatch(ButtonPress(ALICE, button(my, "Stop renewal").action), fakes.caps)
    assert "Renewal is off" in texts(off)
    assert fakes.payments.renewals == [(ALICE.ref, "ch1", False)]
    assert (await subscription(club, ALICE.ref)).auto_renew is False
    my = await say(club, fakes, ALICE, "/my")
    assert "renewal is off; access ends on" in texts(my)
    on = await club.dispatcher.dispatch(ButtonPress(ALICE, button(my, "Turn renewal back on").action), fakes.caps)
    assert "Renewal is on again" in texts(on)
    assert fakes.payments.renewals[-1] == (ALICE.ref, "ch1", True)
    assert (await subscription(club, ALICE.ref)).auto_renew is True
    assert await access_until(club, ALICE.ref) == period_end  # switching never changes access


async def test_the_provider_refusing_leaves_renewal_unchanged(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    await subscribe(club, fakes, clock)
    my = await say(club, fakes, ALICE, "/my")
    fakes.payments.refuse = "SUBSCRIPTION_NOT_FOUND"
    replies = await club.dispatcher.dispatch(ButtonPress(ALICE, button(my, "Stop renewal").action), fakes.caps)
    assert "refused the change: SUBSCRIPTION_NOT_FOUND" in texts(replies)
    assert (await subscription(club, ALICE.ref)).auto_renew is True
    button(await say(club, fakes, ALICE, "/my"), "Stop renewal")


async def test_someone_elses_subscription_cannot_be_switched(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    await subscribe(club, fakes, clock)
    action = button(await say(club, fakes, ALICE, "/my"), "Stop renewal").action
    replies = await club.dispatcher.dispatch(ButtonPress(BOB, action), fakes.caps)
    assert "Subscription not found" in texts(replies)
    assert fakes.payments.renewals == []
    assert (await subscription(club, ALICE.ref)).auto_renew is True


async def test_a_lapsed_subscription_ends_and_access_with_it(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    _, period_end = await subscribe(club, fakes, clock)
    clock.set(period_end - timedelta(minutes=1))
    assert await end_lapsed_subscriptions(club.uow, clock.now()) == 0
    assert await access_until(club, ALICE.ref) == period_end
    clock.set(period_end + timedelta(minutes=1))
    assert await access_until(club, ALICE.ref) is None  # access ended with the period, job or not
    assert await end_lapsed_subscriptions(club.uow, clock.now()) == 1
    assert await end_lapsed_subscriptions(club.uow, clock.now()) == 0  # restart-safe: nothing left
    assert (await subscription(club, ALICE.ref)).status is SubscriptionStatus.ENDED
    my = texts(await say(club, fakes, ALICE, "/my"))
    assert "renew" not in my.lower()


async def test_a_renewal_after_the_lapse_brings_the_membership_back(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    """Telegram retried a renewal a little late: the charge is honoured, not refunded."""
    inv, period_end = await subscribe(club, fakes, clock)
    clock.set(period_end + timedelta(minutes=30))
    await end_lapsed_subscriptions(club.uow, clock.now())
    second_end = period_end + timedelta(days=30)
    replies = await pay(club, fakes, ALICE, inv, "ch2", renewal=True, period_end=second_end)
    assert "renewed" in texts(replies)
    sub = await subscription(club, ALICE.ref)
    assert (sub.status, sub.period_end) == (SubscriptionStatus.ACTIVE, second_end)
    assert await access_until(club, ALICE.ref) == second_end
