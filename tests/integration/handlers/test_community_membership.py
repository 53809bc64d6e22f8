"""Paid communities through the dispatcher: invite links after payment, join requests, joins and
leaves, with a fake messenger that records what the bot asked it to do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from service_fakes import CHAT, PROVIDER, Installed, install, texts, write_club_catalog

import bot
from core.clock import FrozenClock
from core.community import CommunityMember, MemberStatus
from core.events import JoinRequest, MemberJoined, MemberLeft, Message, PaymentSucceeded, PreCheckout, Sender
from core.replies import Button, InvoiceReply, Reply, TextReply
from core.users import Ref

MEMBER = Sender(Ref("console", "mia"), "en", "Mia")
STRANGER = Sender(Ref("console", "sid"), "en", "Sid")


@pytest.fixture
async def club(app: bot.App, tmp_path: Path) -> bot.App:
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    return app


@pytest.fixture
def fakes(club: bot.App) -> Installed:
    return install(club, subscriptions=frozenset())  # a plan paid once, for its 30 days


async def join_club(app: bot.App, fakes: Installed, sender: Sender) -> list[Reply]:
    replies = await app.dispatcher.dispatch(Message(sender, "/buy club"), fakes.caps)
    inv = next(r for r in replies if isinstance(r, InvoiceReply))
    await app.dispatcher.dispatch(PreCheckout(sender, inv.order_code, inv.price), fakes.caps)
    paid = PaymentSucceeded(sender, PROVIDER, f"ch-{sender.ref.external_id}", inv.order_code, inv.price)
    return await app.dispatcher.dispatch(paid, fakes.caps)


async def row(app: bot.App, ref: Ref) -> CommunityMember | None:
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(ref)
        assert user is not None
        return await uow.community.get(user.id, CHAT)


def buttons(replies: list[Reply]) -> list[Button]:
    return [b for r in replies if isinstance(r, TextReply) for row in r.buttons for b in row]


async def test_paying_for_the_plan_brings_a_one_time_invite_link(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    replies = await join_club(club, fakes, MEMBER)
    assert "Club Membership includes a members' group" in texts(replies)
    links = [b.url for b in buttons(replies) if b.url]
    assert links == ["https://t.me/+fake1"]
    ((chat, name, expires),) = fakes.community.links
    assert chat == CHAT and name.startswith("ks-")
    assert expires == clock.now() + timedelta(hours=24)  # a day, well inside the 30-day membership


async def test_no_invite_link_still_leaves_the_payment_done(club: bot.App, fakes: Installed) -> None:
    fakes.community.refuse_links = "not enough rights"
    replies = await join_club(club, fakes, MEMBER)
    assert "Payment received" in texts(replies)
    assert "couldn't create your group invite link" in texts(replies)
    assert "support@example.com" in texts(replies)


async def test_a_join_request_is_approved_only_for_members(club: bot.App, fakes: Installed, clock: FrozenClock) -> None:
    await join_club(club, fakes, MEMBER)
    approved = await club.dispatcher.dispatch(JoinRequest(MEMBER, CHAT), fakes.caps)
    assert "approved" in texts(approved)
    assert fakes.community.approved == [(CHAT, MEMBER.ref)]

    declined = await club.dispatcher.dispatch(JoinRequest(STRANGER, CHAT), fakes.caps)
    assert "members only" in texts(declined)
    assert [b.action for b in buttons(declined)] == ["buy:club"]  # the plan that opens it, on offer
    assert "Club Membership" in buttons(declined)[0].label
    assert fakes.community.declined == [(CHAT, STRANGER.ref)]

    clock.advance(timedelta(days=31))  # the membership ran out
    late = await club.dispatcher.dispatch(JoinRequest(MEMBER, CHAT), fakes.caps)
    assert "members only" in texts(late)
    assert fakes.community.declined[-1] == (CHAT, MEMBER.ref)
    assert len(fakes.community.approved) == 1


async def test_someone_who_joined_without_entitlement_is_removed(club: bot.App, fakes: Installed) -> None:
    replies = await club.dispatcher.dispatch(MemberJoined(STRANGER, CHAT, "https://t.me/+forwarded"), fakes.caps)
    assert fakes.community.removed == [(CHAT, STRANGER.ref)]
    assert "members only" in texts(replies) and [b.action for b in buttons(replies)] == ["buy:club"]
    found = await row(club, STRANGER.ref)
    assert found is not None and found.status is MemberStatus.REMOVED


async def test_a_member_joining_and_leaving_is_recorded(club: bot.App, fakes: Installed) -> None:
    await join_club(club, fakes, MEMBER)
    assert await club.dispatcher.dispatch(MemberJoined(MEMBER, CHAT, "https://t.me/+fake1"), fakes.caps) == []
    joined = await row(club, MEMBER.ref)
    assert joined is not None and joined.status is MemberStatus.MEMBER and joined.joined_at is not None
    assert fakes.community.removed == []
    assert await club.dispatcher.dispatch(MemberLeft(MEMBER, CHAT), fakes.caps) == []
    left = await row(club, MEMBER.ref)
    assert left is not None and left.status is MemberStatus.LEFT and left.left_at is not None


async def test_leaving_a_chat_we_never_recorded_is_ignored(club: bot.App, fakes: Installed) -> None:
    assert await club.dispatcher.dispatch(MemberLeft(STRANGER, CHAT), fakes.caps) == []
    assert await row(club, STRANGER.ref) is None


async def test_staff_join_without_a_plan_and_are_left_alone(
    club: bot.App, fakes: Installed, clock: FrozenClock
) -> None:
    staff = Sender(Ref("console", "sam"), "en", "Sam")
    await club.dispatcher.dispatch(Message(staff, "/start"), fakes.caps)
    await bot.grant(club, "console:sam", "creator")
    assert await club.dispatcher.dispatch(MemberJoined(staff, CHAT), fakes.caps) == []
    assert fakes.community.removed == []
    member = await row(club, staff.ref)
    assert member is not None and member.status is MemberStatus.MEMBER
    approved = await club.dispatcher.dispatch(JoinRequest(staff, CHAT), fakes.caps)
    assert "approved" in texts(approved)
    from jobs.community import sweep_communities

    clock.advance(timedelta(days=60))
    report = await sweep_communities(
        club.uow, fakes.community, fakes.notifier, clock.now(), grace=timedelta(0), dry_run=False
    )
    assert report.removed == [] and fakes.community.removed == []
