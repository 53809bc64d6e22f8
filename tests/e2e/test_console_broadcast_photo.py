"""A photo broadcast through the console (``/photo PATH caption``): composed, previewed exactly as recipients get
it, confirmed; recipients get the photo with its caption and tracked buttons. A bad image is refused with a clear
message and changes nothing; outside /broadcast a photo only gets a hint."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from support import TestBot, png

import bot
from bots.console import CAPABILITIES
from core import broadcasts
from core.broadcasts import delivery_key, tracked_replies
from core.delivery import Campaign, CampaignStatus
from core.events import ButtonPress
from core.photos import MAX_PHOTO_BYTES
from core.replies import MediaReply, TextReply
from core.users import Ref

CAPTION = "**Spring sale**: 20% off!\n[Open the course](course:python-basics) [Site](https://example.com)"


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


async def _confirmed(app: bot.App) -> Campaign:
    """The confirmed campaign, with its recipient rows written (by the chat handler, or here as a worker would)."""
    async with app.uow() as uow:
        (campaign,) = [
            c
            for c in await uow.deliveries.campaigns()
            if c.status not in (CampaignStatus.DRAFT, CampaignStatus.CANCELLED)
        ]
    if campaign.status is CampaignStatus.STARTING:
        async with app.uow() as uow:
            await broadcasts.start_queued(uow, campaign.id, app.clock.now())
            refreshed = await uow.deliveries.get_campaign(campaign.id)
        assert refreshed is not None
        campaign = refreshed
    return campaign


async def test_a_photo_broadcast_is_previewed_confirmed_and_arrives_with_tracked_buttons(
    demo: bot.App, tmp_path: Path
) -> None:
    learner = TestBot(demo, user="ann")
    await learner.say("/start")
    boss = await _admin(demo)
    picture = tmp_path / "sale.png"
    picture.write_bytes(png(1))

    ask = await boss.say("/broadcast")
    assert "a photo with a caption" in ask
    preview = await boss.say(f"/photo {picture} {CAPTION}")
    stored = demo.settings.media_dir.resolve() / f"{hashlib.sha256(png(1)).hexdigest()}.png"
    assert stored.read_bytes() == png(1)  # the photo is kept, content-addressed, for every channel
    assert "Preview" in preview
    assert f"[photo] {stored} **Spring sale**: 20% off!" in preview  # the photo, its caption...
    assert "[1] Open the course" in preview and "Site: https://example.com" in preview  # ...and its buttons
    assert "Everyone" in preview

    counted = await boss.press("Everyone", preview)
    assert "Reaches 2 people right now" in counted
    started = await boss.press("Send to 2 people", counted)
    assert "Broadcast #" in started

    campaign = await _confirmed(demo)
    async with demo.uow() as uow:
        assert await uow.deliveries.by_key(delivery_key(campaign.id, await _user_id(demo, "ann"))) is not None
    (sent,) = tracked_replies(campaign)
    assert isinstance(sent, MediaReply) and sent.path == str(stored) and sent.markdown
    assert sent.caption == "**Spring sale**: 20% off!"
    assert sent.buttons[0][0].action == f"bc:{campaign.id}.0" and sent.buttons[0][1].url == "https://example.com"

    # What ann's console shows for it, and her press of the photo's button: counted, the course opens
    shown = io.StringIO()
    learner.channel.out = shown
    learner.channel.render([sent], "en")
    assert f"[photo] {stored} **Spring sale**: 20% off!" in shown.getvalue()
    assert "[1] Open the course  Site: https://example.com" in shown.getvalue()
    replies = await demo.dispatcher.dispatch(
        ButtonPress(learner.channel.sender, sent.buttons[0][0].action), CAPABILITIES
    )
    assert any(isinstance(r, TextReply) and "Python for Beginners" in r.text for r in replies)
    async with demo.uow() as uow:
        assert await uow.deliveries.clicks(campaign.id) == 1


async def test_a_bad_image_is_refused_clearly_and_changes_nothing(demo: bot.App, tmp_path: Path) -> None:
    boss = await _admin(demo)
    notes = tmp_path / "notes.jpg"
    notes.write_text("meeting notes, not a picture")
    huge = tmp_path / "huge.png"
    huge.write_bytes(png(2) + bytes(MAX_PHOTO_BYTES))

    media_before = set(demo.settings.media_dir.iterdir())  # the demo catalog's own media
    await boss.say("/broadcast")
    assert "can't use that file as a photo" in await boss.say(f"/photo {notes} Big news")
    assert "too large: photos of up to 10 MB" in await boss.say(f"/photo {huge} Big news")
    assert "couldn't get that photo" in await boss.say(f"/photo {tmp_path / 'gone.png'}")
    assert "Usage: /photo PATH" in await boss.say("/photo")
    async with demo.uow() as uow:
        assert await uow.deliveries.campaigns() == []  # no draft
    assert set(demo.settings.media_dir.iterdir()) == media_before  # nothing stored

    # still composing: the next (good) message is the broadcast
    good = tmp_path / "good.png"
    good.write_bytes(png(3))
    preview = await boss.say(f"/photo {good}")
    assert "Preview" in preview and "[photo] " in preview and "Everyone" in preview


async def test_a_photo_after_the_preview_does_not_replace_it(demo: bot.App, tmp_path: Path) -> None:
    boss = await _admin(demo)
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(png(4))
    second.write_bytes(png(5))
    await boss.say("/broadcast")
    await boss.say(f"/photo {first} First")
    assert "already composed" in await boss.say(f"/photo {second} Second")
    assert "Reaches 1 person" in await boss.say("all")  # a typed audience still works at this step
    async with demo.uow() as uow:
        (draft,) = await uow.deliveries.campaigns(status=CampaignStatus.DRAFT)
    (reply,) = draft.replies
    assert isinstance(reply, MediaReply) and reply.caption == "First"


async def test_outside_a_broadcast_a_photo_only_gets_a_hint(testbot: TestBot, tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(png(6))
    assert "can't do anything with a photo here" in await testbot.say(f"/photo {picture} python")
    assert "Only creators and admins" in await testbot.say("/broadcast")
    assert "can't do anything with a photo here" in await testbot.say(f"/photo {picture}")
