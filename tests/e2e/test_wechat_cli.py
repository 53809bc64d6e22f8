"""``python bot.py wechat menu sync`` and ``wechat qrcode``, against the fake WeChat API."""

from __future__ import annotations

import pytest
from wechat_support import WxHarness, wechat_app

import bot
from core.clock import FrozenClock
from core.config import Settings
from core.ports import KeyValueStore


@pytest.fixture
async def wx(demo: bot.App, settings: Settings, clock: FrozenClock, kv: KeyValueStore):
    async with wechat_app(settings, clock, kv, pay=False) as h:
        yield h


async def test_menu_sync_uploads_a_valid_menu_whose_clicks_reach_the_handlers(wx: WxHarness) -> None:
    await bot.wechat_command(wx.app, bot.parser().parse_args(["wechat", "menu", "sync"]))
    assert wx.mp.menu is not None and len(wx.mp.menu["button"]) == 3
    key = wx.mp.menu["button"][0]["key"]
    await wx.channel.api.start()
    ann = wx.user()
    listing = await ann.event("CLICK", key)
    assert "回复 1" in listing  # the catalog, as if the button had been pressed


async def test_qrcode_for_a_course_prints_a_url_and_the_scene_opens_the_course(
    wx: WxHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    await bot.wechat_command(wx.app, bot.parser().parse_args(["wechat", "qrcode", "--course", "python-basics-zh"]))
    out = capsys.readouterr().out.strip()
    assert out.startswith("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=")
    assert "c_python-basics-zh" in str(wx.mp.calls_to("/cgi-bin/qrcode/create")[-1].body, "utf-8")


async def test_qrcode_for_an_unknown_course_or_referral_is_a_clear_error(wx: WxHarness) -> None:
    with pytest.raises(bot.CliError, match="no course"):
        await bot.wechat_command(wx.app, bot.parser().parse_args(["wechat", "qrcode", "--course", "nope"]))
    with pytest.raises(bot.CliError, match="referral code"):
        await bot.wechat_command(wx.app, bot.parser().parse_args(["wechat", "qrcode", "--referral", "XXXX"]))
    assert not wx.mp.calls_to("/cgi-bin/qrcode/create")
