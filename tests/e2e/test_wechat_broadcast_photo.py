"""Photo broadcasts and WeChat: the real channel against the fake WeChat API over HTTP.

An image a creator sends the Official Account is fetched by its MediaId (``/cgi-bin/media/get``), stored, and
becomes the broadcast; a bad or vanished image gets a clear answer and changes nothing. A photo broadcast with
buttons (composed anywhere) reaches WeChat followers as the image, then its caption with the buttons as numbered
options, and replying with the number counts the click and runs the button.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support import TestBot, png
from wechat_support import WxHarness, WxUser, wechat_app

import bot
from core import broadcasts
from core.clock import FrozenClock
from core.config import Settings
from core.delivery import CampaignStatus
from core.ports import KeyValueStore

BOSS, ANN = "oBoss_0000000001", "oAnn_00000000001"


@pytest.fixture
async def wx(demo: bot.App, settings: Settings, clock: FrozenClock, kv: KeyValueStore) -> AsyncIterator[WxHarness]:
    async with wechat_app(settings, clock, kv) as h:
        yield h


def _option(text: str, label: str) -> str:
    """The number that presses the option ``label`` in a WeChat text ("Reply 3: Everyone")."""
    m = re.search(rf"Reply (\d+): [^\n]*{re.escape(label)}", text)
    assert m is not None, f"no option {label!r} in:\n{text}"
    return m.group(1)


async def _follower(wx: WxHarness, openid: str) -> WxUser:
    person = wx.user(openid)
    await person.say("/start")
    await person.say("/settings lang en")
    return person


async def _send_everything(wx: WxHarness) -> None:
    async with wx.app.uow() as uow:
        for c in await uow.deliveries.campaigns(status=CampaignStatus.STARTING):
            await broadcasts.start_queued(uow, c.id, wx.clock.now())  # the worker's half of confirming
    engine, _ = bot.delivery_engine(wx.app)
    for _ in range(10):
        if await engine.run_once() == 0:
            break
    await wx.settle()


async def test_an_image_sent_to_the_account_becomes_the_broadcast(wx: WxHarness) -> None:
    boss, ann = await _follower(wx, BOSS), await _follower(wx, ANN)
    await bot.grant(wx.app, f"wechat:{BOSS}", "admin")
    await boss.say("/broadcast")

    passive = await boss.send_image(png(1))
    assert "Preview" in passive
    assert wx.mp.media_downloads == 1  # fetched once, by its MediaId, with the access token
    (shown,) = [m for m in boss.sent() if m["msgtype"] == "image"]
    assert wx.mp.materials[shown["image"]["media_id"]][1] == hashlib.sha256(png(1)).hexdigest()  # that very image
    menu = boss.texts()[-1]
    counted = await boss.say(_option(menu, "Everyone"))
    assert "Reaches 2 people" in counted  # the admin and ann
    await boss.say(_option(counted, "Send to 2 people"))
    await _send_everything(wx)

    (received,) = [m for m in ann.sent() if m["msgtype"] == "image"]
    assert received["image"]["media_id"] == shown["image"]["media_id"]  # uploaded once, re-sent by its media_id
    assert wx.mp.material_uploads == 1


async def test_a_bad_or_vanished_image_is_refused_clearly_and_changes_nothing(wx: WxHarness) -> None:
    boss = await _follower(wx, BOSS)
    await bot.grant(wx.app, f"wechat:{BOSS}", "admin")
    await boss.say("/broadcast")
    assert "can't use that file as a photo" in await boss.send_image(b"<html>not an image</html>" * 8)
    wx.mp.user_wrote(BOSS)
    status, answer = await wx.post(boss.image_xml("IMG-expired-0000"))
    await wx.settle()
    assert status == 200 and "couldn't get that photo" in answer
    async with wx.app.uow() as uow:
        assert await uow.deliveries.campaigns() == []
    assert "Preview" in await boss.say("Still composing: this text is the broadcast")

    ann = await _follower(wx, ANN)
    assert "can't do anything with a photo here" in await ann.send_image(png(2))


async def test_a_photo_broadcast_reaches_wechat_as_image_caption_and_numbered_buttons(
    wx: WxHarness, tmp_path: Path
) -> None:
    ann = await _follower(wx, ANN)
    await bot.grant(wx.app, "console:boss", "admin")
    boss = TestBot(wx.app, user="boss")
    await boss.say("/settings lang en")
    picture = tmp_path / "sale.png"
    picture.write_bytes(png(3))
    await boss.say("/broadcast")
    preview = await boss.say(f"/photo {picture} **Spring sale** this week\n[Open the course](course:python-basics)")
    channel = await boss.press("WeChat", preview)
    counted = await boss.press("Everyone", channel)
    assert "Reaches 1 person" in counted
    await boss.press("Send to 1 person", counted)
    await _send_everything(wx)

    kinds = [m["msgtype"] for m in ann.sent()]
    assert kinds[-2:] == ["image", "text"]  # the photo, then its caption with the buttons
    caption = ann.texts()[-1]
    assert caption.startswith("Spring sale this week") and "**" not in caption  # Markdown rendered for WeChat
    opened = await ann.say(_option(caption, "Open the course"))
    assert "Python for Beginners" in opened + "\n".join(ann.texts())
    async with wx.app.uow() as uow:
        (campaign,) = await uow.deliveries.campaigns(status=CampaignStatus.DONE)
        assert await uow.deliveries.clicks(campaign.id) == 1
