"""Plan-expiry reminders through the delivery engine: 3 days and 1 day before the end, once each,
none after a renewal (or for a subscription that renews itself), in the member's language and timezone.

The demo plan ``all-access`` runs 30 days; the clock starts at T0 = 2026-03-02 01:00 UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service_fakes import CHAT, write_club_catalog
from support import PROVIDER, checkout, confirm, new_user

import bot
from core.accounts import ensure_user
from core.clock import FrozenClock
from core.community import MemberStatus
from core.delivery import Outcome, SendResult
from core.events import Sender
from core.ports import SendLimits
from core.purchasing import confirm_payment
from core.replies import Reply, TextReply
from core.users import Ref, User
from jobs.delivery import DeliveryEngine
from jobs.reminders import plan_reminders, reminder_days

PLAN = "all-access"


class FakeSender:
    channel = "console"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None]] = []  # (who, text, important)

    def limits(self, *, paid: bool) -> SendLimits:
        return SendLimits("console", 1000, 1000)

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        (reply,) = replies
        assert isinstance(reply, TextReply)
        self.sent.append((ref.external_id, reply.text, important))
        return SendResult(Outcome.SENT)


async def remind(app: bot.App, clock: FrozenClock, sender: FakeSender, **kw: bool) -> list[tuple[str, str, str | None]]:
    """One reminder run, then an engine round; what was sent (and forgotten)."""
    await plan_reminders(app.uow, clock, **kw)
    await DeliveryEngine(app.uow, clock, {"console": sender}).run_once()  # type: ignore[dict-item]
    sent, sender.sent = sender.sent, []
    return sent


async def member(
    app: bot.App, name: str, *, lang: str = "en", timezone: str = "Asia/Shanghai", slug: str = PLAN
) -> User:
    async with app.uow() as uow:
        user, _ = await ensure_user(uow, Sender(Ref("console", name), lang), now=app.clock.now(), timezone=timezone)
        await uow.commit()
    await confirm(app, await checkout(app, user, slug), f"ch-{name}-{app.clock.now().timestamp()}")
    return user


def test_which_reminder_is_due() -> None:
    end = datetime(2026, 4, 1, tzinfo=UTC)
    assert reminder_days(end, end - timedelta(days=3, seconds=1)) is None
    assert reminder_days(end, end - timedelta(days=3)) == 3
    assert reminder_days(end, end - timedelta(days=1, seconds=1)) == 3
    assert reminder_days(end, end - timedelta(days=1)) == 1
    assert reminder_days(end, end - timedelta(seconds=1)) == 1
    assert reminder_days(end, end) is None


async def test_reminders_at_3_days_and_1_day_once_each(demo: bot.App, clock: FrozenClock) -> None:
    await member(demo, "ann")
    end = clock.now() + timedelta(days=30)
    sender = FakeSender()
    clock.set(end - timedelta(days=3, minutes=1))
    assert await remind(demo, clock, sender) == []

    clock.set(end - timedelta(days=3))
    ((who, text, important),) = await remind(demo, clock, sender)
    assert who == "ann" and important == "reminder"
    assert text.startswith("⏰ Your membership 全站会员 / All-Access Membership ends on Apr 1, 2026")
    for hours in (48, 25):
        clock.set(end - timedelta(hours=hours))
        assert await remind(demo, clock, sender) == []  # once

    clock.set(end - timedelta(hours=23))
    ((_, text, important),) = await remind(demo, clock, sender)
    assert "ends on" in text and important == "reminder"
    clock.set(end - timedelta(hours=1))
    assert await remind(demo, clock, sender) == []
    clock.set(end + timedelta(hours=1))
    assert await remind(demo, clock, sender) == []  # ended: access is gone, nothing to remind of


async def test_a_member_first_seen_within_a_day_gets_only_the_urgent_reminder(
    demo: bot.App, clock: FrozenClock
) -> None:
    ann = await member(demo, "ann")
    clock.advance(timedelta(days=29, hours=2))  # the job was down during the 3-day mark
    assert len(await remind(demo, clock, FakeSender())) == 1
    async with demo.uow() as uow:
        (ent,) = await uow.entitlements.for_user(ann.id)
        assert await uow.deliveries.by_key(f"remind:{ent.id}:1") is not None
        assert await uow.deliveries.by_key(f"remind:{ent.id}:3") is None


async def test_reminders_are_in_the_members_language_and_timezone(demo: bot.App, clock: FrozenClock) -> None:
    await member(demo, "li", lang="zh", timezone="Asia/Shanghai")
    await member(demo, "bob", lang="en", timezone="America/Los_Angeles")
    clock.advance(timedelta(days=27))
    sent = dict((who, text) for who, text, _ in await remind(demo, clock, FakeSender()))
    assert sent["li"].startswith("⏰ 你的会员「全站会员 / All-Access Membership」将于 2026年4月1日 09:00 到期")
    assert "Mar 31, 2026" in sent["bob"] and "6:00" in sent["bob"]  # 01:00 UTC is 18:00 the day before (PDT)


async def test_no_reminder_after_a_renewal(demo: bot.App, clock: FrozenClock) -> None:
    ann = await member(demo, "ann")
    end = clock.now() + timedelta(days=30)
    clock.set(end - timedelta(days=5))
    await confirm(demo, await checkout(demo, ann, PLAN), "ch-renewal")  # renewed early: runs to end + 30 days
    sender = FakeSender()
    for at in (end - timedelta(days=3), end - timedelta(hours=12)):
        clock.set(at)
        assert await remind(demo, clock, sender) == []
    clock.set(end + timedelta(days=27))
    ((_, text, _),) = await remind(demo, clock, sender)  # the renewed period's own reminder
    assert "ends on May 1, 2026" in text


async def test_no_reminder_while_a_subscription_renews_itself(demo: bot.App, clock: FrozenClock) -> None:
    ann = await new_user(demo, "ann")
    order = await checkout(demo, ann, PLAN)
    end = clock.now() + timedelta(days=30)
    async with demo.uow() as uow:
        await confirm_payment(
            uow,
            provider=PROVIDER,
            charge_id="sub-1",
            payload=order.code,
            total=order.price,
            now=clock.now(),
            recurring=True,
            first_recurring=True,
            period_end=end,
        )
        await uow.commit()
    clock.set(end - timedelta(days=2))
    assert await remind(demo, clock, FakeSender()) == []


async def test_paid_community_members_are_left_to_the_community_sweep(
    app: bot.App, clock: FrozenClock, tmp_path: Path
) -> None:
    await bot.import_path(app, write_club_catalog(tmp_path / "catalog"))
    ann = await member(app, "ann", slug="club")
    async with app.uow() as uow:
        await uow.community.record(ann.id, CHAT, MemberStatus.MEMBER, clock.now())
        await uow.commit()
    clock.advance(timedelta(days=28))
    assert await remind(app, clock, FakeSender(), skip_community_members=True) == []
    ((_, text, _),) = await remind(app, clock, FakeSender())  # no community sweep running: reminded here
    assert "Club Membership" in text


async def test_unreachable_members_are_not_recorded(demo: bot.App, clock: FrozenClock) -> None:
    await member(demo, "ann")
    async with demo.uow() as uow:
        await uow.users.set_unreachable(Ref("console", "ann"), clock.now())
        await uow.commit()
    clock.advance(timedelta(days=28))
    assert await plan_reminders(demo.uow, clock) == 0
