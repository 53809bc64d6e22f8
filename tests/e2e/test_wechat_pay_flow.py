"""WeChat Pay end to end: /buy → unifiedorder → signed notify → the first lesson by customer-service message.

Also the notify's defences (duplicate, tampered, wrong amount, unknown order), the H5 checkout page,
reconciliation of a lost notify, and refunds with the refund notify.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from wechat_support import WxHarness, WxUser, wechat_app

import bot
from bots.wechat.config import PROVIDER
from core.clock import FrozenClock
from core.config import Settings
from core.orders import OrderStatus
from core.ports import KeyValueStore
from core.users import Ref

SLUG = "python-basics-zh"


@pytest.fixture
async def wx(demo: bot.App, settings: Settings, clock: FrozenClock, kv: KeyValueStore):
    async with wechat_app(settings, clock, kv) as h:
        yield h


async def _buy(wx: WxHarness, user: WxUser) -> str:
    """/buy: returns the order code; the user got a pay link and a QR code."""
    await user.say(f"/buy {SLUG}")
    sent = user.sent()
    link = next(m for m in sent if m["msgtype"] == "text" and "/pay/wechat/" in m["text"]["content"])
    assert any(m["msgtype"] == "image" for m in sent), "a Native-pay QR code image"
    code = re.search(r"/pay/wechat/([0-9a-z]+)\?s=", link["text"]["content"])
    assert code is not None
    assert f"{code.group(1)}-N" in wx.pay.orders
    return code.group(1)


async def _order_status(wx: WxHarness, code: str) -> OrderStatus:
    async with wx.app.uow() as uow:
        order = await uow.orders.get_by_code(code)
    assert order is not None
    return order.status


async def test_buy_pay_notify_delivers_the_first_lesson(wx: WxHarness) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    before = len(ann.texts())
    answer = await wx.pay.deliver_notify(wx.pay.pay(f"{code}-N", ann.openid))
    assert "SUCCESS" in answer
    await wx.settle()
    assert await _order_status(wx, code) is OrderStatus.PAID
    after = "\n".join(ann.texts()[before:])
    assert "第 1 课" in after or "1/" in after, after  # the first lesson arrived
    assert "99" in after  # the confirmation names the price


async def test_a_duplicate_notify_is_a_no_op_that_still_answers_success(wx: WxHarness) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    body = wx.pay.pay(f"{code}-N", ann.openid)
    assert "SUCCESS" in await wx.pay.deliver_notify(body)
    await wx.settle()
    count = len(ann.sent())
    assert "SUCCESS" in await wx.pay.deliver_notify(body)
    await wx.settle()
    assert len(ann.sent()) == count
    async with wx.app.uow() as uow:
        order = await uow.orders.get_by_code(code)
        assert order is not None
        assert len(await uow.orders.payments_for(order.id)) == 1


async def test_a_tampered_notify_answers_fail_and_changes_nothing(wx: WxHarness) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    wx.pay.pay(f"{code}-N", ann.openid)
    tampered = wx.pay.notify_xml(f"{code}-N", total_fee=1, resign=False)
    answer = await wx.pay.deliver_notify(tampered)
    assert "FAIL" in answer
    assert await _order_status(wx, code) is OrderStatus.PENDING


async def test_an_amount_mismatch_answers_fail_and_changes_nothing(wx: WxHarness) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    wx.pay.pay(f"{code}-N", ann.openid)
    wrong = wx.pay.notify_xml(f"{code}-N", total_fee=1)  # correctly signed, but not the order's amount
    answer = await wx.pay.deliver_notify(wrong)
    assert "FAIL" in answer
    assert await _order_status(wx, code) is OrderStatus.PENDING


async def test_a_notify_for_an_unknown_order_answers_fail(wx: WxHarness) -> None:
    answer = await wx.pay.deliver_notify(wx.pay.notify_xml("zzzzzzzzzzzz-N"), url=f"{wx.url}/wechat/pay/notify")
    assert "FAIL" in answer


async def test_xxe_notify_is_refused(wx: WxHarness) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>'
    async with wx.http.post(f"{wx.url}/wechat/pay/notify", data=body) as resp:
        assert "FAIL" in await resp.text()


async def test_a_lost_notify_is_settled_by_reconciliation(wx: WxHarness) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    wx.pay.pay(f"{code}-N", ann.openid)  # paid at WeChat, but the notify never arrives
    assert await wx.channel.reconcile() == 1
    await wx.settle()
    assert await _order_status(wx, code) is OrderStatus.PAID


async def test_reconciliation_closes_expired_orders_at_wechat(wx: WxHarness, clock: FrozenClock) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    clock.set(clock.now() + timedelta(hours=2))
    await wx.channel.reconcile()
    assert wx.pay.orders[f"{code}-N"].state == "CLOSED"


async def test_checkout_page_runs_oauth_and_signs_jsapi_params(wx: WxHarness) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    link = next(t for t in ann.texts() if "/pay/wechat/" in t)
    url = re.search(r'href="([^"]+)"', link)
    assert url is not None
    page_url = url.group(1).replace("&amp;", "&")
    async with wx.http.get(page_url, allow_redirects=False) as resp:
        assert resp.status == 302
        assert "snsapi_base" in resp.headers["Location"]
    oauth = wx.mp.oauth_code(ann.openid)
    async with wx.http.get(f"{page_url}&code={oauth}") as resp:
        page = await resp.text()
        assert resp.status == 200
    assert "getBrandWCPayRequest" in page and "paySign" in page
    assert f"{code}-J" in wx.pay.orders
    # Someone else's WeChat account can't pay (or see) this order's checkout.
    other = wx.mp.oauth_code("oOther_000000001")
    async with wx.http.get(f"{page_url}&code={other}") as resp:
        assert resp.status == 403
    # A forged link signature is refused.
    async with wx.http.get(f"{wx.url}/pay/wechat/{code}?s=forged") as resp:
        assert resp.status == 404


async def test_admin_refund_reuses_out_refund_no_and_the_refund_notify_is_applied(wx: WxHarness) -> None:
    ann = wx.user()
    code = await _buy(wx, ann)
    await wx.pay.deliver_notify(wx.pay.pay(f"{code}-N", ann.openid))
    await wx.settle()
    admin = wx.user("oAdmin_000000001")
    await admin.say("/start")
    await bot.grant(wx.app, f"wechat:{admin.openid}", "admin")
    await admin.say(f"/refund {code}")
    assert f"R{code}-N" in wx.pay.refunds
    assert await _order_status(wx, code) is OrderStatus.REFUNDED
    answer = await wx.pay.deliver_notify(wx.pay.refund_notify_xml(f"R{code}-N"))
    assert "SUCCESS" in answer
    async with wx.app.uow() as uow:
        record = await uow.orders.get_payment(PROVIDER, f"{code}-N/{wx.pay.orders[f'{code}-N'].transaction_id}")
    assert record is not None


async def test_ios_users_see_no_prices_when_virtual_goods_are_blocked(
    demo: bot.App, settings: Settings, clock: FrozenClock, kv: KeyValueStore
) -> None:
    async with wechat_app(settings, clock, kv, wechat_ios_virtual_goods="block") as wx:
        ann = wx.user()
        await ann.say("/start")
        await wx.channel.record_platform(ann.openid, __import__("core.contacts").contacts.Platform.IOS)
        card = await ann.say(f"/course {SLUG}")
        assert "99" not in card and ("iPhone" in card or "iOS" in card)
        refused = await ann.say(f"/buy {SLUG}")
        assert "iPhone" in refused
        assert not wx.pay.orders
        async with wx.app.uow() as uow:
            user = await uow.users.get_by_ref(Ref("wechat", ann.openid))
            assert user is not None
            assert not await uow.orders.for_user(user.id)
