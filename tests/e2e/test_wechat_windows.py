"""WeChat's 48-hour window and per-message quota: deferred, never lost; important notices by template.

Also hostile bodies (XXE, billion laughs) at ``/wechat``, which are refused before anything is parsed.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from wechat_support import WxHarness, wechat_app

import bot
from core.clock import FrozenClock
from core.config import Settings
from core.ports import KeyValueStore
from core.replies import TextReply
from core.users import Ref

SLUG = "python-basics-zh"


@pytest.fixture
async def wx(demo: bot.App, settings: Settings, clock: FrozenClock, kv: KeyValueStore):
    async with wechat_app(settings, clock, kv, wechat_template_payment="TPL_PAYMENT") as h:
        yield h


async def _pending(wx: WxHarness, openid: str) -> int:
    async with wx.app.uow() as uow:
        return await uow.outbox.count_pending(Ref("wechat", openid))


async def test_a_notice_outside_the_window_waits_until_the_user_writes(wx: WxHarness, clock: FrozenClock) -> None:
    ann = wx.user()
    await ann.say("/start")
    clock.set(clock.now() + timedelta(hours=49))
    async with wx.app.uow() as uow:
        user = await uow.users.get_by_ref(Ref("wechat", ann.openid))
    assert user is not None
    sent = len(ann.sent())
    assert await wx.app.notifier.notify(user.id, [TextReply("Your membership ends tomorrow.")])
    assert len(ann.sent()) == sent  # nothing went out: the window is closed
    assert await _pending(wx, ann.openid) == 1
    await ann.say("/help")
    assert "Your membership ends tomorrow." in ann.texts()[-1]
    assert await _pending(wx, ann.openid) == 0


async def test_payment_outside_the_window_sends_a_template_then_the_lesson_when_the_user_writes(
    wx: WxHarness,
) -> None:
    ann = wx.user()
    await ann.say(f"/buy {SLUG}")
    link = next(t for t in ann.texts() if "/pay/wechat/" in t)
    m = re.search(r"/pay/wechat/([0-9a-z]+)\?", link)
    assert m is not None
    code = m.group(1)
    wx.mp.fail_next("/cgi-bin/message/custom/send", 45015, "response out of time limit", times=10)
    assert "SUCCESS" in await wx.pay.deliver_notify(wx.pay.pay(f"{code}-N", ann.openid))
    await wx.settle()
    templates = wx.mp.templates_to(ann.openid)
    assert len(templates) == 1 and templates[0]["template_id"] == "TPL_PAYMENT"
    assert await _pending(wx, ann.openid) == 1
    wx.mp._faults.clear()  # the window reopens when the user writes
    await ann.say("/help")
    after = "\n".join(ann.texts())
    assert "99" in after  # the payment confirmation, delivered late but delivered
    assert await _pending(wx, ann.openid) == 0


async def test_quota_exhaustion_defers_the_rest_in_order(wx: WxHarness) -> None:
    ann = wx.user()
    await ann.say("/start")
    async with wx.app.uow() as uow:
        user = await uow.users.get_by_ref(Ref("wechat", ann.openid))
    assert user is not None
    notes = [TextReply(f"notice {i}") for i in range(8)]
    await wx.app.notifier.notify(user.id, notes)
    texts = ann.texts()
    assert [t for t in texts if t.startswith("notice")] == [f"notice {i}" for i in range(5)]
    await ann.say("/help")
    texts = [t for t in ann.texts() if t.startswith("notice")]
    assert texts == [f"notice {i}" for i in range(8)]


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<xml><ToUserName>a</ToUserName><FromUserName>oUser_0000000001</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>1</MsgId></xml>",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<xml><FromUserName>oUser_0000000001</FromUserName><MsgType>text</MsgType><Content>&lol3;</Content></xml>",
    ],
    ids=["xxe", "billion-laughs"],
)
async def test_hostile_xml_is_refused(
    demo: bot.App, settings: Settings, clock: FrozenClock, kv: KeyValueStore, body: str
) -> None:
    async with wechat_app(settings, clock, kv) as wx:
        status, _ = await wx.post(body, query=wx.query())
        assert status == 400
        async with wx.app.uow() as uow:
            assert await uow.users.get_by_ref(Ref("wechat", "oUser_0000000001")) is None


async def test_a_broadcast_row_outside_the_window_is_deferred_then_released(wx: WxHarness, clock: FrozenClock) -> None:
    from core.delivery import CampaignKind, CampaignStatus, DeliveryStatus, NewDelivery
    from jobs.delivery import DeliveryEngine

    ann = wx.user()
    await ann.say("/start")
    clock.set(clock.now() + timedelta(hours=49))  # the 48-hour window has closed
    async with wx.app.uow() as uow:
        user = await uow.users.get_by_ref(Ref("wechat", ann.openid))
        assert user is not None
        campaign = await uow.deliveries.create_campaign(
            kind=CampaignKind.BROADCAST,
            creator_id=None,
            audience="all",
            channel="wechat",
            replies=[TextReply("New course out today!")],
            paid=False,
            now=clock.now(),
            status=CampaignStatus.RUNNING,
        )
        key = f"b:{campaign.id}:{user.id}"
        await uow.deliveries.add([NewDelivery(key, Ref("wechat", ann.openid), user.id, clock.now(), campaign.id)])
        await uow.commit()
    engine = DeliveryEngine(wx.app.uow, clock, {"wechat": wx.channel})
    assert await engine.run_once() == 1
    async with wx.app.uow() as uow:
        row = await uow.deliveries.by_key(key)
    assert row is not None and row.status is DeliveryStatus.DEFERRED
    assert "New course out today!" not in ann.texts()
    await ann.say("/help")  # the window reopens: the broadcast follows the reply
    assert "New course out today!" in ann.texts()
