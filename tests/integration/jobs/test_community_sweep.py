"""The paid-community sweep over real storage: reminders at 3 days and 1 day, removal after the
grace period, dry runs, renewals, and failures that stay contained to one member."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from service_fakes import CHAT, PROVIDER, Installed, install, write_club_catalog

import bot
from bots.console import CAPABILITIES
from core.clock import FrozenClock
from core.community import MemberStatus, membership_end
from core.events import MemberJoined, MemberLeft, Message, PaymentRefunded, PaymentSucceeded, Sender
from core.replies import InvoiceReply
from core.users import Ref, User
from jobs.community import SweepReport, sweep_communities

GRACE = timedelta(hours=24)
ANN = Sender(Ref("console", "ann"), "en", "Ann")
BEN = Sender(Ref("console", "ben"), "zh", "Ben")  # reads Chinese
ADMIN = Sender(Ref("console", "boss"), "en", "Boss")


@pytest.fixture
async def club(app: bot.App, tmp_path: Path) -> bot.App:
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    await app.dispatcher.dispatch(Message(ADMIN, "/help"), CAPABILITIES)
    await bot.grant(app, str(ADMIN.ref), "admin")
    return app


@pytest.fixture
def fakes(club: bot.App) -> Installed:
    return install(club, subscriptions=frozenset())


async def buy_club(app: bot.App, fakes: Installed, sender: Sender, charge: str) -> InvoiceReply:
    replies = await app.dispatcher.dispatch(Message(sender, "/buy club"), fakes.caps)
    inv = next(r for r in replies if isinstance(r, InvoiceReply))
    await app.dispatcher.dispatch(PaymentSucceeded(sender, PROVIDER, charge, inv.order_code, inv.price), fakes.caps)
    return inv


async def member(app: bot.App, fakes: Installed, sender: Sender, charge: str = "") -> User:
    """``sender`` pays for the club (30 days from now) and joins its group."""
    await buy_club(app, fakes, sender, charge or f"ch-{sender.ref.external_id}")
    await app.dispatcher.dispatch(MemberJoined(sender, CHAT), fakes.caps)
    return await user(app, sender)


async def user(app: bot.App, sender: Sender) -> User:
    async with app.uow() as uow:
        found = await uow.users.get_by_ref(sender.ref)
    assert found is not None
    return found


async def status(app: bot.App, who: User) -> tuple[MemberStatus, int | None]:
    async with app.uow() as uow:
        row = await uow.community.get(who.id, CHAT)
    assert row is not None
    return row.status, row.reminded_days


async def sweep(app: bot.App, fakes: Installed, at: datetime, *, dry_run: bool = False) -> SweepReport:
    return await sweep_communities(app.uow, fakes.community, fakes.notifier, at, grace=GRACE, dry_run=dry_run)


async def test_reminders_go_out_at_3_days_and_1_day_once_each_then_removal_after_grace(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    end = clock.now() + timedelta(days=30)
    ann = await member(club, fakes, ANN)
    admin = await user(club, ADMIN)
    fakes.notifier.sent.clear()

    assert (await sweep(club, fakes, end - timedelta(days=3, minutes=1))).count == 0
    assert fakes.notifier.sent == []

    report = await sweep(club, fakes, end - timedelta(days=3))
    assert [(e.user_id, e.detail) for e in report.reminded] == [(ann.id, "3")]
    (reminder,) = fakes.notifier.to(ann.id)
    assert reminder.startswith("⏰ Your access to Club Membership ends on")
    assert await status(club, ann) == (MemberStatus.MEMBER, 3)
    await sweep(club, fakes, end - timedelta(days=2))
    assert len(fakes.notifier.to(ann.id)) == 1  # once

    await sweep(club, fakes, end - timedelta(hours=23))
    await sweep(club, fakes, end - timedelta(hours=1))
    assert len(fakes.notifier.to(ann.id)) == 2  # the 1-day reminder, once
    assert await status(club, ann) == (MemberStatus.MEMBER, 1)

    report = await sweep(club, fakes, end + GRACE - timedelta(minutes=1))  # in the grace period
    assert report.count == 0 and fakes.community.removed == []

    report = await sweep(club, fakes, end + GRACE)
    assert [e.user_id for e in report.removed] == [ann.id]
    assert fakes.community.removed == [(CHAT, ANN.ref)]
    assert (await status(club, ann))[0] is MemberStatus.REMOVED
    assert fakes.notifier.to(ann.id)[-1].startswith("Your membership Club Membership has ended")
    (admin_report,) = fakes.notifier.to(admin.id)
    assert "1 removed, 0 could not be removed" in admin_report and "Ann (console:ann)" in admin_report

    assert (await sweep(club, fakes, end + GRACE + timedelta(hours=1))).count == 0  # gone for good
    assert len(fakes.community.removed) == 1


async def test_reminders_are_in_the_members_language(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    end = clock.now() + timedelta(days=30)
    ben = await member(club, fakes, BEN)
    fakes.notifier.sent.clear()
    await sweep(club, fakes, end - timedelta(days=2))
    (text,) = fakes.notifier.to(ben.id)
    assert text.startswith("⏰ 你的 Club Membership 将于") and "到期" in text


async def test_a_dry_run_removes_nobody_but_reports_who_would_go(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    end = clock.now() + timedelta(days=30)
    ann = await member(club, fakes, ANN)
    admin = await user(club, ADMIN)
    fakes.notifier.sent.clear()

    await sweep(club, fakes, end - timedelta(days=2), dry_run=True)
    assert len(fakes.notifier.to(ann.id)) == 1  # reminders still go out: they are true either way

    report = await sweep(club, fakes, end + GRACE, dry_run=True)
    assert [e.user_id for e in report.would_remove] == [ann.id] and report.removed == []
    assert fakes.community.removed == []
    assert (await status(club, ann))[0] is MemberStatus.MEMBER
    assert len(fakes.notifier.to(ann.id)) == 1  # not told about a removal that did not happen
    (admin_report,) = fakes.notifier.to(admin.id)
    assert "dry run" in admin_report and "1 would be removed" in admin_report and "console:ann" in admin_report

    report = await sweep(club, fakes, end + GRACE)  # removal switched on: now they go
    assert [e.user_id for e in report.removed] == [ann.id]


async def test_a_renewal_resets_the_reminders(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    end = clock.now() + timedelta(days=30)
    ann = await member(club, fakes, ANN)
    fakes.notifier.sent.clear()
    clock.set(end - timedelta(days=2))
    await sweep(club, fakes, clock.now())
    assert await status(club, ann) == (MemberStatus.MEMBER, 3)

    await buy_club(club, fakes, ANN, "ch-renewal")  # bought early: the next period starts at ``end``
    async with club.uow() as uow:
        assert await membership_end(uow, ann.id, CHAT) == end + timedelta(days=30)
    report = await sweep(club, fakes, clock.now())
    assert report.reset == 1 and report.reminded == []
    assert await status(club, ann) == (MemberStatus.MEMBER, None)

    fakes.notifier.sent.clear()
    await sweep(club, fakes, end + timedelta(days=27))  # 3 days before the new end
    (text,) = fakes.notifier.to(ann.id)
    assert "Club Membership ends on" in text
    assert await status(club, ann) == (MemberStatus.MEMBER, 3)
    assert (await sweep(club, fakes, end + GRACE)).removed == []  # the old end no longer counts


async def test_a_messenger_failure_for_one_member_does_not_stop_the_others(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    end = clock.now() + timedelta(days=30)
    ann = await member(club, fakes, ANN)
    ben = await member(club, fakes, BEN)
    admin = await user(club, ADMIN)
    fakes.community.refuse_removal_of.add(ANN.ref)
    fakes.notifier.sent.clear()

    report = await sweep(club, fakes, end + GRACE)
    assert [(e.user_id, e.detail) for e in report.failed] == [(ann.id, "CHAT_ADMIN_REQUIRED")]
    assert [e.user_id for e in report.removed] == [ben.id]
    assert (await status(club, ann))[0] is MemberStatus.MEMBER  # still recorded: retried next time
    assert (await status(club, ben))[0] is MemberStatus.REMOVED
    assert fakes.notifier.to(ann.id) == []
    (admin_report,) = fakes.notifier.to(admin.id)
    assert "1 removed, 1 could not be removed" in admin_report and "CHAT_ADMIN_REQUIRED" in admin_report

    fakes.community.refuse_removal_of.clear()
    report = await sweep(club, fakes, end + GRACE + timedelta(minutes=30))
    assert [e.user_id for e in report.removed] == [ann.id]


async def test_a_failing_notice_does_not_stop_the_sweep(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    end = clock.now() + timedelta(days=30)
    ann = await member(club, fakes, ANN)
    ben = await member(club, fakes, BEN)
    fakes.notifier.fail_for.add(ann.id)
    report = await sweep(club, fakes, end - timedelta(days=2))
    assert {e.user_id for e in report.reminded} == {ann.id, ben.id}
    assert len(fakes.notifier.to(ben.id)) == 1
    assert await status(club, ann) == (MemberStatus.MEMBER, 3)  # recorded: a reminder is sent at most once


async def test_a_member_without_any_plan_is_removed_at_once(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    await club.dispatcher.dispatch(Message(ANN, "/help"), fakes.caps)
    ann = await user(club, ANN)
    async with club.uow() as uow:  # say an admin added them by hand
        await uow.community.record(ann.id, CHAT, MemberStatus.MEMBER, clock.now())
        assert await membership_end(uow, ann.id, CHAT) is None
        await uow.commit()
    report = await sweep(club, fakes, clock.now())
    assert [e.user_id for e in report.removed] == [ann.id]
    assert fakes.notifier.to(ann.id) == [
        "Your membership Club Membership has ended, so you have been removed from the members' group. "
        "Renew any time to rejoin."
    ]


async def test_a_refunded_member_is_removed_without_grace(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    inv = await buy_club(club, fakes, ANN, "ch-ann")
    await club.dispatcher.dispatch(MemberJoined(ANN, CHAT), fakes.caps)
    await club.dispatcher.dispatch(PaymentRefunded(ANN, PROVIDER, "ch-ann", inv.order_code, inv.price), fakes.caps)
    report = await sweep(club, fakes, clock.now() + timedelta(minutes=30))
    assert [e.ref for e in report.removed] == ["console:ann"]


async def test_members_who_left_are_left_alone(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    end = clock.now() + timedelta(days=30)
    await member(club, fakes, ANN)
    await club.dispatcher.dispatch(MemberLeft(ANN, CHAT), fakes.caps)
    fakes.notifier.sent.clear()
    assert (await sweep(club, fakes, end - timedelta(days=2))).count == 0
    assert (await sweep(club, fakes, end + GRACE)).count == 0
    assert fakes.notifier.sent == [] and fakes.community.removed == []


async def test_membership_end_is_the_latest_end_of_any_plan_opening_the_chat(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    ann = await member(club, fakes, ANN)
    first_end = clock.now() + timedelta(days=30)
    async with club.uow() as uow:
        assert await membership_end(uow, ann.id, CHAT) == first_end
        assert await membership_end(uow, ann.id, "-1009999999999") is None
    clock.set(first_end + timedelta(days=3))  # ended, still reported (the sweep needs it for the grace)
    async with club.uow() as uow:
        assert await membership_end(uow, ann.id, CHAT) == first_end
