"""WeChat end to end: signed messages in (plain and safe mode), passive replies and customer-service messages out.

The real channel, wechatpy and aiohttp run against the in-repo fake WeChat API over HTTP.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from wechat_support import APP_ID, TOKEN, WxHarness, sign, wechat_app

import bot
from core.clock import FrozenClock
from core.config import Settings
from core.ports import KeyValueStore
from core.users import Ref


@pytest.fixture(params=["plain", "safe"])
async def wx(request: pytest.FixtureRequest, demo: bot.App, settings: Settings, clock: FrozenClock, kv: KeyValueStore):
    async with wechat_app(settings, clock, kv, safe=request.param == "safe") as h:
        yield h


async def test_url_verification_echoes_only_with_a_good_signature(wx: WxHarness) -> None:
    q = {**wx.query(), "echostr": "hello-echo"}
    async with wx.http.get(f"{wx.url}/wechat", params=q) as resp:
        assert resp.status == 200 and await resp.text() == "hello-echo"
    q["signature"] = "0" * 40
    async with wx.http.get(f"{wx.url}/wechat", params=q) as resp:
        assert resp.status == 403


async def test_catalog_command_gets_a_passive_reply_with_numbered_options(wx: WxHarness) -> None:
    ann = wx.user()
    reply = await ann.say("/catalog")
    assert "回复 1" in reply or "Reply 1" in reply
    # A number presses the option: "1" opens the first course card.
    card = await ann.say("1")
    assert card and "回复" in card + "".join(ann.texts())


async def test_free_text_is_a_search(wx: WxHarness) -> None:
    ann = wx.user()
    reply = await ann.say("Python")
    assert "Python" in reply


async def test_a_retried_msgid_never_repeats_the_side_effect(wx: WxHarness) -> None:
    ann = wx.user()
    first = await ann.say("/catalog", msg_id=777)
    sent_before = len(ann.sent())
    again = await ann.say("/catalog", msg_id=777)
    assert again == first  # the same passive reply, from the first time
    assert len(ann.sent()) == sent_before


async def test_stale_timestamp_and_bad_signature_get_403(wx: WxHarness) -> None:
    ann = wx.user()
    stale = int((wx.clock.now() - timedelta(minutes=6)).timestamp())
    status, _ = await wx.post(ann.text_xml("/catalog"), timestamp=stale)
    assert status == 403
    q = wx.query()
    q["signature"] = sign(TOKEN, "1", "2")
    status, _ = await wx.post(ann.text_xml("/catalog"), query=q)
    assert status == 403
    async with wx.app.uow() as uow:
        assert await uow.users.get_by_ref(Ref("wechat", ann.openid)) is None  # nothing happened


async def test_subscribe_welcomes_with_the_menu_and_unsubscribe_is_recorded(wx: WxHarness) -> None:
    ann = wx.user()
    welcome = await ann.event("subscribe")
    assert "回复 1" in welcome or "Reply 1" in welcome
    async with wx.app.uow() as uow:
        contact = await uow.contacts.get(Ref("wechat", ann.openid))
    assert contact is not None and contact.following
    await ann.event("unsubscribe")
    async with wx.app.uow() as uow:
        contact = await uow.contacts.get(Ref("wechat", ann.openid))
    assert contact is not None and not contact.following


async def test_qr_scene_opens_the_course_card(wx: WxHarness) -> None:
    ann = wx.user()
    card = await ann.event("subscribe", "qrscene_c_python-basics")
    async with wx.app.uow() as uow:
        course = await uow.catalog.get_course("python-basics")
    assert course is not None and course.title in card


def test_app_id_is_the_fakes(wx: WxHarness) -> None:
    assert wx.channel.config.app_id == APP_ID


async def test_switching_language_numbers_the_options_in_the_new_language(wx: WxHarness) -> None:
    ann = wx.user()
    assert "回复 1" in await ann.say("/start")
    answer = await ann.event("CLICK", "lang:en")  # the menu's language button
    assert "Reply 1" in answer + "\n".join(ann.texts())
    assert "Reply 1" in await ann.say("/catalog")
