"""``AiohttpRequest`` over real HTTP against a fake Bot API server on 127.0.0.1.

``telegram.Bot`` does the calls, so PTB's own JSON parsing and status-code mapping run on top of the
transport exactly as in production; the server answers like api.telegram.org and records what it got.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import traceback
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import pytest
import telegram
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest

from bots.telegram.transport import AiohttpRequest

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "KnowledgeSea", "username": "knowledgesea_bot"}
CHAT = {"id": 42, "type": "private", "first_name": "Ada"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
DOCUMENT = b"%PDF-1.4 lesson notes" * 100
MARKUP = InlineKeyboardMarkup([[InlineKeyboardButton("购买 ¥99", callback_data="buy:public-speaking")]])

#: text of a sendMessage -> the error answer the fake server gives (status, body)
ERRORS: dict[str, tuple[int, dict[str, Any] | str]] = {
    "e400": (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
    "e403": (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
    "e429": (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    ),
    "e502": (502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"),
}


@dataclass
class Received:
    """One request as the fake server saw it."""

    http_method: str
    api_method: str
    content_type: str
    headers: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str | None, str, bytes]] = field(default_factory=dict)  # name -> (filename, type, bytes)
    raw: bytes = b""
    json: dict[str, Any] | None = None  # the decoded body of a JSON request


class FakeBotApi:
    """Answers like the Bot API (``{"ok": true, "result": ...}`` or Telegram's error bodies)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.capture_raw = False  # keep the raw body instead of parsing the form
        self.delay = 0.0  # seconds every sendMessage waits before answering
        self.in_flight = 0
        self.max_in_flight = 0
        self.peers: set[tuple[str, int]] = set()
        self.base = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self.api)
        app.router.add_get("/file/bot{token}/{path:.+}", self.download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def api(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.add((peer[0], peer[1]))
        try:
            seen = await self._receive(request)
            self.received.append(seen)
            if request.match_info["token"] != TOKEN:
                return _error(401, "Unauthorized")
            return await self._answer(seen)
        finally:
            self.in_flight -= 1

    async def _receive(self, request: web.Request) -> Received:
        seen = Received(
            http_method=request.method,
            api_method=request.match_info["method"],
            content_type=request.headers.get("Content-Type", ""),
            headers=dict(request.headers),
        )
        if self.capture_raw:
            seen.raw = await request.read()
            return seen
        if seen.content_type.startswith("application/json"):
            body = json.loads(await request.read())
            seen.json = body
            seen.fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
            return seen
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                seen.files[name] = (value.filename, value.content_type, value.file.read())
            else:
                seen.fields[name] = str(value)
        return seen

    async def _answer(self, seen: Received) -> web.Response:
        method, fields = seen.api_method, seen.fields
        if method == "getMe":
            return _ok(BOT_USER)
        if method == "getUpdates":
            await asyncio.sleep(float(fields.get("timeout", "0")))  # long polling: nothing arrived meanwhile
            return _ok([])
        if method == "sendMessage":
            text = fields.get("text", "")
            if text in ERRORS:
                status, body = ERRORS[text]
                if isinstance(body, str):
                    return web.Response(status=status, text=body, content_type="text/html")
                return web.json_response(body, status=status)
            if self.delay:
                await asyncio.sleep(self.delay)
            return _ok(_message(text=text))
        if method == "sendPhoto":
            size = {"file_id": "AgAD1", "file_unique_id": "u1", "width": 1, "height": 1}
            return _ok(_message(photo=[size]))
        if method == "sendDocument":
            return _ok(_message(document={"file_id": "BQAD1", "file_unique_id": "u2", "file_name": "notes.pdf"}))
        if method == "getFile":
            return _ok({"file_id": "f1", "file_unique_id": "u1", "file_size": len(DOCUMENT), "file_path": "docs/a.pdf"})
        return _error(404, "Not Found: method not found")

    async def download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(401, "Unauthorized")
        return web.Response(body=DOCUMENT, content_type="application/pdf")


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)


def _message(**content: Any) -> dict[str, Any]:
    return {"message_id": 7, "date": 1_772_413_200, "chat": CHAT, **content}


def make_bot(server: FakeBotApi, request: BaseRequest | None = None, **updates: Any) -> telegram.Bot:
    return telegram.Bot(
        TOKEN,
        base_url=f"{server.base}/bot",
        base_file_url=f"{server.base}/file/bot",
        request=request or AiohttpRequest(),
        get_updates_request=AiohttpRequest(**updates),
    )


@contextlib.asynccontextmanager
async def bare_bot(
    base_url: str, request: AiohttpRequest | None = None, token: str = TOKEN
) -> AsyncIterator[telegram.Bot]:
    """A Bot that is not initialized (initialize would call getMe first); its transports are closed after."""
    request = request or AiohttpRequest()
    updates = AiohttpRequest()
    try:
        yield telegram.Bot(token, base_url=base_url, request=request, get_updates_request=updates)
    finally:
        await request.shutdown()
        await updates.shutdown()


def assert_no_secret(exc: BaseException) -> None:
    """Neither the exception's message nor its printed traceback (with causes) shows the token."""
    printed = "".join(traceback.format_exception(exc))
    assert TOKEN not in str(exc) and TOKEN not in printed
    assert TOKEN.split(":")[1] not in printed


async def raises(exc_type: type[TelegramError], call: Awaitable[Any]) -> TelegramError:
    with pytest.raises(exc_type) as info:
        await call
    assert_no_secret(info.value)
    return info.value


@pytest.fixture
async def server() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def bot(server: FakeBotApi) -> AsyncIterator[telegram.Bot]:
    async with make_bot(server) as tg:
        yield tg


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    yield port


# -- calls that succeed ------------------------------------------------------------------------------------------


async def test_get_me_returns_the_bot_user(bot: telegram.Bot, server: FakeBotApi) -> None:
    me = await bot.get_me()
    assert (me.id, me.username) == (BOT_USER["id"], BOT_USER["username"])
    seen = server.received[-1]
    assert (seen.http_method, seen.api_method, seen.fields, seen.files) == ("POST", "getMe", {}, {})
    assert seen.headers["User-Agent"] == BaseRequest.USER_AGENT


async def test_send_message_posts_json_with_the_parameters_httpx_posts(bot: telegram.Bot, server: FakeBotApi) -> None:
    message = await bot.send_message(42, "欢迎 & welcome = 1", parse_mode="HTML", reply_markup=MARKUP)
    assert message.text == "欢迎 & welcome = 1" and message.chat.id == 42
    seen = server.received[-1]
    assert seen.content_type == "application/json"
    assert seen.json == {
        "chat_id": 42,
        "text": "欢迎 & welcome = 1",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "购买 ¥99", "callback_data": "buy:public-speaking"}]]},
    }


async def test_json_carries_exactly_what_httpxs_form_carries(server: FakeBotApi) -> None:
    """The Bot API reads a JSON body like a form: same names, same values (nested objects as objects)."""
    sent = []
    for request in (HTTPXRequest(connection_pool_size=4), AiohttpRequest()):
        async with make_bot(server, request) as tg:
            await CALLS["sendMessage"](tg)
            sent.append(server.received[-1])
    form, body = sent
    assert form.content_type == "application/x-www-form-urlencoded" and body.json is not None
    assert {k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for k, v in body.json.items()} == {
        k: json.dumps(json.loads(v), separators=(",", ":")) if k == "reply_markup" else v
        for k, v in form.fields.items()
    }


async def test_send_photo_uploads_multipart_with_file_name_type_and_bytes(
    bot: telegram.Bot, server: FakeBotApi
) -> None:
    message = await bot.send_photo(42, InputFile(PNG, filename="lesson-1.png"), caption="第一课", reply_markup=MARKUP)
    assert message.photo and message.photo[0].file_id == "AgAD1"
    seen = server.received[-1]
    assert seen.content_type.startswith("multipart/form-data; boundary=")
    assert seen.fields == {"chat_id": "42", "caption": "第一课", "reply_markup": MARKUP.to_json()}
    assert seen.files == {"photo": ("lesson-1.png", "image/png", PNG)}


async def test_large_upload_streams_the_whole_file(bot: telegram.Bot, server: FakeBotApi) -> None:
    big = bytes(range(256)) * 12_000  # 3 MB: sent from a buffer, not as one raw-bytes payload
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        await bot.send_photo(42, InputFile(big, filename="big.png"))
    assert server.received[-1].files == {"photo": ("big.png", "image/png", big)}


async def test_file_download_uses_get(bot: telegram.Bot, server: FakeBotApi) -> None:
    file = await bot.get_file("f1")
    assert bytes(await file.download_as_bytearray()) == DOCUMENT


def _normalise(received: Received) -> tuple[str, str, bytes]:
    match = re.search(r"boundary=([^;\s]+)", received.content_type)
    if not match:
        return received.api_method, received.content_type, received.raw
    boundary = match.group(1)
    return (
        received.api_method,
        received.content_type.replace(boundary, "B"),
        received.raw.replace(boundary.encode(), b"B"),
    )


CALLS: dict[str, Callable[[telegram.Bot], Awaitable[Any]]] = {
    "getMe": lambda tg: tg.get_me(),
    "sendMessage": lambda tg: tg.send_message(42, "hi & bye=1 +é", reply_markup=MARKUP, disable_notification=True),
    "sendPhoto": lambda tg: tg.send_photo(42, InputFile(PNG, filename='a "quoted"\\ 图 name.png'), caption="c"),
    "sendDocument": lambda tg: tg.send_document(42, InputFile(DOCUMENT, filename="notes.pdf"), reply_markup=MARKUP),
}


@pytest.mark.parametrize("call", sorted(set(CALLS) - {"sendMessage"}))  # sendMessage: JSON, see above
async def test_the_server_receives_byte_for_byte_what_httpx_sends(server: FakeBotApi, call: str) -> None:
    """Same Content-Type and body (boundary aside) as PTB's HTTPXRequest: a real Bot API can't tell."""
    server.capture_raw = True
    sent = []
    for request in (HTTPXRequest(connection_pool_size=4), AiohttpRequest()):
        async with make_bot(server, request) as tg:
            await CALLS[call](tg)
            sent.append(_normalise(server.received[-1]))
    by_httpx, by_aiohttp = sent
    assert by_httpx[0] == call
    assert by_aiohttp == by_httpx


# -- Bot API errors: the raw status goes back to PTB, which maps it ---------------------------------------------


async def test_400_is_bad_request_with_telegrams_description(bot: telegram.Bot) -> None:
    exc = await raises(BadRequest, bot.send_message(42, "e400"))
    assert exc.message == "Chat not found"  # PTB drops the "Bad Request: " prefix and capitalises


async def test_403_is_forbidden(bot: telegram.Bot) -> None:
    exc = await raises(Forbidden, bot.send_message(42, "e403"))
    assert "bot was blocked by the user" in exc.message


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # retry_after: int -> timedelta
async def test_429_is_retry_after_with_the_servers_delay(bot: telegram.Bot) -> None:
    exc = await raises(RetryAfter, bot.send_message(42, "e429"))
    assert isinstance(exc, RetryAfter) and exc.retry_after in (7, timedelta(seconds=7))


async def test_502_is_a_network_error(bot: telegram.Bot) -> None:
    exc = await raises(NetworkError, bot.send_message(42, "e502"))
    assert type(exc) is NetworkError and "Bad Gateway (502)" in exc.message


async def test_wrong_token_is_invalid_token(server: FakeBotApi) -> None:
    other = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw2"
    async with bare_bot(f"{server.base}/bot", token=other) as tg:
        with pytest.raises(telegram.error.InvalidToken) as info:
            await tg.get_me()
    assert other not in "".join(traceback.format_exception(info.value))


# -- transport failures -------------------------------------------------------------------------------------------


async def test_a_slow_server_times_out_after_read_timeout(server: FakeBotApi) -> None:
    server.delay = 1.0
    async with make_bot(server, AiohttpRequest(read_timeout=0.2)) as tg:
        started = asyncio.get_running_loop().time()
        await raises(TimedOut, tg.send_message(42, "slow"))
        assert asyncio.get_running_loop().time() - started < 0.9
        # an explicit per-call timeout beats the instance default (DEFAULT_NONE -> default)
        assert (await tg.send_message(42, "slow", read_timeout=3)).text == "slow"


async def test_long_polling_gets_the_poll_timeout_on_top_of_read_timeout(server: FakeBotApi) -> None:
    async with make_bot(server, read_timeout=0.5) as tg:
        assert await tg.get_updates(timeout=1) == ()  # the server holds the poll for 1 s > 0.5 s
    assert server.received[-1].fields["timeout"] == "1"


async def test_connection_refused_is_a_network_error(closed_port: int) -> None:
    async with bare_bot(f"http://127.0.0.1:{closed_port}/bot") as tg:
        exc = await raises(NetworkError, tg.get_me())
    assert type(exc) is NetworkError and exc.message.startswith("aiohttp.ClientConnectorError")


async def test_a_connect_timeout_is_timed_out_and_does_not_quote_the_url() -> None:
    """aiohttp's own message here is "Connection timeout to host <URL with the token>"."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept backlog: the kernel then drops further SYNs and connect() hangs
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    request = AiohttpRequest(connect_timeout=0.3)
    try:
        with pytest.raises(TimedOut) as info:
            await request.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", "POST")
        assert "not* sent" in info.value.message
        assert_no_secret(info.value)
    finally:
        await request.shutdown()
        for sock in (*fillers, listener):
            sock.close()


async def test_an_aiohttp_error_that_quotes_the_url_is_redacted() -> None:
    request = AiohttpRequest()
    with pytest.raises(NetworkError) as info:
        await request.do_request(f"http://[::1/bot{TOKEN}/getMe", "POST")  # malformed: InvalidURL quotes it
    assert info.value.message.startswith("aiohttp.")
    assert_no_secret(info.value)
    await request.shutdown()


class _Stalled(asyncio.Protocol):
    """A server that accepts connections and never reads from them: uploads stall once buffers fill."""

    transports: ClassVar[list[asyncio.Transport]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self.transports.append(transport)


async def test_a_stalled_upload_times_out_after_the_write_timeout() -> None:
    stalled = await asyncio.get_running_loop().create_server(_Stalled, "127.0.0.1", 0)
    port = stalled.sockets[0].getsockname()[1]
    request = AiohttpRequest(read_timeout=0.2, connect_timeout=0.2, media_write_timeout=0.4)
    upload = InputFile(b"\0" * 64 * 1024 * 1024, filename="huge.mp4")  # more than the socket buffers hold
    started = asyncio.get_running_loop().time()
    try:
        async with bare_bot(f"http://127.0.0.1:{port}/bot", request) as tg:
            exc = await raises(TimedOut, tg.send_video(42, upload))
        assert "write timeout" in exc.message
        assert asyncio.get_running_loop().time() - started < 3
    finally:
        stalled.close()
        for transport in _Stalled.transports:
            transport.abort()
        await stalled.wait_closed()


async def test_pool_timeout_when_every_connection_is_busy(server: FakeBotApi) -> None:
    server.delay = 0.6
    async with make_bot(server, AiohttpRequest(connection_pool_size=1, pool_timeout=0.1)) as tg:
        busy = asyncio.create_task(tg.send_message(42, "first"))
        await asyncio.sleep(0.1)
        exc = await raises(TimedOut, tg.send_message(42, "second"))
        assert exc.message.startswith("Pool timeout") and "not* sent" in exc.message
        assert (await busy).text == "first"
    assert [r.fields.get("text") for r in server.received if r.api_method == "sendMessage"] == ["first"]


# -- concurrency and lifecycle ------------------------------------------------------------------------------------


async def test_200_concurrent_sends_through_a_pool_of_16(server: FakeBotApi) -> None:
    server.delay = 0.01  # long enough for requests to overlap
    async with make_bot(server, AiohttpRequest(connection_pool_size=16, pool_timeout=30)) as tg:
        server.peers.clear()
        messages = await asyncio.gather(*(tg.send_message(42, f"m{i}") for i in range(200)))
    assert sorted(m.text or "" for m in messages) == sorted(f"m{i}" for i in range(200))
    assert 1 < server.max_in_flight <= 16
    assert len(server.peers) <= 16  # connections are kept alive and reused


async def test_shutdown_closes_and_initialize_reopens(server: FakeBotApi) -> None:
    request = AiohttpRequest()
    url = f"{server.base}/bot{TOKEN}/getMe"
    await request.initialize()
    assert request.is_initialized
    assert (await request.do_request(url, "POST"))[0] == 200
    await request.shutdown()
    await request.shutdown()  # idempotent
    assert not request.is_initialized
    await request.initialize()
    status, body = await request.do_request(url, "POST")
    assert status == 200 and json.loads(body)["result"]["id"] == BOT_USER["id"]
    await request.shutdown()
    assert (await request.do_request(url, "POST"))[0] == 200  # first use after shutdown reopens lazily
    await request.shutdown()


async def test_do_request_returns_raw_status_and_body_for_errors(server: FakeBotApi) -> None:
    async with AiohttpRequest() as request:
        status, body = await request.do_request(f"{server.base}/bot{TOKEN}/nope", "POST")
    assert status == 404 and json.loads(body)["description"] == "Not Found: method not found"


async def test_an_http_proxy_from_the_environment_is_used_like_httpx(
    server: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.base)  # the fake API plays the proxy
    async with bare_bot("http://api.telegram.invalid/bot") as tg:
        assert (await tg.get_me()).id == BOT_USER["id"]  # the host does not resolve: only the proxy is reachable
    assert server.received[-1].headers["Host"] == "api.telegram.invalid"


def test_constructor_defaults_and_validation() -> None:
    request = AiohttpRequest()
    assert request.read_timeout == 5.0 and request.connection_pool_size == 64
    assert AiohttpRequest(read_timeout=None).read_timeout is None
    with pytest.raises(ValueError):
        AiohttpRequest(connection_pool_size=0)
