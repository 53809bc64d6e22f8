"""A plan with a paid Telegram group, end to end through PTB and the fake Bot API.

After paying, the member gets a one-time invite link (member_limit 1, an expire date); anyone who
gets into the group without an entitlement is removed (ban then unban) and offered the plan; join
requests are approved for members and declined for everyone else; the community sweep reminds
members 3 days and 1 day before their membership ends and removes them after the grace period.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes.telegram_api import InviteLinkRefused
from telegram_support import TgHarness, TgUser, telegram_app, text_of

import bot
from core.clock import FrozenClock
from core.community import MemberStatus
from core.ports import KeyValueStore
from core.users import Ref
from jobs.community import sweep_communities

CHAT = -1001234567890
PLAN = "all-access"
GRACE = timedelta(hours=24)


def community_catalog(tmp_path: Path) -> Path:
    """The demo catalog whose all-access plan also opens the paid group ``CHAT``."""
    folder = tmp_path / "catalog"
    shutil.copytree(bot.DEMO_CATALOG, folder)
    plans = folder / "plans.toml"
    text = plans.read_text(encoding="utf-8")
    assert 'includes = ["*"]\n' in text
    plans.write_text(text.replace('includes = ["*"]\n', f'includes = ["*"]\ntelegram_chat = "{CHAT}"\n'), "utf-8")
    return folder


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def labels(messages: list[dict[str, Any]]) -> list[str]:
    return [b["text"] for m in messages for b in buttons(m)]


async def subscribe(ann: TgUser) -> list[dict[str, Any]]:
    """Buy the plan (a subscription link) and pay it; the bot's answer."""
    offer = await ann.say(f"/buy {PLAN}")
    link = next(b["url"] for m in offer for b in buttons(m) if "url" in b)
    result, answer = await ann.pay(link)
    assert result["ok"], result
    return answer


def invite_in(messages: list[dict[str, Any]]) -> str:
    links = [b["url"] for m in messages for b in buttons(m) if b.get("url", "").startswith("https://t.me/+")]
    assert len(links) == 1, [(m.get("text"), buttons(m)) for m in messages]
    return links[0]


async def settle_all(h: TgHarness, timeout: float = 10.0) -> None:
    """Wait until every update the fake has queued so far (including ones caused by bans) was handled."""
    ids = [u["update_id"] for u in h.fake.updates]
    await h.fake.wait_for(lambda: all(i in h.channel.processed for i in ids), timeout=timeout)


def removals_of(h: TgHarness, user_id: int) -> list[str]:
    """The Bot API calls that removed ``user_id`` from the group, in order."""
    return [
        method
        for method, p in h.fake.calls
        if method.lower() in ("banchatmember", "unbanchatmember") and str(p.get("user_id")) == str(user_id)
    ]


async def member_status(h: TgHarness, telegram_id: int) -> MemberStatus | None:
    """What the bot recorded about the Telegram user ``telegram_id`` in the group."""
    async with h.app.uow() as uow:
        user = await uow.users.get_by_ref(Ref("telegram", str(telegram_id)))
        member = await uow.community.get(user.id, str(CHAT)) if user else None
    return member.status if member else None


@pytest.mark.parametrize("webhook", [False, True], ids=["polling", "webhook"])
async def test_paid_member_gets_a_one_time_link_and_intruders_are_removed(
    app: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path, webhook: bool
) -> None:
    async with telegram_app(app.settings, clock, kv, webhook=webhook) as h:
        await bot.import_path(h.app, community_catalog(tmp_path))
        fake = h.fake
        fake.add_group(CHAT)
        ann, bob = h.user(1001, name="Ann"), h.user(1002, name="Bob")

        answer = await subscribe(ann)
        assert "Payment received" in text_of(answer)
        assert "members' group" in text_of(answer) and "works once" in text_of(answer), text_of(answer)
        link = invite_in(answer)
        [created] = fake.calls_of("createChatInviteLink")
        assert int(created["chat_id"]) == CHAT and int(created["member_limit"]) == 1
        expires = int(created["expire_date"])
        assert clock.now().timestamp() < expires <= (clock.now() + timedelta(hours=24)).timestamp()
        assert fake.invite_links[link]["member_limit"] == 1

        # the member joins with it and stays
        before = len(ann.messages())
        await h.settle(await fake.join_via_link(1001, CHAT, link))
        assert fake.members[CHAT][1001] == "member"
        assert removals_of(h, 1001) == []
        assert ann.messages()[before:] == []
        assert await member_status(h, 1001) is MemberStatus.MEMBER

        # the link works once: nobody else gets in with it
        with pytest.raises(InviteLinkRefused) as refused:
            await fake.join_via_link(1002, CHAT, link)
        assert refused.value.reason == "USERS_TOO_MUCH"
        assert fake.members[CHAT].get(1002, "left") == "left"

        # someone who never paid gets in another way: removed, and offered the membership
        await bob.say("/start")
        before = len(bob.messages())
        await h.settle(await fake.join_directly(1002, CHAT))
        await settle_all(h)
        assert removals_of(h, 1002) == ["banChatMember", "unbanChatMember"]
        unban = [p for m, p in fake.calls if m == "unbanChatMember"][-1]
        assert str(unban.get("only_if_banned")).lower() == "true"  # never kicks someone out by unbanning
        assert fake.members[CHAT][1002] == "left"  # out, and not banned: free to come back after paying
        notice = bob.messages()[before:]
        assert "members only" in text_of(notice), text_of(notice)
        assert any("All-Access" in label and "⭐" in label for label in labels(notice)), labels(notice)
        assert await member_status(h, 1002) is MemberStatus.REMOVED

        # the member was never touched
        assert fake.members[CHAT][1001] == "member"
        assert removals_of(h, 1001) == []

        # a stranger who never opened the bot joins: removed as well; the bot keeps serving everyone
        fake.add_user(1003, first_name="Eve", started=False)
        await h.settle(await fake.join_directly(1003, CHAT))
        await settle_all(h)
        assert removals_of(h, 1003) == ["banChatMember", "unbanChatMember"]
        assert fake.members[CHAT][1003] == "left"
        assert fake.messages_to(1003) == []
        assert "Welcome" in text_of(await ann.say("/start"))


async def test_join_requests_are_approved_for_members_only(
    app: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path
) -> None:
    async with telegram_app(app.settings, clock, kv) as h:
        await bot.import_path(h.app, community_catalog(tmp_path))
        fake = h.fake
        fake.add_group(CHAT)
        ann, bob = h.user(1001, name="Ann"), h.user(1002, name="Bob")
        await subscribe(ann)
        await bob.say("/start")

        before = len(ann.messages())
        await h.settle(await fake.request_join(1001, CHAT))
        await settle_all(h)
        assert [int(p["user_id"]) for p in fake.calls_of("approveChatJoinRequest")] == [1001]
        assert fake.members[CHAT][1001] == "member"
        assert "approved" in text_of(ann.messages()[before:])
        assert await member_status(h, 1001) is MemberStatus.MEMBER

        before = len(bob.messages())
        await h.settle(await fake.request_join(1002, CHAT))
        await settle_all(h)
        assert [int(p["user_id"]) for p in fake.calls_of("declineChatJoinRequest")] == [1002]
        assert (CHAT, 1002) in fake.declined_requests
        assert fake.members[CHAT].get(1002, "left") == "left"
        notice = bob.messages()[before:]
        assert "members only" in text_of(notice)
        assert any("All-Access" in label for label in labels(notice)), labels(notice)
        assert len(fake.calls_of("approveChatJoinRequest")) == 1


async def test_sweep_reminds_then_removes_through_telegram(
    app: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path
) -> None:
    async with telegram_app(app.settings, clock, kv) as h:
        await bot.import_path(h.app, community_catalog(tmp_path))
        fake = h.fake
        fake.add_group(CHAT)
        ann = h.user(1001, name="Ann")
        admin = h.user(1009, name="Ada")
        await admin.say("/start")
        await bot.grant(h.app, "telegram:1009", "admin")
        start = clock.now()
        link = invite_in(await subscribe(ann))
        await h.settle(await fake.join_via_link(1001, CHAT, link))
        assert await member_status(h, 1001) is MemberStatus.MEMBER

        async def sweep(*, dry_run: bool = False) -> Any:
            report = await sweep_communities(
                h.app.uow, h.channel.community, h.app.notifier, clock.now(), grace=GRACE, dry_run=dry_run
            )
            await settle_all(h)
            return report

        def new_texts(before: int, user: TgUser) -> str:
            return text_of(user.messages()[before:])

        # well before the end: nothing
        clock.advance(timedelta(days=20))
        before = len(ann.messages())
        report = await sweep()
        assert report.count == 0 and new_texts(before, ann) == ""

        # 3 days before the end: the first reminder, once
        clock.advance(start + timedelta(days=27, hours=1) - clock.now())
        report = await sweep()
        assert [e.detail for e in report.reminded] == ["3"]
        reminder = new_texts(before, ann)
        assert "ends on" in reminder and "All-Access" in reminder, reminder
        before = len(ann.messages())
        await sweep()
        assert new_texts(before, ann) == ""

        # 1 day before: the last reminder
        clock.advance(start + timedelta(days=29, hours=1) - clock.now())
        report = await sweep()
        assert [e.detail for e in report.reminded] == ["1"]
        assert "ends on" in new_texts(before, ann)

        # ended, but within the grace period: still in
        clock.advance(start + timedelta(days=30, hours=12) - clock.now())
        before = len(ann.messages())
        report = await sweep()
        assert report.count == 0 and fake.members[CHAT][1001] == "member" and new_texts(before, ann) == ""

        # past the grace period, dry run: reported to the admins, nobody removed or told
        clock.advance(start + timedelta(days=31, minutes=5) - clock.now())
        admin_before = len(admin.messages())
        report = await sweep(dry_run=True)
        would = [e.user_id for e in report.would_remove]
        assert len(would) == 1 and not report.removed
        assert removals_of(h, 1001) == []
        assert fake.members[CHAT][1001] == "member"
        assert new_texts(before, ann) == ""
        assert "dry run" in new_texts(admin_before, admin), new_texts(admin_before, admin)

        # for real: ban then unban, the member is told, the admins get the report
        admin_before = len(admin.messages())
        report = await sweep()
        assert [e.user_id for e in report.removed] == would and not report.failed
        assert removals_of(h, 1001) == ["banChatMember", "unbanChatMember"]
        assert fake.members[CHAT][1001] == "left"
        removed = new_texts(before, ann)
        assert "removed from the members' group" in removed, removed
        assert "1 removed" in new_texts(admin_before, admin), new_texts(admin_before, admin)
        assert await member_status(h, 1001) is MemberStatus.REMOVED

        # the next run does nothing more
        before = len(ann.messages())
        report = await sweep()
        assert report.count == 0 and removals_of(h, 1001) == ["banChatMember", "unbanChatMember"]
        assert new_texts(before, ann) == ""


async def test_sweep_notice_to_a_member_who_blocked_the_bot_is_skipped(
    app: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path
) -> None:
    async with telegram_app(app.settings, clock, kv) as h:
        await bot.import_path(h.app, community_catalog(tmp_path))
        fake = h.fake
        fake.add_group(CHAT)
        ann = h.user(1001, name="Ann")
        start = clock.now()
        link = invite_in(await subscribe(ann))
        await h.settle(await fake.join_via_link(1001, CHAT, link))
        fake.blocked.add(1001)
        clock.advance(start + timedelta(days=31, minutes=5) - clock.now())
        report = await sweep_communities(
            h.app.uow, h.channel.community, h.app.notifier, clock.now(), grace=GRACE, dry_run=False
        )
        await settle_all(h)
        assert len(report.removed) == 1 and fake.members[CHAT][1001] == "left"
        async with h.app.uow() as uow:
            user = await uow.users.get_by_ref(Ref("telegram", "1001"))
            assert user is not None
            assert await uow.users.reachable_refs(user.id) == []  # marked unreachable by the refused notice


async def test_a_renewal_keeps_the_member_in_and_starts_the_reminders_over(
    app: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Path
) -> None:
    async with telegram_app(app.settings, clock, kv) as h:
        await bot.import_path(h.app, community_catalog(tmp_path))
        fake = h.fake
        fake.add_group(CHAT)
        ann = h.user(1001, name="Ann")
        start = clock.now()
        offer = await ann.say(f"/buy {PLAN}")
        link = next(b["url"] for m in offer for b in buttons(m) if "url" in b)
        paid, answer = await ann.pay(link)
        await h.settle(await fake.join_via_link(1001, CHAT, invite_in(answer)))

        async def sweep() -> Any:
            report = await sweep_communities(
                h.app.uow, h.channel.community, h.app.notifier, clock.now(), grace=GRACE, dry_run=False
            )
            await settle_all(h)
            return report

        clock.advance(start + timedelta(days=27, hours=1) - clock.now())
        assert [e.detail for e in (await sweep()).reminded] == ["3"]
        clock.advance(start + timedelta(days=30) - timedelta(minutes=5) - clock.now())
        await h.settle(await fake.renew(1001, paid["charge_id"]))  # Telegram renews: 30 more days

        clock.advance(start + timedelta(days=31, hours=2) - clock.now())  # the first period + grace is over
        before = len(ann.messages())
        report = await sweep()
        assert report.reset == 1 and not report.reminded and not report.removed
        assert fake.members[CHAT][1001] == "member" and removals_of(h, 1001) == []
        assert ann.messages()[before:] == []

        clock.advance(start + timedelta(days=57, hours=1) - clock.now())  # 3 days before the renewed end
        assert [e.detail for e in (await sweep()).reminded] == ["3"]
        assert "ends on" in text_of(ann.messages()[before:])
