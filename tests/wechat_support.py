"""Running the real WeChat channel against the in-repo fake WeChat API and Pay server, over HTTP.

``wechat_app`` builds the same :class:`bot.App` as production with
``WECHAT_API_URL`` and ``WECHAT_PAY_API_URL`` pointing at one aiohttp server
that hosts :class:`fakes.wechat_mp.FakeMP` and :class:`fakes.wechat_pay.FakePay`,
and serves the project's own web app (``/wechat``, the pay notify, the H5
page) on a free port. :class:`WxUser` is a follower driving it: it signs
(and in safe mode encrypts) messages exactly as WeChat's servers do.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from aiohttp import web
from fakes.serving import serve_local
from fakes.wechat_mp import FakeMP
from fakes.wechat_pay import FakePay
from wechatpy.crypto import WeChatCrypto

import bot
from bots.web import build_web_app
from bots.wechat.channel import WeChatChannel
from bots.wechat.inbound import safe_xml
from core.config import Settings
from core.ports import KeyValueStore

APP_ID = "wx0123456789abcdef"
APP_SECRET = "s" * 32
TOKEN = "wxtoken123"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MCH_ID = "1900000109"
PAY_KEY = "k" * 32
ACCOUNT = "gh_0123456789ab"

__all__ = ["ACCOUNT", "AES_KEY", "APP_ID", "TOKEN", "WxHarness", "WxUser", "sign", "wechat_app"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


@dataclass
class WxHarness:
    app: bot.App
    mp: FakeMP
    pay: FakePay
    channel: WeChatChannel
    url: str  # our server's base URL
    clock: Any
    safe: bool
    http: aiohttp.ClientSession
    msg_ids: int = 10_000

    def user(self, openid: str = "oUser_0000000001") -> WxUser:
        self.mp.follow(openid)
        return WxUser(self, openid)

    def query(
        self, *, timestamp: int | None = None, encrypt: str | None = None, nonce: str = "nonce123"
    ) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        q = {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": "x"}
        if encrypt is not None:
            q["encrypt_type"] = "aes"
            q["msg_signature"] = sign(TOKEN, ts, nonce, encrypt)
        return q

    async def post(
        self, xml: str, *, timestamp: int | None = None, query: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """POST a message as WeChat would (encrypted in safe mode); the status and the decrypted answer."""
        body = xml
        if query is None:
            if self.safe:
                crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
                ts = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
                envelope = crypto.encrypt_message(xml, "nonce123", ts)
                encrypt = safe_xml(envelope.encode())["Encrypt"]
                body = (
                    f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
                )
                query = self.query(timestamp=int(ts), encrypt=encrypt)
            else:
                query = self.query(timestamp=timestamp)
        async with self.http.post(f"{self.url}/wechat", params=query, data=body.encode()) as resp:
            text = await resp.text()
            status = resp.status
        if self.safe and status == 200 and text.startswith("<xml>"):
            fields = safe_xml(text.encode())
            crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
            text = crypto.decrypt_message(text, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
        return status, text

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every customer-service send the bot started has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            if not self.channel.tasks and (self.channel.desk is None or not self.channel.desk.tasks):
                return
        raise AssertionError("the WeChat channel did not settle")


@dataclass
class WxUser:
    h: WxHarness
    openid: str

    def _xml(self, inner: str) -> str:
        now = int(self.h.clock.now().timestamp())
        return (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName><CreateTime>{now}</CreateTime>{inner}</xml>"
        )

    def text_xml(self, text: str, msg_id: int | None = None) -> str:
        if msg_id is None:
            self.h.msg_ids += 1
            msg_id = self.h.msg_ids
        return self._xml(
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId>"
        )

    def image_xml(self, media_id: str, msg_id: int | None = None) -> str:
        if msg_id is None:
            self.h.msg_ids += 1
            msg_id = self.h.msg_ids
        return self._xml(
            "<MsgType><![CDATA[image]]></MsgType>"
            f"<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/{media_id}/0]]></PicUrl>"
            f"<MediaId><![CDATA[{media_id}]]></MediaId><MsgId>{msg_id}</MsgId>"
        )

    async def send_image(self, data: bytes) -> str:
        """Send an image (WeChat keeps it as temporary media first); the passive reply's text after sends settle."""
        self.h.mp.user_wrote(self.openid)
        media_id = self.h.mp.user_image(self.openid, data)
        status, answer = await self.h.post(self.image_xml(media_id))
        assert status == 200, (status, answer)
        await self.h.settle()
        return passive_text(answer)

    def event_xml(self, event: str, key: str | None = None) -> str:
        extra = f"<EventKey><![CDATA[{key}]]></EventKey>" if key is not None else ""
        return self._xml(f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}")

    async def say(self, text: str, *, msg_id: int | None = None) -> str:
        """Send a text message; return the passive reply's text ('' for ``success``) after sends settle."""
        self.h.mp.user_wrote(self.openid)
        status, answer = await self.h.post(self.text_xml(text, msg_id))
        assert status == 200, (status, answer)
        await self.h.settle()
        return passive_text(answer)

    async def event(self, event: str, key: str | None = None) -> str:
        if event in ("subscribe", "SCAN", "CLICK"):
            self.h.mp.user_wrote(self.openid)
        status, answer = await self.h.post(self.event_xml(event, key))
        assert status == 200, (status, answer)
        await self.h.settle()
        return passive_text(answer)

    def sent(self) -> list[dict[str, Any]]:
        return self.h.mp.messages_to(self.openid)

    def texts(self) -> list[str]:
        return self.h.mp.texts_to(self.openid)


def passive_text(answer: str) -> str:
    if not answer.startswith("<xml>"):
        return ""
    fields = safe_xml(answer.encode())
    return str(fields.get("Content") or fields.get("MediaId") or "")


@asynccontextmanager
async def wechat_app(
    settings: Settings,
    clock: Any,
    kv: KeyValueStore,
    *,
    safe: bool = False,
    pay: bool = True,
    **overrides: Any,
) -> AsyncIterator[WxHarness]:
    mp = FakeMP(app_id=APP_ID, app_secret=APP_SECRET, clock=clock.now)
    fake_pay = FakePay(app_id=APP_ID, mch_id=MCH_ID, api_key=PAY_KEY, clock=clock.now)
    fake_app = web.Application()
    mp.install(fake_app)
    fake_pay.install(fake_app)
    fake_runner, fake_port = await serve_local(fake_app)
    fake_url = f"http://127.0.0.1:{fake_port}"
    mp.base_url = fake_pay.base_url = fake_url
    port = free_port()
    changes: dict[str, Any] = {
        "wechat_app_id": APP_ID,
        "wechat_app_secret": APP_SECRET,
        "wechat_token": TOKEN,
        "wechat_aes_key": AES_KEY if safe else None,
        "wechat_api_url": fake_url,
        "wechat_oauth_url": f"{fake_url}/connect/oauth2/authorize",
        "public_base_url": f"http://127.0.0.1:{port}",
        "wechat_pay_mch_id": MCH_ID if pay else None,
        "wechat_pay_api_key": PAY_KEY if pay else None,
        "wechat_pay_api_url": fake_url,
        **overrides,
    }
    wx_settings = Settings(_env_file=None, **{**settings.model_dump(), **changes})  # type: ignore[call-arg]
    app = bot.build_app(wx_settings, clock=clock, kv=kv)
    assert app.wechat is not None
    app.wechat.config = replace(app.wechat.config, follow_up_delay=0.0)
    runner = web.AppRunner(build_web_app(bot.readiness_probe(app), app.wechat.routes()))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await app.wechat.start()
    http = aiohttp.ClientSession()
    try:
        yield WxHarness(app, mp, fake_pay, app.wechat, f"http://127.0.0.1:{port}", clock, safe, http)
    finally:
        await http.close()
        await app.wechat.stop()
        await runner.cleanup()
        await app.db.dispose()
        await fake_runner.cleanup()
