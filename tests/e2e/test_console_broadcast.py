"""Broadcasts through the console: compose, preview, choose an audience, see its size, confirm, steer;
learners are refused; a learner who mutes broadcasts in /settings gets no delivery row."""

from __future__ import annotations

from support import TestBot

import bot
from bots.console import CAPABILITIES, ConsoleBulkSender
from core.broadcasts import delivery_key, tracked_replies
from core.delivery import CampaignStatus, DeliveryStatus
from core.events import ButtonPress
from core.replies import TextReply
from core.users import Ref
from jobs.broadcast_start import BroadcastStarter


async def _admin(app: bot.App) -> TestBot:
    await bot.grant(app, "console:boss", "admin")
    boss = TestBot(app, user="boss")
    await boss.say("/settings lang en")
    return boss


async def _user_id(app: bot.App, name: str) -> int:
    async with app.uow() as uow:
        user = await uow.users.get_by_ref(Ref("console", name))
    assert user is not None
    return user.id


async def test_admin_composes_previews_picks_an_audience_and_confirms(demo: bot.App) -> None:
    learner = TestBot(demo, user="ann")
    await learner.say("/start")
    boss = await _admin(demo)

    ask = await boss.say("/broadcast")
    assert "New broadcast" in ask and "[Open the course](course:python-basics)" in ask
    preview = await boss.say(
        "**Spring sale**: 20% off!\n[Open the course](course:python-basics) [Site](https://example.com)"
    )
    assert "Preview" in preview and "**Spring sale**: 20% off!" in preview
    assert "Open the course" in preview and "Site: https://example.com" in preview  # the message's own buttons
    assert "Everyone" in preview and "Buyers of “Python for Beginners”" in preview and "Inactive for 30 days" in preview

    telegram = await boss.press("Telegram", preview)
    assert "✓ Telegram" in telegram and "Paid broadcast" in telegram
    wechat = await boss.press("WeChat", telegram)
    assert "Paid broadcast" not in wechat  # paid broadcasting is Telegram's
    anyone = await boss.press("every messenger", wechat)
    paid = await boss.press("Paid broadcast", anyone)
    assert "Paid broadcast (faster, costs Stars): on" in paid

    counted = await boss.press("Everyone", paid)
    assert "Reaches 2 people right now (console 2)" in counted  # ann and the admin, both on the console
    assert "about 0 Stars" in counted  # nobody on Telegram
    typed = await boss.say("lang:zh")  # or type an audience
    assert "Audience: lang:zh" in typed and "Nobody matches" in typed and "Send to" not in typed
    counted = await boss.press("Everyone", await boss.press("Change audience", typed))
    confirmed = await boss.press("Send to 2 people", counted)
    assert "Broadcast #" in confirmed and "confirmed for 2 recipients" in confirmed
    assert "preparing the recipient list" in confirmed and "Cancel" in confirmed  # the answer didn't wait for rows
    assert await BroadcastStarter(demo.uow, demo.clock, demo.kv).run_once() == 1  # what a worker does next
    started = await boss.press("Refresh", confirmed)
    assert "sending" in started and "remaining 2 (of 2)" in started

    async with demo.uow() as uow:
        (campaign,) = [c for c in await uow.deliveries.campaigns() if c.status is CampaignStatus.RUNNING]
        assert await uow.deliveries.by_key(delivery_key(campaign.id, await _user_id(demo, "ann"))) is not None
        assert campaign.paid and campaign.audience == "all"
        (sent,) = tracked_replies(campaign)
        assert isinstance(sent, TextReply) and sent.buttons[0][0].action == f"bc:{campaign.id}.0"

    paused = await boss.press("Pause", started)
    assert "paused" in paused and "Resume" in paused
    resumed = await boss.press("Resume", paused)
    assert "sending" in resumed
    listing = await boss.say("/broadcasts")
    assert f"#{campaign.id} · sending · sent 0/2" in listing
    cancelled = await boss.say(f"/broadcast cancel {campaign.id}")
    assert "cancelled" in cancelled and "remaining 0" in cancelled

    # ann presses the tracked button of the broadcast she received: it counts, and the course card opens
    press = ButtonPress(learner.channel.sender, sent.buttons[0][0].action)
    replies = await demo.dispatcher.dispatch(press, CAPABILITIES)
    assert any(isinstance(r, TextReply) and "Python for Beginners" in r.text for r in replies)
    async with demo.uow() as uow:
        assert await uow.deliveries.clicks(campaign.id) == 1


async def test_discarding_a_draft_sends_nothing(demo: bot.App) -> None:
    boss = await _admin(demo)
    preview = await boss.say("/broadcast Hello everyone")
    counted = await boss.press("Everyone", preview)
    assert "Reaches 1 person" in counted
    assert "discarded" in await boss.press("Discard", counted)
    assert "expired" in await boss.say("1")  # the confirmation's menu is stale now
    assert "haven't sent any broadcasts" in await boss.say("/broadcasts")
    async with demo.uow() as uow:
        assert all(c.status is CampaignStatus.CANCELLED for c in await uow.deliveries.campaigns())
        assert await uow.deliveries.pending_count() == 0


async def test_learners_are_refused(testbot: TestBot) -> None:
    assert "Only creators and admins" in await testbot.say("/broadcast")
    assert "Only creators and admins" in await testbot.say("/broadcast Hi all")
    assert "Only creators and admins" in await testbot.say("/broadcasts")
    assert "Only creators and admins" in await testbot.say("/broadcast pause 1")
    assert "Only creators and admins" in await testbot.say("/broadcast status")


async def test_a_learner_who_mutes_broadcasts_is_left_out(demo: bot.App) -> None:
    ann, bob = TestBot(demo, user="ann"), TestBot(demo, user="bob")
    await ann.say("/start")
    await bob.say("/start")
    settings = await bob.say("/settings")
    assert "Broadcasts from creators: on" in settings
    muted = await bob.press("Mute broadcasts", settings)
    assert "Muted" in muted and "Broadcasts from creators: off" in muted and "Receive broadcasts" in muted

    boss = await _admin(demo)
    counted = await boss.press("Everyone", await boss.say("/broadcast Big news"))
    assert "Reaches 2 people" in counted  # ann and the admin: not bob
    await boss.press("Send to", counted)
    await BroadcastStarter(demo.uow, demo.clock, demo.kv).run_once()
    async with demo.uow() as uow:
        (campaign,) = await uow.deliveries.campaigns(status=CampaignStatus.RUNNING)
        assert await uow.deliveries.by_key(delivery_key(campaign.id, await _user_id(demo, "ann"))) is not None
        assert await uow.deliveries.by_key(delivery_key(campaign.id, await _user_id(demo, "bob"))) is None

    # ann mutes just this sender, from the button /settings offers for the senders she heard from
    ann_settings = await ann.say("/settings")
    assert "Mute creator #" in ann_settings
    ann_muted = await ann.press("Mute creator #", ann_settings)
    assert "Muted: creator #" in ann_muted and "Unmute creator #" in ann_muted
    again = await boss.press("Everyone", await boss.say("/broadcast More news"))
    assert "Reaches 1 person" in again  # only the admin now
    assert "Unmuted" in await bob.say("/settings unmute broadcasts")
    assert "Unmuted" in await ann.say("/settings unmute console:boss")
    assert "Reaches 3 people" in await boss.press("Everyone", await boss.say("/broadcast Welcome back"))
    assert "I don't know the sender" in await ann.say("/settings mute telegram:1")
    assert "Name the sender" in await ann.say("/settings mute nobody")


async def test_the_console_chat_delivers_a_broadcast_and_its_button_can_be_pressed(demo: bot.App) -> None:
    """What `bot.py demo` runs behind the prompt: the starter and the engine, sending through the console."""
    ann = TestBot(demo, user="ann")
    await ann.say("/start")
    boss = await _admin(demo)
    preview = await boss.say("/broadcast Big news\n[Open the course](course:python-basics)")
    counted = await boss.press("Everyone", preview)
    await boss.press("Send to 2 people", counted)
    await BroadcastStarter(demo.uow, demo.clock, demo.kv).run_once()
    engine, _ = bot.delivery_engine(demo, extra={"console": ConsoleBulkSender(boss.channel, per_second=1000)})
    before = boss.out.tell()
    assert await engine.run_once() == 2
    boss.out.seek(before)
    printed = boss.out.read()
    assert "📨 to console:ann:" in printed and printed.count("Big news") == 2  # ann's screen, and the admin's own
    # The admin's own copy made its button the current menu: pressing it opens the course and counts a click.
    opened = await boss.say("1")
    assert "Python for Beginners" in opened
    async with demo.uow() as uow:
        (campaign,) = await uow.deliveries.campaigns(status=CampaignStatus.DONE)
        assert await uow.deliveries.progress(campaign.id) == {DeliveryStatus.SENT: 2}
        assert await uow.deliveries.clicks(campaign.id) == 1
