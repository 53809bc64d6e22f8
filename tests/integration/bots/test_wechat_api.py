"""The WeChat Official Account client (``bots.wechat.api``) against the fake MP server over real HTTP.

Covers the shared access_token (one fetch per app across instances, through
the in-process store and through Redis when it runs), refreshing before
expiry and once on token errors, the customer-service window errors, media,
templates, menus, QR codes, web OAuth, retries of transient failures, and
that neither the token nor the app secret leaks into errors or logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from fakes.wechat_mp import FakeMP

from bots.wechat.api import AccessTokens, NotFollowing, WeChatAPI, WeChatAPIError, WindowClosed
from core.clock import FrozenClock
from core.ports import KeyValueStore
from storage.kv import MemoryKeyValueStore, make_kv_store

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
OTHER = "o6_bmjrPTlm6_2sgVt7hMZOPfL2N"
SEND = "/cgi-bin/message/custom/send"
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"

MakeAPI = Callable[..., WeChatAPI]


@pytest_asyncio.fixture
async def mp(clock: FrozenClock) -> AsyncIterator[FakeMP]:
    fake = FakeMP(clock=clock.now)
    await fake.start()
    try:
        yield fake
        assert not fake.internal_errors, fake.summary()
    finally:
        await fake.stop()


@pytest_asyncio.fixture
async def make_api(mp: FakeMP, clock: FrozenClock, kv: KeyValueStore) -> AsyncIterator[MakeAPI]:
    """WeChatAPI instances on the fake (by default all on the same store), closed afterwards."""
    apis: list[WeChatAPI] = []

    def make(*, store: KeyValueStore | None = None, **overrides: Any) -> WeChatAPI:
        options: dict[str, Any] = {
            "app_id": mp.app_id,
            "app_secret": mp.app_secret,
            "api_url": mp.base_url,
            "kv": store if store is not None else kv,
            "clock": clock,
        }
        options.update(overrides)
        api = WeChatAPI(**options)
        apis.append(api)
        return api

    yield make
    for api in apis:
        await api.close()


@pytest.fixture
def api(make_api: MakeAPI) -> WeChatAPI:
    return make_api()


@pytest_asyncio.fixture(params=["memory", "redis"])
async def shared_kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValueStore]:
    """One store for several "processes": in-process, and Redis when it answers (else skipped)."""
    namespace = f"test-wechat-{uuid.uuid4().hex[:12]}:"
    if request.param == "memory":
        yield MemoryKeyValueStore(namespace=namespace)
        return
    store = make_kv_store(REDIS_URL, namespace=namespace)
    if not await store.ping():
        await store.close()
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    try:
        yield store
    finally:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{namespace}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await store.close()


def tokens_used(mp: FakeMP, path_suffix: str) -> list[str]:
    return [call.query.get("access_token", "") for call in mp.calls_to(path_suffix)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- the shared token


async def test_token_fetched_once_and_reused(api: WeChatAPI, mp: FakeMP, kv: KeyValueStore, clock: FrozenClock) -> None:
    mp.user_wrote(OPENID)
    for i in range(5):
        await api.send_text(OPENID, f"message {i}")
    for _ in range(5):
        await api.send_template(OPENID, "TPL", {"k": "v"})
    assert mp.token_requests == 1
    used = tokens_used(mp, SEND) + tokens_used(mp, "/template/send")
    assert len(used) == 10 and set(used) == {"TOKEN-1"}
    state = await kv.get_state(f"wechat:token:{mp.app_id}")
    assert state == {"token": "TOKEN-1", "expires_at": pytest.approx(clock.now().timestamp() + 7200)}


class CountingKV(MemoryKeyValueStore):
    """The in-process store, counting lock attempts."""

    def __init__(self) -> None:
        super().__init__(namespace=f"count-{uuid.uuid4().hex[:8]}")
        self.lock_attempts = 0

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        self.lock_attempts += 1
        return await super().acquire_lock(key, ttl)


async def test_concurrent_first_calls_share_one_fetch(make_api: MakeAPI, mp: FakeMP) -> None:
    store = CountingKV()
    api = make_api(store=store)
    msgids = await asyncio.gather(*(api.send_template(OPENID, "TPL", {"n": str(i)}) for i in range(10)))
    assert len(set(msgids)) == 10
    assert mp.token_requests == 1
    assert store.lock_attempts == 1  # the other callers waited in process, not on the shared lock


async def test_instances_sharing_a_store_share_the_token(
    make_api: MakeAPI, mp: FakeMP, shared_kv: KeyValueStore
) -> None:
    first, second = make_api(store=shared_kv), make_api(store=shared_kv)
    await first.send_template(OPENID, "TPL", {"k": "v"})
    await second.send_template(OPENID, "TPL", {"k": "v"})
    await second.send_template(OPENID, "TPL", {"k": "v"})
    assert mp.token_requests == 1  # the second instance never called stable_token
    assert tokens_used(mp, "/template/send") == ["TOKEN-1"] * 3

    # a separate store is a separate "deployment": it fetches for itself (stable_token gives the same token)
    third = make_api(store=MemoryKeyValueStore(namespace="other"))
    await third.send_template(OPENID, "TPL", {"k": "v"})
    assert mp.token_requests == 2


async def test_cold_start_of_two_instances_fetches_once(
    make_api: MakeAPI, mp: FakeMP, shared_kv: KeyValueStore
) -> None:
    first, second = make_api(store=shared_kv), make_api(store=shared_kv)
    tokens = await asyncio.gather(first.tokens.get(), second.tokens.get(), first.tokens.get(), second.tokens.get())
    assert set(tokens) == {"TOKEN-1"}
    assert mp.token_requests == 1  # the one without the lock waited for the holder's token


async def test_a_dead_lock_holder_delays_but_does_not_block(api: WeChatAPI, mp: FakeMP, kv: KeyValueStore) -> None:
    assert await kv.acquire_lock(f"wechat:token-lock:{mp.app_id}", 30) is not None  # held by a crashed process
    api.tokens.peer_wait = 0.3
    started = time.monotonic()
    assert await api.tokens.get() == "TOKEN-1"
    assert time.monotonic() - started >= 0.3
    assert mp.token_requests == 1
    assert (await kv.get_state(f"wechat:token:{mp.app_id}") or {}).get("token") == "TOKEN-1"


async def test_token_is_refreshed_before_it_expires(api: WeChatAPI, mp: FakeMP, clock: FrozenClock) -> None:
    await api.send_template(OPENID, "TPL", {"k": "v"})
    clock.advance(timedelta(seconds=7200 - 301))  # 301 s left: still good
    await api.send_template(OPENID, "TPL", {"k": "v"})
    assert mp.token_requests == 1
    clock.advance(timedelta(seconds=2))  # 299 s left: refresh before WeChat refuses it
    await api.send_template(OPENID, "TPL", {"k": "v"})
    assert mp.token_requests == 2
    assert tokens_used(mp, "/template/send") == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
    assert [c.errcode for c in mp.calls_to("/template/send")] == [0, 0, 0]  # never refused


async def test_token_fetch_error_is_raised(make_api: MakeAPI, mp: FakeMP) -> None:
    wrong = make_api(app_secret="x" * 32)
    with pytest.raises(WeChatAPIError) as info:
        await wrong.send_template(OPENID, "TPL", {"k": "v"})
    assert info.value.errcode == 40125
    assert not mp.calls_to("/template/send")


# ---------------------------------------------------------------- token errors: refresh once


async def test_40001_refreshes_once_and_retries(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    await api.send_text(OPENID, "warm-up")
    mp.fail_next(SEND, 40001)  # WeChat refuses a token it still hands out: the client must force a new one
    await api.send_text(OPENID, "after refresh")
    assert [c.errcode for c in mp.calls_to(SEND)] == [0, 40001, 0]
    assert tokens_used(mp, SEND) == ["TOKEN-1", "TOKEN-1", "TOKEN-2"]
    assert mp.force_refreshes == 1
    assert mp.texts_to(OPENID) == ["warm-up", "after refresh"]


async def test_really_invalidated_token_is_replaced_without_force(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    await api.send_text(OPENID, "one")
    mp.invalidate_tokens()
    await api.send_text(OPENID, "two")
    assert [c.errcode for c in mp.calls_to(SEND)] == [0, 40001, 0]
    assert mp.token_requests == 2 and mp.force_refreshes == 0
    assert mp.texts_to(OPENID) == ["one", "two"]


async def test_second_consecutive_40001_is_raised(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    await api.send_text(OPENID, "warm-up")
    mp.fail_next(SEND, 40001, times=2)
    with pytest.raises(WeChatAPIError) as info:
        await api.send_text(OPENID, "never")
    assert info.value.errcode == 40001
    assert not isinstance(info.value, WindowClosed | NotFollowing)
    assert [c.errcode for c in mp.calls_to(SEND)] == [0, 40001, 40001]  # one retry, no loop
    assert mp.texts_to(OPENID) == ["warm-up"]


async def test_42001_refreshes_once_and_retries(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    await api.send_text(OPENID, "one")
    mp.expire_tokens()
    await api.send_text(OPENID, "two")
    assert [c.errcode for c in mp.calls_to(SEND)] == [0, 42001, 0]
    assert tokens_used(mp, SEND)[-1] == "TOKEN-2"

    mp.fail_next(SEND, 42001, times=2)
    with pytest.raises(WeChatAPIError) as info:
        await api.send_text(OPENID, "three")
    assert info.value.errcode == 42001
    assert [c.errcode for c in mp.calls_to(SEND)][3:] == [42001, 42001]
    assert mp.texts_to(OPENID) == ["one", "two"]


async def test_refresh_takes_the_token_another_instance_fetched(
    make_api: MakeAPI, mp: FakeMP, kv: KeyValueStore
) -> None:
    first, second = make_api(), make_api()
    await first.send_template(OPENID, "TPL", {"k": "v"})  # both now hold TOKEN-1 (second via the store)
    await second.send_template(OPENID, "TPL", {"k": "v"})
    mp.invalidate_tokens()
    await second.send_template(OPENID, "TPL", {"k": "v"})  # 40001 -> second fetches TOKEN-2
    assert mp.token_requests == 2
    await first.send_template(OPENID, "TPL", {"k": "v"})  # 40001 with TOKEN-1 -> takes TOKEN-2 from the store
    assert mp.token_requests == 2
    assert tokens_used(mp, "/template/send") == ["TOKEN-1", "TOKEN-1", "TOKEN-1", "TOKEN-2", "TOKEN-1", "TOKEN-2"]


async def test_concurrent_token_errors_cause_one_refresh(api: WeChatAPI, mp: FakeMP) -> None:
    await api.send_template(OPENID, "TPL", {"k": "v"})
    mp.invalidate_tokens()
    await asyncio.gather(*(api.send_template(OPENID, "TPL", {"n": str(i)}) for i in range(8)))
    assert mp.token_requests == 2
    assert len(mp.templates) == 9


# ---------------------------------------------------------------- the customer-service window


async def test_no_inbound_message_is_window_closed(api: WeChatAPI, mp: FakeMP) -> None:
    with pytest.raises(WindowClosed) as info:
        await api.send_text(OPENID, "hello")
    assert info.value.errcode == 45015
    assert isinstance(info.value, WeChatAPIError)
    assert mp.sent == []


async def test_window_closes_48_hours_after_the_last_inbound(api: WeChatAPI, mp: FakeMP, clock: FrozenClock) -> None:
    mp.user_wrote(OPENID)
    clock.advance(timedelta(hours=48) - timedelta(seconds=1))
    await api.send_text(OPENID, "just in time")
    clock.advance(timedelta(seconds=2))
    with pytest.raises(WindowClosed) as info:
        await api.send_text(OPENID, "too late")
    assert info.value.errcode == 45015
    assert mp.texts_to(OPENID) == ["just in time"]


async def test_sixth_send_per_inbound_is_window_closed(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    for i in range(5):
        await api.send_text(OPENID, str(i))
    with pytest.raises(WindowClosed) as info:
        await api.send_text(OPENID, "sixth")
    assert info.value.errcode == 45047
    mp.user_wrote(OPENID)  # a new inbound message resets the quota
    await api.send_text(OPENID, "sixth")
    assert mp.texts_to(OPENID) == ["0", "1", "2", "3", "4", "sixth"]


async def test_unfollowed_user_and_bad_openid_are_not_following(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    mp.unfollow(OPENID)
    with pytest.raises(NotFollowing) as info:
        await api.send_text(OPENID, "hello")
    assert info.value.errcode == 43004
    with pytest.raises(NotFollowing) as info:
        await api.send_template(OPENID, "TPL", {"k": "v"})
    assert info.value.errcode == 43004
    with pytest.raises(NotFollowing) as info:
        await api.send_text("not an openid!", "hello")
    assert info.value.errcode == 40003
    assert mp.sent == [] and mp.templates == []


async def test_text_over_2048_utf8_bytes_is_refused(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    at_limit = "中" * 682 + "ab"  # 2046 + 2 = 2048 bytes
    await api.send_text(OPENID, at_limit)
    with pytest.raises(WeChatAPIError) as info:
        await api.send_text(OPENID, at_limit + "c")
    assert info.value.errcode == 45002
    assert not isinstance(info.value, WindowClosed)
    assert mp.texts_to(OPENID) == [at_limit]


async def test_chinese_text_is_sent_as_real_utf8(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    text = "你好，世界！第一课已解锁 🌊"
    await api.send_text(OPENID, text)
    body = mp.calls_to(SEND)[-1].body
    assert text.encode("utf-8") in body
    assert b"\\u" not in body
    assert mp.texts_to(OPENID) == [text]


async def test_fake_refuses_unicode_escapes(mp: FakeMP) -> None:
    """What makes the UTF-8 test above meaningful: WeChat (and the fake) refuse \\uXXXX escapes."""
    mp.user_wrote(OPENID)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            mp.base_url + "/cgi-bin/stable_token",
            json={"grant_type": "client_credential", "appid": mp.app_id, "secret": mp.app_secret},
        ) as resp:
            token = (await resp.json())["access_token"]
        body = json.dumps({"touser": OPENID, "msgtype": "text", "text": {"content": "你好"}})  # ensure_ascii
        async with session.post(mp.base_url + SEND, params={"access_token": token}, data=body) as resp:
            answer = await resp.json()
    assert answer["errcode"] == 40033
    assert mp.sent == []


# ---------------------------------------------------------------- media


async def test_material_upload_and_send(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    media_id = await api.add_material("image", "cover.png", image)
    assert mp.materials[media_id] == ("image", hashlib.sha256(image).hexdigest(), "cover.png")
    await api.send_image(OPENID, media_id)
    assert mp.messages_to(OPENID)[-1] == {"touser": OPENID, "msgtype": "image", "image": {"media_id": media_id}}

    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2048
    video_id = await api.add_material("video", "lesson-1.mp4", video, title="第一课", introduction="入门")
    assert mp.materials[video_id][0] == "video"
    assert mp.material_descriptions[video_id] == {"title": "第一课", "introduction": "入门"}
    await api.send_video(OPENID, video_id, title="第一课", description="入门")
    assert mp.messages_to(OPENID)[-1]["video"] == {"media_id": video_id, "title": "第一课", "description": "入门"}

    voice_id = await api.add_material("voice", "intro.mp3", b"ID3" + b"\x00" * 512)
    await api.send_voice(OPENID, voice_id)
    assert mp.material_uploads == 3

    with pytest.raises(WeChatAPIError) as info:  # an image's media_id is not a voice
        await api.send_voice(OPENID, media_id)
    assert info.value.errcode == 40007
    with pytest.raises(WeChatAPIError) as info:
        await api.send_image(OPENID, "no-such-media")
    assert info.value.errcode == 40007
    with pytest.raises(ValueError):
        await api.add_material("pdf", "notes.pdf", b"%PDF")


async def test_fake_refuses_video_material_without_description(api: WeChatAPI, mp: FakeMP) -> None:
    def form() -> aiohttp.FormData:
        data = aiohttp.FormData()
        data.add_field("media", b"\x00" * 64, filename="clip.mp4")
        return data

    with pytest.raises(WeChatAPIError) as info:
        await api.call("/cgi-bin/material/add_material", params={"type": "video"}, form=form)
    assert info.value.errcode == 40007
    assert mp.materials == {}


async def test_temporary_media_upload_and_expiry(api: WeChatAPI, mp: FakeMP, clock: FrozenClock) -> None:
    mp.user_wrote(OPENID)
    png = b"\x89PNG\r\n\x1a\n" + b"qr" * 100
    media_id = await api.upload_media("image", "qr.png", png)
    assert mp.temp_media[media_id] == ("image", hashlib.sha256(png).hexdigest(), "qr.png")
    await api.send_image(OPENID, media_id)
    clock.advance(timedelta(days=3, seconds=1))
    mp.user_wrote(OPENID)
    with pytest.raises(WeChatAPIError) as info:
        await api.send_image(OPENID, media_id)
    assert info.value.errcode == 40007


async def test_multipart_upload_is_resent_after_a_retry_and_a_token_refresh(api: WeChatAPI, mp: FakeMP) -> None:
    content = b"\xff\xd8\xff\xe0" + b"j" * 300
    mp.http_error_next("/material/add_material", 502)
    first = await api.add_material("image", "a.jpg", content)
    mp.fail_next("/material/add_material", 40001)
    second = await api.add_material("image", "b.jpg", content)
    assert [c.errcode for c in mp.calls_to("/material/add_material")] == [None, 0, 40001, 0]
    assert set(mp.materials) == {first, second}
    assert mp.materials[second] == ("image", hashlib.sha256(content).hexdigest(), "b.jpg")


# ---------------------------------------------------------------- templates


async def test_template_send_works_outside_the_window(api: WeChatAPI, mp: FakeMP) -> None:
    mp.known_templates = {"TPL_ORDER_PAID"}
    msgid = await api.send_template(
        OPENID,
        "TPL_ORDER_PAID",
        {"thing1": "Python 入门课", "amount2": "¥99.00"},
        url="https://example.com/orders/1",
    )
    assert isinstance(msgid, int) and msgid > 0
    sent = mp.templates_to(OPENID)
    assert len(sent) == 1
    assert sent[0]["msgid"] == msgid
    assert sent[0]["data"] == {"thing1": {"value": "Python 入门课"}, "amount2": {"value": "¥99.00"}}
    assert sent[0]["url"] == "https://example.com/orders/1"
    assert mp.sent == []  # not a customer-service message

    with pytest.raises(WeChatAPIError) as info:
        await api.send_template(OPENID, "TPL_UNKNOWN", {"k": "v"})
    assert info.value.errcode == 40037


# ---------------------------------------------------------------- menu


MENU: dict[str, Any] = {
    "button": [
        {"type": "click", "name": "课程", "key": "MENU_CATALOG"},
        {
            "name": "我的",
            "sub_button": [
                {"type": "click", "name": "我的课程", "key": "MENU_LIBRARY"},
                {"type": "view", "name": "订单", "url": "https://example.com/orders"},
            ],
        },
        {"type": "view", "name": "帮助", "url": "https://example.com/help"},
    ]
}


async def test_menu_create_and_get(api: WeChatAPI, mp: FakeMP) -> None:
    assert await api.get_menu() == {}
    await api.create_menu(MENU)
    assert mp.menu == MENU
    assert await api.get_menu() == MENU
    assert "课程".encode() in mp.calls_to("/menu/create")[-1].body


@pytest.mark.parametrize(
    ("menu", "errcode"),
    [
        ({"button": [{"type": "click", "name": f"b{i}", "key": f"K{i}"} for i in range(4)]}, 40017),
        ({"button": [{"type": "click", "name": "课程", "key": "K" * 129}]}, 40019),
        ({"button": [{"type": "view", "name": "帮助"}]}, 40020),
        ({"button": [{"name": "我的", "sub_button": [{"type": "click", "name": "x", "key": "K"}] * 6}]}, 40023),
        ({"button": [{"type": "click", "key": "K"}]}, 40018),
    ],
    ids=["4-top-buttons", "key-over-128-bytes", "view-without-url", "6-sub-buttons", "no-name"],
)
async def test_menu_validation(api: WeChatAPI, mp: FakeMP, menu: dict[str, Any], errcode: int) -> None:
    await api.create_menu(MENU)
    with pytest.raises(WeChatAPIError) as info:
        await api.create_menu(menu)
    assert info.value.errcode == errcode
    assert mp.menu == MENU  # unchanged


# ---------------------------------------------------------------- QR codes


async def test_qrcode_tickets_and_url(api: WeChatAPI, mp: FakeMP) -> None:
    ticket = await api.create_qrcode("course-42")
    assert mp.qrcodes[ticket]["action_name"] == "QR_LIMIT_STR_SCENE"
    assert mp.qrcodes[ticket]["scene"] == "course-42"
    assert mp.qrcodes[ticket]["expire_seconds"] is None

    temporary = await api.create_qrcode("order-7", expire_seconds=600)
    assert mp.qrcodes[temporary]["action_name"] == "QR_STR_SCENE"
    assert mp.qrcodes[temporary]["expire_seconds"] == 600
    assert mp.scenes == ["course-42", "order-7"]

    url = WeChatAPI.qrcode_url(ticket)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "mp.weixin.qq.com", "/cgi-bin/showqrcode")
    assert parse_qs(parts.query) == {"ticket": [ticket]}  # round-trips, "+" included
    assert WeChatAPI.qrcode_url("gQH4+a/b==") == "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH4%2Ba%2Fb%3D%3D"

    with pytest.raises(ValueError):
        await api.create_qrcode("x" * 65)


# ---------------------------------------------------------------- web OAuth


async def test_oauth_openid(api: WeChatAPI, mp: FakeMP, clock: FrozenClock) -> None:
    code = mp.oauth_code(OPENID)
    assert await api.oauth_openid(code) == OPENID
    call = mp.calls_to("/sns/oauth2/access_token")[-1]
    assert call.query["code"] == code and call.query["grant_type"] == "authorization_code"
    assert "access_token" not in call.query
    assert mp.token_requests == 0  # no access_token needed

    with pytest.raises(WeChatAPIError) as info:
        await api.oauth_openid(code)
    assert info.value.errcode == 40163  # one-time
    with pytest.raises(WeChatAPIError) as info:
        await api.oauth_openid("no-such-code")
    assert info.value.errcode == 40029

    late = mp.oauth_code(OTHER)
    clock.advance(timedelta(minutes=6))
    with pytest.raises(WeChatAPIError) as info:
        await api.oauth_openid(late)
    assert info.value.errcode == 42003


# ---------------------------------------------------------------- transient failures


async def test_502_then_success_is_retried(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    mp.http_error_next(SEND, 502)
    await api.send_text(OPENID, "through")
    assert [c.errcode for c in mp.calls_to(SEND)] == [None, 0]
    assert mp.texts_to(OPENID) == ["through"]


async def test_system_busy_is_retried(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    mp.fail_next(SEND, -1, "system error", times=2)
    await api.send_text(OPENID, "third time lucky")
    assert [c.errcode for c in mp.calls_to(SEND)] == [-1, -1, 0]
    assert mp.texts_to(OPENID) == ["third time lucky"]


async def test_persistent_5xx_gives_up_after_three_attempts_with_backoff(api: WeChatAPI, mp: FakeMP) -> None:
    mp.user_wrote(OPENID)
    mp.http_error_next(SEND, 503, times=5)
    started = time.monotonic()
    with pytest.raises(WeChatAPIError) as info:
        await api.send_text(OPENID, "lost")
    assert info.value.errcode == -1
    assert time.monotonic() - started >= 0.65  # waited 0.2 s and 0.5 s
    assert len(mp.calls_to(SEND)) == 3
    assert mp.sent == []


async def test_unreachable_server_is_an_api_error(make_api: MakeAPI, mp: FakeMP) -> None:
    api = make_api(api_url=f"http://127.0.0.1:{free_port()}")
    api.retry_delays = (0.01, 0.01)
    with pytest.raises(WeChatAPIError) as info:
        await api.send_text(OPENID, "nobody there")
    assert info.value.errcode == -1
    with pytest.raises(WeChatAPIError) as info:
        await api.oauth_openid("code")
    assert info.value.errcode == -1


# ---------------------------------------------------------------- secrets


async def test_token_and_secret_never_leak(make_api: MakeAPI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "SECRET" + uuid.uuid4().hex[:26]
    fake = FakeMP(app_secret=secret)
    await fake.start()
    errors: list[BaseException] = []

    async def expect_error(coro: Any) -> None:
        with pytest.raises(WeChatAPIError) as info:
            await coro
        errors.append(info.value)

    try:
        api = make_api(api_url=fake.base_url, app_secret=secret)
        api.retry_delays = (0.01, 0.01)
        token = await api.tokens.get()
        await expect_error(api.send_text(OPENID, "no window"))
        fake.user_wrote(OPENID)
        fake.fail_next(SEND, 40001, times=2)
        await expect_error(api.send_text(OPENID, "token errors"))
        current = await api.tokens.get()  # replaced by the refresh above
        fake.fail_next(SEND, 45009, errmsg=f"api freq out of limit for {current}")  # WeChat echoing it
        await expect_error(api.send_text(OPENID, "echo"))
        fake.fail_next("/stable_token", 40164, errmsg=f"invalid ip, secret={secret}")
        fake.invalidate_tokens()
        await expect_error(api.send_text(OPENID, "refresh refused"))
        fake.http_error_next(SEND, 502, times=3)
        await expect_error(api.send_text(OPENID, "502s"))
        fake.fail_next("/sns/oauth2/access_token", 40029, errmsg=f"invalid code, secret {secret}")
        await expect_error(api.oauth_openid("nope"))
        wrong = make_api(
            api_url=fake.base_url, app_secret="wrong-" + secret[:8], store=MemoryKeyValueStore(namespace="w")
        )
        await expect_error(wrong.tokens.get())
        await fake.stop()
        await expect_error(api.oauth_openid("server gone"))
        await expect_error(api.send_text(OPENID, "server gone"))
    finally:
        await fake.stop()

    sensitive = [secret, token, *fake.issued_tokens]
    assert len(errors) == 9
    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += ["".join(traceback.format_exception(e)) for e in errors]
    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text, repr(api), repr(api.tokens)]
    for text in texts:
        for value in sensitive:
            assert value not in text, text
    assert any(r.name == "bots.wechat.api" for r in caplog.records)  # the client did log (paths and errcodes)


async def test_access_tokens_can_be_built_on_their_own(mp: FakeMP, clock: FrozenClock) -> None:
    """AccessTokens only needs a session getter, so another component (the WeChat Pay client) can share it."""
    async with aiohttp.ClientSession() as session:
        tokens = AccessTokens(
            app_id=mp.app_id,
            app_secret=mp.app_secret,
            api_url=mp.base_url,
            kv=MemoryKeyValueStore(namespace="t"),
            clock=clock,
            http=lambda: session,
        )
        assert await tokens.get() == "TOKEN-1"
        assert await tokens.refresh("TOKEN-1") == "TOKEN-2"  # still current at WeChat: forced
        assert await tokens.refresh("TOKEN-1") == "TOKEN-2"  # already replaced: no fetch
    assert mp.token_requests == 3 and mp.force_refreshes == 1
