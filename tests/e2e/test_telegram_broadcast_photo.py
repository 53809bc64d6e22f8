"""Photo and forwarded broadcasts on Telegram: the real PTB channel and bulk lane against the fake Bot API.

A creator sends the bot a photo (caption formatted with Telegram's own entities, button lines at the end) or
forwards a formatted post: that is the broadcast, previewed exactly as it will arrive. The photo is downloaded
once, stored, and from then on sent by the file_id Telegram gave it: neither the preview nor the bulk send to
every recipient uploads it. Bad input (not an image, a forwarded sticker) gets a clear answer and changes nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

from support import jpeg
from telegram_support import TgHarness, TgUser, telegram_app

import bot
from core import broadcasts
from core.catalog import MediaKind
from core.clock import FrozenClock
from core.delivery import Campaign, CampaignStatus
from core.ports import KeyValueStore
from core.replies import Button, MediaReply

BOSS, ANN, BOB = 5001, 5002, 5003
BOLD = {"type": "bold", "offset": 0, "length": 11}


async def _inject(h: TgHarness, user: TgUser, update: dict[str, Any]) -> list[dict[str, Any]]:
    before = len(user.messages())
    await h.settle(update)
    return user.messages()[before:]


def _keyboard(message: dict[str, Any]) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


def _with_button(messages: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(m for m in messages if any(label in text for text in _keyboard(m)))


async def _confirmed(app: bot.App) -> Campaign:
    async with app.uow() as uow:
        (campaign,) = [
            c
            for c in await uow.deliveries.campaigns()
            if c.status not in (CampaignStatus.DRAFT, CampaignStatus.CANCELLED)
        ]
    if campaign.status is CampaignStatus.STARTING:  # confirmed; the worker writes its rows
        async with app.uow() as uow:
            await broadcasts.start_queued(uow, campaign.id, app.clock.now())
    return campaign


async def _send_everything(h: TgHarness) -> None:
    """What the workers do: the delivery engine, through Telegram's bulk lane, until nothing is pending."""
    engine, lanes = bot.delivery_engine(h.app)
    for lane in lanes:
        await lane.start()
    try:
        for _ in range(10):
            if await engine.run_once() == 0:
                break
    finally:
        for lane in lanes:
            await lane.stop()


async def _people(h: TgHarness) -> tuple[TgUser, TgUser, TgUser]:
    boss, ann, bob = h.user(BOSS, name="Boss"), h.user(ANN, name="Ann"), h.user(BOB, name="Bob")
    for person in (boss, ann, bob):
        await person.say("/start")
    await bot.grant(h.app, f"telegram:{BOSS}", "admin")
    return boss, ann, bob


async def test_a_photo_becomes_a_broadcast_sent_by_its_file_id_with_tracked_buttons(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        boss, ann, bob = await _people(h)
        assert "a photo with a caption" in (await boss.say("/broadcast"))[-1]["text"]

        caption = "Spring sale: 20% off!\n[Open the course](course:python-basics)"
        update = await h.fake.send_photo(BOSS, jpeg(1), caption=caption, caption_entities=[BOLD])
        inbound_id = update["message"]["photo"][-1]["file_id"]
        preview = await _inject(h, boss, update)

        # The preview: exactly what recipients get (the photo, the formatted caption, the button under it)
        assert "Preview" in preview[0]["text"]
        photo = next(m for m in preview if "photo" in m)
        assert photo["_params"]["photo"] == inbound_id  # re-sent by its file_id: no upload
        assert photo["caption"] == "Spring sale: 20% off!"
        assert {"type": "bold", "offset": 0, "length": 11} in photo["caption_entities"]
        assert _keyboard(photo) == ["Open the course"]
        stored = demo.settings.media_dir.resolve() / f"{hashlib.sha256(jpeg(1)).hexdigest()}.jpg"
        assert stored.read_bytes() == jpeg(1)

        menu = _with_button(preview, "Everyone")
        menu = _with_button(await boss.press(menu, "Telegram"), "Everyone")  # Telegram only
        counted = await boss.press(menu, "Everyone")
        assert "Reaches 3 people" in counted[-1]["text"]
        await boss.press(counted[-1], "Send to 3 people")
        campaign = await _confirmed(h.app)

        await _send_everything(h)
        for person in (ann, bob):
            got = [m for m in person.messages() if "photo" in m][-1]
            assert got["_params"]["photo"] == inbound_id and got["_method"] == "sendPhoto"
            assert got["caption"] == "Spring sale: 20% off!" and got["caption_entities"][0]["type"] == "bold"
            assert _keyboard(got) == ["Open the course"]
        assert h.fake.uploads == 0  # neither the preview nor the bulk send uploaded the photo

        # ann presses the button under the photo: the course opens, and the click is counted
        got = [m for m in ann.messages() if "photo" in m][-1]
        opened = await ann.press(got, "Open the course")
        assert "Python for Beginners" in "\n".join(m.get("text", "") for m in opened)
        async with h.app.uow() as uow:
            assert await uow.deliveries.clicks(campaign.id) == 1
        assert not h.fake.internal_errors


async def test_a_forwarded_formatted_post_is_broadcast_as_it_read(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        boss, ann, _ = await _people(h)
        await boss.say("/broadcast")
        text = "Big news today: 2*3*4 = 24 and snake_case stays\n[Not a button](course:python-basics)\nRead more"
        link = {"type": "text_link", "offset": text.index("snake_case"), "length": 10, "url": "https://example.com/x"}
        more = {"type": "text_link", "offset": text.index("Read more"), "length": 9, "url": "https://example.com/more"}
        bold = {"type": "bold", "offset": 0, "length": 8}
        update = await h.fake.send_text(
            BOSS, text, entities=[bold, link, more], forward_origin=h.fake.channel_origin("Python Weekly")
        )
        preview = await _inject(h, boss, update)
        shown = preview[1]
        assert shown["text"] == text  # every character as it was: no Markdown read into it
        assert bold in shown["entities"] and link in shown["entities"] and more in shown["entities"]
        assert "reply_markup" not in shown  # someone else's lines are text (and links), never our buttons

        menu = _with_button(await boss.press(_with_button(preview, "Everyone"), "Telegram"), "Everyone")
        counted = await boss.press(menu, "Everyone")
        await boss.press(counted[-1], "Send to")
        await _confirmed(h.app)
        await _send_everything(h)
        assert ann.texts()[-1] == text


async def test_bad_input_is_refused_clearly_and_changes_nothing(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        boss, ann, _ = await _people(h)
        await boss.say("/broadcast")
        sticker = await _inject(h, boss, await h.fake.send_sticker(BOSS, forward_origin=h.fake.channel_origin()))
        assert "no text and no photo" in sticker[-1]["text"]
        not_image = await _inject(h, boss, await h.fake.send_photo(BOSS, b"<html>not a picture</html>" * 4))
        assert "can't use that file as a photo" in not_image[-1]["text"]
        async with h.app.uow() as uow:
            assert await uow.deliveries.campaigns() == []
        # still composing: the next message is the broadcast
        assert "Preview" in (await boss.say("Hello everyone"))[0]["text"]

        # a learner's photo is not a broadcast, and not a search either
        hint = await _inject(h, ann, await h.fake.send_photo(ANN, jpeg(2), caption="python"))
        assert "can't do anything with a photo here" in hint[-1]["text"]


async def test_a_caption_too_long_for_telegram_follows_the_photo_with_the_buttons(
    demo: bot.App, clock: FrozenClock, kv: KeyValueStore, tmp_path: Any
) -> None:
    async with telegram_app(demo.settings, clock, kv) as h:
        ann = h.user(ANN)
        await ann.say("/start")
        path = tmp_path / "p.jpg"
        path.write_bytes(jpeg(3))
        caption = "**Long** " + "word " * 300  # over Telegram's 1024-character caption limit
        reply = MediaReply(
            MediaKind.PHOTO,
            str(path),
            hashlib.sha256(jpeg(3)).hexdigest(),
            caption=caption,
            buttons=((Button("Catalog", "cat:0"),),),
            markdown=True,
        )
        before = len(ann.messages())
        await h.channel.renderer.send(ANN, [reply])
        photo, text = ann.messages()[before:]
        assert "caption" not in photo and "reply_markup" not in photo  # the photo alone...
        assert text["text"].startswith("Long word") and text["entities"][0]["type"] == "bold"  # ...then the whole text
        assert _keyboard(text) == ["Catalog"]
