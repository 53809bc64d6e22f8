"""Channel contacts (storage.contacts_repo) on the real database: follow, unfollow and follow again,
the QR-code scene, the platform learnt from our H5 pages' user agent, and the follower count.
Also the platform rule itself (core.contacts.platform_from_user_agent) on real WeChat user agents."""

from __future__ import annotations

from datetime import timedelta

import pytest

import bot
from core.contacts import Contact, Platform, platform_from_user_agent
from core.users import Ref

ALICE = Ref("wechat", "oAbCdEfGhIjKlMnOpQrStUvWxYz01")
BOB = Ref("wechat", "oZyXwVuTsRqPoNmLkJiHgFeDcBa99")


async def test_an_unknown_contact_is_none(app: bot.App) -> None:
    async with app.uow() as uow:
        assert await uow.contacts.get(ALICE) is None


async def test_follow_unfollow_follow_keeps_the_scene_when_none_is_given(app: bot.App) -> None:
    t0 = app.clock.now()
    t1, t2 = t0 + timedelta(days=1), t0 + timedelta(days=2)
    async with app.uow() as uow:
        first = await uow.contacts.followed(ALICE, t0, scene="poster-2026")
        await uow.commit()
    assert first == Contact(ALICE, True, t0, None, "poster-2026", None)
    async with app.uow() as uow:
        gone = await uow.contacts.unfollowed(ALICE, t1)
        await uow.commit()
    assert gone == Contact(ALICE, False, t0, t1, "poster-2026", None)
    async with app.uow() as uow:
        back = await uow.contacts.followed(ALICE, t2)  # a plain follow: no QR code
        await uow.commit()
    assert back == Contact(ALICE, True, t2, t1, "poster-2026", None)
    async with app.uow() as uow:
        stored = await uow.contacts.get(ALICE)
    assert stored == back
    assert stored is not None and stored.followed_at is not None and stored.followed_at.utcoffset() == timedelta(0)


async def test_a_new_scene_replaces_the_old_one(app: bot.App) -> None:
    async with app.uow() as uow:
        await uow.contacts.followed(ALICE, app.clock.now(), scene="qrscene_a")
        again = await uow.contacts.followed(ALICE, app.clock.now(), scene="course:python-101")
        await uow.commit()
    assert again.scene == "course:python-101"


async def test_an_unfollow_first_creates_the_contact(app: bot.App) -> None:
    async with app.uow() as uow:
        contact = await uow.contacts.unfollowed(BOB, app.clock.now())
        await uow.commit()
    assert contact == Contact(BOB, False, None, app.clock.now(), None, None)


async def test_set_platform_creates_an_unknown_contact_and_updates_a_known_one(app: bot.App) -> None:
    async with app.uow() as uow:
        await uow.contacts.set_platform(ALICE, Platform.IOS)
        await uow.commit()
    async with app.uow() as uow:
        assert await uow.contacts.get(ALICE) == Contact(ALICE, False, None, None, None, Platform.IOS)
        followed = await uow.contacts.followed(ALICE, app.clock.now(), scene="s1")
        assert followed.platform is Platform.IOS  # a follow keeps the platform
        await uow.contacts.set_platform(ALICE, Platform.ANDROID)  # a page seen from another phone
        await uow.commit()
    async with app.uow() as uow:
        assert await uow.contacts.get(ALICE) == Contact(ALICE, True, app.clock.now(), None, "s1", Platform.ANDROID)


async def test_count_following(app: bot.App) -> None:
    now = app.clock.now()
    async with app.uow() as uow:
        assert await uow.contacts.count_following("wechat") == 0
        await uow.contacts.followed(ALICE, now)
        await uow.contacts.followed(BOB, now)
        await uow.contacts.followed(Ref("telegram", "123"), now)
        await uow.contacts.set_platform(Ref("wechat", "oVisitorOnly"), Platform.OTHER)  # never followed
        await uow.commit()
    async with app.uow() as uow:
        assert await uow.contacts.count_following("wechat") == 2
        assert await uow.contacts.count_following("telegram") == 1
        await uow.contacts.unfollowed(BOB, now + timedelta(hours=1))
        assert await uow.contacts.count_following("wechat") == 1
        assert await uow.contacts.count_following("console") == 0


async def test_nothing_is_recorded_without_a_commit(app: bot.App) -> None:
    async with app.uow() as uow:
        await uow.contacts.followed(ALICE, app.clock.now(), scene="x")
    async with app.uow() as uow:
        assert await uow.contacts.get(ALICE) is None


# --- the platform, from the user agent of our H5 pages --------------------------------------

USER_AGENTS = {
    "wechat-iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 MicroMessenger/8.0.44(0x18002c2d) NetType/WIFI Language/zh_CN",
        Platform.IOS,
    ),
    "wechat-ipad": (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 MicroMessenger/8.0.40(0x1800282a) NetType/WIFI Language/zh_CN",
        Platform.IOS,
    ),
    "wechat-ipod": (
        "Mozilla/5.0 (iPod touch; CPU iPhone OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15E148 MicroMessenger/8.0.20(0x1800142d) NetType/WIFI Language/en",
        Platform.IOS,
    ),
    "wechat-android": (
        "Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/111.0.5563.116 Mobile Safari/537.36 XWEB/1110017 MMWEBSDK/20230805 "
        "MMWEBID/2215 MicroMessenger/8.0.42.2460(0x28002A37) WeChat/arm64 Weixin NetType/5G Language/zh_CN ABI/arm64",
        Platform.ANDROID,
    ),
    "wechat-android-huawei": (
        "Mozilla/5.0 (Linux; Android 10; HarmonyOS; ELS-AN00; HMSCore 6.12.0.302) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.2.311 Mobile Safari/537.36 "
        "MicroMessenger/8.0.43.2480(0x28002B37) NetType/WIFI Language/zh_CN",
        Platform.ANDROID,
    ),
    "wechat-windows": (
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 "
        "Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) "
        "XWEB/8555 Flue",
        Platform.OTHER,
    ),
    "wechat-mac": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "MicroMessenger/6.8.0(0x16080000) MacWechat/3.8.7(0x13080712) Safari/605.1.15 NetType/WIFI",
        Platform.OTHER,
    ),
    "safari-ios-token": ("MyApp/2.1 (iOS 17.2; Scale/3.00)", Platform.IOS),
    "desktop-chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        Platform.OTHER,
    ),
    "empty": ("", Platform.OTHER),
}


@pytest.mark.parametrize(("ua", "platform"), USER_AGENTS.values(), ids=USER_AGENTS.keys())
def test_platform_from_user_agent(ua: str, platform: Platform) -> None:
    assert platform_from_user_agent(ua) is platform


def test_words_that_merely_contain_ios_are_not_ios() -> None:
    assert platform_from_user_agent("Mozilla/5.0 (compatible; BIOS-check/1.0; Radiosonde)") is Platform.OTHER
