"""A fake Telegram Bot API server (aiohttp) that validates requests like Telegram does.

The real python-telegram-bot ``Bot``/``Application`` talks to it over real
HTTP (``base_url=fake.base_url``); tests inject updates (a user writes, with
formatting entities or not, sends a photo, forwards a message, presses a
button, pays, joins a group) and inspect what the bot did (``calls``,
``sent``, ``texts_to``, payments, invite links, members).

What it guarantees:

* the wire format: ``POST|GET /bot<TOKEN>/<method>`` with JSON, form-urlencoded,
  multipart or query-string parameters; method names are case-insensitive;
  responses are ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code":
  N, "description": ..., "parameters": ...}`` with HTTP status N; a wrong token
  is 401 ``Unauthorized``, an unknown method 404;
* results that PTB's ``de_json`` accepts (checked by the fake's own tests);
* Telegram's validation where rendering or payment bugs would hide: HTML /
  MarkdownV2 entity parsing (:mod:`fakes.telegram_html`,
  :mod:`fakes.telegram_markdown`), text/caption limits in UTF-16 units,
  inline keyboards (``callback_data`` ≤ 64 bytes, button URLs, ≤ 100
  buttons), invoices and Telegram Stars rules, pre-checkout deadlines, file
  ids, edits that change nothing, unknown or blocked chats, invite links;
* update delivery in injection order, either to a webhook (POST with the
  secret header, retried on failure) or to ``getUpdates`` long polling
  (offset confirmation, limit, timeout, allowed_updates, 409 conflicts).

Knowingly simpler than Telegram: one bot, private chats and (super)groups
only (no channels, topics, inline mode, business or games); ``inline_message_id``
edits are refused; message ids are per chat counters; files are kept in
memory and "downloaded" from URLs without fetching them; the 10 s
pre-checkout deadline is ``pre_checkout_timeout`` (real seconds, or the
injected clock, whichever passes first); flood control is off unless turned
on (``flood=FloodControl()`` or ``set_flood()``, see
:mod:`fakes.telegram_flood`), and ``fail_next`` injects single 429s; webhook deliveries that still fail after the
retries are dropped (recorded in ``webhook_errors``).  HTML validation is
stricter than Telegram (see :mod:`fakes.telegram_html`); set ``strict_html``
to False for tdlib's leniency with stray ``&`` and ``>``.

Layout: this module holds the server, update delivery and text messages; the
bot's settings, files, payments, groups and flood control live in the mixins
:mod:`fakes.telegram_settings`, :mod:`fakes.telegram_media`,
:mod:`fakes.telegram_payments`, :mod:`fakes.telegram_chats` and
:mod:`fakes.telegram_flood` (each with its own guarantees); :mod:`fakes.telegram_common` has the shared validation.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import re
import secrets
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from fakes.telegram_chats import ChatsMixin, InviteLinkRefused
from fakes.telegram_common import (
    ApiError,
    Upload,
    bad_request,
    check_inline_keyboard,
    decode_form_value,
    format_text,
    get_bool,
    get_int,
    get_json,
    get_str,
    markup_key,
)
from fakes.telegram_flood import FloodControl, FloodMixin
from fakes.telegram_html import utf16_len
from fakes.telegram_media import MediaMixin
from fakes.telegram_payments import PaymentsMixin
from fakes.telegram_settings import SettingsMixin
from yarl import URL

__all__ = ["ApiError", "FakeBotAPI", "FloodControl", "InviteLinkRefused"]

#: update types Telegram leaves out when ``allowed_updates`` is not given (or empty).
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_SERVER_ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a current "
    "content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


@dataclass
class _Queued:
    update: dict[str, Any]
    forced: bool = False  # a resent update: kept even if its update_id was already confirmed
    delivered: bool = False


@dataclass
class _Failure:
    status: int
    retry_after: int
    description: str | None


class FakeBotAPI(SettingsMixin, MediaMixin, PaymentsMixin, ChatsMixin, FloodMixin):
    """An in-process Telegram Bot API server; see the module docstring for what it guarantees."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_id: int = 123456,
        username: str = "ks_test_bot",
        clock: Callable[[], datetime] | None = None,
        flood: FloodControl | None = None,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.username = username
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.base_url = ""
        self.base_file_url = ""
        self.port = 0
        # knobs
        self.strict_html = True
        self.pre_checkout_timeout = 10.0
        self.webhook_retries = 3
        self.webhook_retry_delay = 0.05
        self.webhook_timeout = 10.0
        # users and chats
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "KnowledgeSea Test",
            "username": username,
        }
        self.users: dict[int, dict[str, Any]] = {}
        self.started: set[int] = set()
        self.blocked: set[int] = set()  # users who blocked the bot: sends are 403
        self.deactivated: set[int] = set()  # deleted accounts: sends are 403 "user is deactivated"
        # what the bot did
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.internal_errors: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.deleted: list[tuple[int, int]] = []
        self.answered_callbacks: list[dict[str, Any]] = []
        self.chat_actions: list[dict[str, Any]] = []
        # updates
        self.updates: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.webhook_errors: list[dict[str, Any]] = []
        self.webhook_deliveries = 0
        self._update_ids = itertools.count(100_001)
        self._ids = itertools.count(1)
        self._queue: list[_Queued] = []
        self._poll_allowed: list[str] | None = None
        self._poll_generation = 0
        self._poll_cond: asyncio.Condition | None = None
        self._outbox: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[None], bool]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        # messages: (chat_id, message_id) -> the current version
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_queries: dict[str, dict[str, Any]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        SettingsMixin.__init__(self)
        MediaMixin.__init__(self)
        PaymentsMixin.__init__(self)
        ChatsMixin.__init__(self)
        FloodMixin.__init__(self, flood)

    # ================================================================ lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start delivering updates."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self.base_file_url = f"http://127.0.0.1:{self.port}/file/bot"
        self._closing = False
        self._poll_cond = asyncio.Condition()
        self._outbox = asyncio.Queue()
        self._session = aiohttp.ClientSession()
        self._worker = asyncio.create_task(self._deliver_loop(), name="fake-bot-api-delivery")

    async def stop(self) -> None:
        """Wake long polls, stop delivering and close the server."""
        self._closing = True
        if self._poll_cond is not None:
            async with self._poll_cond:
                self._poll_cond.notify_all()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ================================================================ HTTP

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        params: dict[str, Any] = {k: decode_form_value(k, v) for k, v in request.query.items()}
        files: dict[str, Upload] = {}
        if not request.body_exists:
            return params, files
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            params.update(body)
            return params, files
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = Upload(value.filename or name, value.content_type, value.file.read())
            else:
                params[name] = decode_form_value(name, str(value))
        return params, files

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params, files = await self._read_params(request)
        except ApiError as exc:
            return self._error(method, {}, exc)
        recorded = dict(params)
        if files:
            recorded["_files"] = {k: {"filename": f.filename, "size": len(f.data)} for k, f in files.items()}
        self.calls.append((method, recorded))
        if request.match_info["token"] != self.token:
            return self._error(method, recorded, ApiError(401, "Unauthorized"))
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return self._error(method, recorded, ApiError(404, "Not Found: method not found"))
        too_many = self._flood_check(method, params)
        if too_many is not None:
            return self._error(method, recorded, too_many)
        failure = self._take_failure(method)
        if failure is not None:
            self._flood_forced(method, params, failure)
            return self._error(method, recorded, failure)
        try:
            result = handler(params, files, recorded)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            return self._error(method, recorded, exc)
        except Exception as exc:  # a bug in the fake: make it loud
            self.internal_errors.append(traceback.format_exc())
            return self._error(method, recorded, ApiError(500, f"Internal Server Error: fake crashed: {exc!r}"))
        self._flood_sent(method, params)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    def _error(self, method: str, params: dict[str, Any], exc: ApiError) -> web.Response:
        body = exc.body()
        self.errors.append((method, params, body))
        return web.json_response(body, status=exc.code, dumps=_dumps)

    def _take_failure(self, method: str) -> ApiError | None:
        queue = self._failures.get(method.lower())
        if not queue:
            return None
        failure = queue.pop(0)
        if failure.status == 429:
            description = failure.description or f"Too Many Requests: retry after {failure.retry_after}"
            return ApiError(429, description, {"retry_after": failure.retry_after})
        default = _SERVER_ERRORS.get(failure.status, "Bad Request" if failure.status == 400 else "Error")
        return ApiError(failure.status, failure.description or default)

    # ================================================================ test side: users, chats, failures

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Ann",
        language_code: str | None = "en",
        username: str | None = None,
        started: bool = True,
    ) -> dict[str, Any]:
        """A Telegram user; ``started`` (default) means the user has opened the bot, so it may write to them."""
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        if started:
            self.started.add(user_id)
        return user

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self.users:
            self.add_user(user_id, started=False)
        return self.users[user_id]

    def _private_chat(self, user_id: int) -> dict[str, Any]:
        user = self._user(user_id)
        chat = {"id": user_id, "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def fail_next(
        self, method: str, *, status: int = 429, retry_after: int = 1, times: int = 1, description: str | None = None
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (429 with ``parameters.retry_after``, or 5xx...)."""
        queue = self._failures.setdefault(method.lower(), [])
        queue.extend(_Failure(status, retry_after, description) for _ in range(times))

    # ================================================================ test side: injecting updates

    def _now(self) -> datetime:
        return self.clock()

    def _now_ts(self) -> int:
        return int(self.clock().timestamp())

    def _new_id(self) -> str:
        return f"{next(self._ids)}{secrets.randbelow(10**6):06d}"

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    async def send_text(
        self,
        user_id: int,
        text: str,
        *,
        entities: list[dict[str, Any]] | None = None,
        forward_origin: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A private message from the user (who thereby has started the bot); "/cmd" gets a bot_command entity.

        ``entities``: formatting as Telegram sends it (offsets in UTF-16 units); ``forward_origin``: the
        message was forwarded (see :meth:`channel_origin`).
        """
        fields: dict[str, Any] = {"text": text}
        if text.startswith("/") and forward_origin is None:
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        if entities:
            fields["entities"] = [*fields.get("entities", []), *entities]
        return await self.user_message(user_id, fields, forward_origin=forward_origin)

    async def send_photo(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str = "",
        caption_entities: list[dict[str, Any]] | None = None,
        forward_origin: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (``data`` is its largest size; a small thumbnail size comes with it).

        The photo is registered like an upload, so its ``file_id`` works for getFile, the download URL and
        sendPhoto; it is not counted in ``uploads`` (the bot did not upload it).
        """
        record = self._register_file("photo", data, None, None)
        fields = self._message_fields("photo", record, {})
        if caption:
            fields["caption"] = caption
        if caption_entities:
            fields["caption_entities"] = caption_entities
        return await self.user_message(user_id, fields, forward_origin=forward_origin)

    async def send_sticker(self, user_id: int, *, forward_origin: dict[str, Any] | None = None) -> dict[str, Any]:
        """The user sends (or forwards) a sticker: no text, no photo."""
        record = self._register_file("sticker", b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, "image/webp")
        sticker = {
            "file_id": record["file_id"],
            "file_unique_id": record["file_unique_id"],
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return await self.user_message(user_id, {"sticker": sticker}, forward_origin=forward_origin)

    def channel_origin(self, title: str = "News", *, chat_id: int = -1001234567890) -> dict[str, Any]:
        """A ``forward_origin``: the message was first posted in the channel ``title``."""
        chat = {"id": chat_id, "type": "channel", "title": title}
        return {"type": "channel", "chat": chat, "message_id": 42, "date": self._now_ts() - 60}

    async def user_message(
        self, user_id: int, fields: dict[str, Any], *, forward_origin: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Any private message from the user, with ``fields`` (text, photo, sticker...) as Telegram sends them."""
        user = self._user(user_id)
        self.started.add(user_id)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(user_id),
            "from": user,
            "chat": self._private_chat(user_id),
            "date": self._now_ts(),
            **fields,
        }
        if forward_origin is not None:
            message["forward_origin"] = forward_origin
        self._messages[(user_id, message["message_id"])] = message
        return await self._inject({"message": message})

    async def press(self, user_id: int, message: dict[str, Any] | int, data: str) -> dict[str, Any]:
        """The user presses a button carrying ``data`` under a message the bot sent (dict or message_id)."""
        if isinstance(message, int):
            chat_id, message_id = user_id, message
        else:
            chat_id, message_id = message["chat"]["id"], message["message_id"]
        current = self._messages.get((chat_id, message_id))
        if current is None or current["from"]["id"] != self.bot_id:
            raise ValueError(f"no message {message_id} from the bot in chat {chat_id}")
        query_id = self._new_id()
        self._callback_queries[query_id] = {"answered": False, "user_id": user_id, "created": time.monotonic()}
        query = {
            "id": query_id,
            "from": self._user(user_id),
            "message": current,
            "chat_instance": f"{chat_id * 7919 % 10**12}",
            "data": data,
        }
        return await self._inject({"callback_query": query})

    async def press_button(self, user_id: int, message: dict[str, Any] | int, label: str) -> dict[str, Any]:
        """Press the inline button whose text contains ``label`` (its callback_data is sent)."""
        chat_id, message_id = (
            (user_id, message) if isinstance(message, int) else (message["chat"]["id"], message["message_id"])
        )
        current = self._messages.get((chat_id, message_id)) or {}
        for row in current.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                if label in button["text"] and "callback_data" in button:
                    return await self.press(user_id, current, button["callback_data"])
        raise AssertionError(f"no callback button containing {label!r} under message {message_id} in chat {chat_id}")

    async def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Deliver a raw update (``update_id`` is filled in when missing)."""
        return await self._inject(update)

    async def resend(self, update: dict[str, Any]) -> None:
        """Deliver the very same update again (same update_id), as Telegram does after a failed delivery."""
        await self._inject(update, forced=True)

    async def _inject(self, update: dict[str, Any], *, forced: bool = False) -> dict[str, Any]:
        """Queue an update and wait until it was delivered to the webhook (or queued for polling)."""
        await self._enqueue(update, forced=forced)
        return update

    def _enqueue(self, update: dict[str, Any], *, forced: bool = False) -> asyncio.Future[None]:
        """Queue an update for delivery in order; the future completes once it is delivered.

        Updates caused by the bot's own API calls (approveChatJoinRequest, banChatMember...) are only
        enqueued: the bot may be inside a webhook request whose response the delivery worker waits for.
        """
        if self._outbox is None:
            raise RuntimeError("FakeBotAPI.start() was not called")
        update.setdefault("update_id", next(self._update_ids))
        self.updates.append(update)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((update, done, forced))
        return done

    # ================================================================ test side: what the bot did

    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message the bot sent to (or edited in) that chat, in order; edits carry ``_edited``."""
        return [m for m in self.sent if m["chat"]["id"] == chat_id]

    def texts_to(self, chat_id: int) -> list[str]:
        """The text or caption of each of ``messages_to(chat_id)`` ("" for media without caption, invoices)."""
        return [m.get("text") or m.get("caption") or "" for m in self.messages_to(chat_id)]

    def last_to(self, chat_id: int) -> dict[str, Any]:
        """The last message the bot sent to (or edited in) that chat."""
        messages = self.messages_to(chat_id)
        if not messages:
            raise AssertionError(f"the bot sent nothing to {chat_id}\n{self.summary()}")
        return messages[-1]

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """The params of every call of ``method`` (case-insensitive)."""
        return [p for m, p in self.calls if m.lower() == method.lower()]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll until ``predicate()`` holds, else fail with a summary of recent calls."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s\n{self.summary()}")
            await asyncio.sleep(0.005)

    def summary(self, last: int = 15) -> str:
        """Recent calls, errors and internal errors, for assertion messages."""
        lines = ["recent calls:"]
        for method, params in self.calls[-last:]:
            shown = {k: v for k, v in params.items() if k != "_files"}
            lines.append(f"  {method} {json.dumps(shown, ensure_ascii=False, default=str)[:300]}")
        if self.errors:
            lines.append("recent errors:")
            lines.extend(f"  {m}: {body['description']}" for m, _, body in self.errors[-5:])
        if self.webhook_errors:
            lines.append(f"webhook errors: {self.webhook_errors[-3:]}")
        lines.extend(f"FAKE CRASHED:\n{tb}" for tb in self.internal_errors[-2:])
        return "\n".join(lines)

    # ================================================================ update delivery

    @staticmethod
    def _update_type(update: dict[str, Any]) -> str:
        return next((k for k in update if k != "update_id"), "")

    def _allowed(self, update: dict[str, Any], allowed: list[str] | None) -> bool:
        kind = self._update_type(update)
        return kind in allowed if allowed else kind not in DEFAULT_EXCLUDED_UPDATES

    async def _deliver_loop(self) -> None:
        assert self._outbox is not None
        while True:
            update, done, forced = await self._outbox.get()
            try:
                if self.webhook is not None:
                    await self._post_to_webhook(update)
                else:
                    await self._enqueue_for_polling(_Queued(update, forced=forced))
            except Exception:
                self.internal_errors.append(traceback.format_exc())
            finally:
                if not done.done():
                    done.set_result(None)

    async def _enqueue_for_polling(self, queued: _Queued) -> None:
        assert self._poll_cond is not None
        async with self._poll_cond:
            self._queue.append(queued)
            self._poll_cond.notify_all()

    async def _post_to_webhook(self, update: dict[str, Any]) -> None:
        webhook = self.webhook
        assert webhook is not None and self._session is not None
        if not self._allowed(update, webhook.get("allowed_updates")):
            return
        headers = {"Content-Type": "application/json"}
        if webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
        body = _dumps(update).encode("utf-8")
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        for attempt in range(1 + self.webhook_retries):
            error: dict[str, Any] = {"update_id": update["update_id"], "attempt": attempt + 1, "date": self._now_ts()}
            try:
                async with self._session.post(webhook["url"], data=body, headers=headers, timeout=timeout) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        self.webhook_deliveries += 1
                        return
                    error["status"] = resp.status
                    error["message"] = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error["message"] = f"Connection failed: {exc!r}"
            self.webhook_errors.append(error)
            if attempt < self.webhook_retries:
                await asyncio.sleep(self.webhook_retry_delay)

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            self._queue = self._queue[offset:]
            return
        self._queue = [q for q in self._queue if q.update["update_id"] >= offset or (q.forced and not q.delivered)]

    def _ready(self, limit: int) -> list[_Queued]:
        self._queue = [q for q in self._queue if self._allowed(q.update, self._poll_allowed)]
        return self._queue[:limit]

    async def _m_getupdates(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
                "webhook first",
            )
        assert self._poll_cond is not None
        offset = get_int(p, "offset")
        limit = min(max(get_int(p, "limit") or 100, 1), 100)
        timeout = max(_number(p.get("timeout")), 0.0)
        allowed = get_json(p, "allowed_updates")
        if allowed is not None:
            self._poll_allowed = list(allowed) or None
        deadline = time.monotonic() + timeout
        async with self._poll_cond:
            self._poll_generation += 1  # an older long poll still waiting is terminated with 409
            generation = self._poll_generation
            self._poll_cond.notify_all()
            self._confirm(offset)
            while True:
                ready = self._ready(limit)
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closing:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poll_cond.wait(), remaining)
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
                        "is running",
                    )
            for q in ready:
                q.delivered = True
            return [q.update for q in ready]

    def _m_setwebhook(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        url = get_str(p, "url") or ""
        if not url:
            return self._m_deletewebhook(p, files, rec)
        parsed = URL(url)
        if parsed.scheme == "http" and parsed.host in _LOOPBACK:
            pass  # allowed here so that tests can run a plain-HTTP webhook
        elif parsed.scheme != "https" or not parsed.host:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if parsed.port not in (None, 443, 80, 88, 8443) and parsed.host not in _LOOPBACK:
            raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = get_str(p, "secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = get_json(p, "allowed_updates")
        if allowed is not None and not (isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)):
            raise bad_request("can't parse allowed_updates JSON object")
        drop = get_bool(p, "drop_pending_updates")
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "allowed_updates": allowed or None,
            "drop_pending_updates": drop,
            "max_connections": get_int(p, "max_connections") or 40,
        }
        pending, self._queue = ([] if drop else [q for q in self._queue if not q.delivered or q.forced]), []
        assert self._outbox is not None
        loop = asyncio.get_running_loop()
        for q in pending:  # Telegram hands the pending updates to the new webhook
            self._outbox.put_nowait((q.update, loop.create_future(), q.forced))
        if self._poll_cond is not None:
            self._poll_generation += 1
        return True

    def _m_deletewebhook(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        self.webhook = None
        if get_bool(p, "drop_pending_updates"):
            self._queue = []
        return True

    def _m_getwebhookinfo(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": 0 if self.webhook else len(self._queue),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.webhook_errors:
                info["last_error_date"] = self.webhook_errors[-1]["date"]
                info["last_error_message"] = self.webhook_errors[-1]["message"]
        return info

    # ================================================================ messages

    def _target_chat(self, p: dict[str, Any], *, send: bool = True) -> dict[str, Any]:
        """The chat named by ``chat_id``: a user who started the bot or a known group; else Telegram's errors."""
        raw = p.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        if chat_id in self.groups:
            group = self.groups[chat_id]
            if self.members.get(chat_id, {}).get(self.bot_id) in (None, "left", "kicked"):
                raise ApiError(403, f"Forbidden: bot is not a member of the {group['type']} chat")
            return self._group_chat(chat_id)
        if chat_id > 0 and send and chat_id in self.deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat_id > 0 and send and chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id > 0 and chat_id in self.started:
            return self._private_chat(chat_id)
        raise bad_request("chat not found")

    def _new_message(self, chat: dict[str, Any], p: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """Store a new bot message in ``chat`` with the common optional fields taken from ``p``."""
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat["id"]),
            "from": self.bot_user,
            "chat": chat,
            "date": self._now_ts(),
        }
        reply_to = self._reply_target(chat, p)
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        message.update({k: v for k, v in fields.items() if v not in (None, [], "")})
        if get_bool(p, "protect_content"):
            message["has_protected_content"] = True
        self._messages[(chat["id"], message["message_id"])] = message
        return message

    def _reply_target(self, chat: dict[str, Any], p: dict[str, Any]) -> dict[str, Any] | None:
        params = get_json(p, "reply_parameters")
        if isinstance(params, dict):
            message_id, allow = params.get("message_id"), bool(params.get("allow_sending_without_reply"))
        else:
            message_id, allow = get_int(p, "reply_to_message_id"), get_bool(p, "allow_sending_without_reply")
        if message_id is None:
            return None
        target = self._messages.get((chat["id"], int(message_id)))
        if target is None and not allow:
            raise bad_request("message to be replied not found")
        return target

    def _record(self, message: dict[str, Any], method: str, rec: dict[str, Any], *, edited: bool = False) -> None:
        entry = {**message, "_method": method, "_params": rec}
        if edited:
            entry["_edited"] = True
        self.sent.append(entry)

    def _text(self, p: dict[str, Any], field: str = "text", *, caption: bool = False) -> tuple[str, list[Any]]:
        text = get_str(p, field) or ""
        if caption and not text:
            return "", []
        entities_field = "caption_entities" if caption else "entities"
        return format_text(
            text,
            get_str(p, "parse_mode"),
            get_json(p, entities_field),
            caption=caption,
            strict_html=self.strict_html,
        )

    @staticmethod
    def _markup(p: dict[str, Any], *, invoice: bool = False) -> dict[str, Any] | None:
        return check_inline_keyboard(get_json(p, "reply_markup", what="reply keyboard markup"), invoice=invoice)

    def _m_sendmessage(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat = self._target_chat(p)
        text, entities = self._text(p)
        markup = self._markup(p)
        message = self._new_message(chat, p, {"text": text, "entities": entities, "reply_markup": markup})
        self._record(message, "sendMessage", rec)
        return message

    def _editable(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # inline mode is not supported by the fake
        chat = self._target_chat(p, send=False)
        message_id = get_int(p, "message_id", required=True, error="message identifier is not specified")
        message = self._messages.get((chat["id"], message_id or 0))
        if message is None or message["from"]["id"] != self.bot_id:
            raise bad_request("message to edit not found")
        return message

    def _apply_edit(self, message: dict[str, Any], changes: dict[str, Any], method: str, rec: dict[str, Any]) -> Any:
        def norm(value: Any) -> str:
            return markup_key(None if value in (None, [], "") else value)

        if all(norm(changes[k]) == norm(message.get(k)) for k in changes):
            raise bad_request(_NOT_MODIFIED)
        edited = {k: v for k, v in message.items() if k not in changes}
        edited.update({k: v for k, v in changes.items() if v not in (None, [], "")})
        edited["edit_date"] = self._now_ts()
        self._messages[(message["chat"]["id"], message["message_id"])] = edited
        self._record(edited, method, rec, edited=True)
        return edited

    def _m_editmessagetext(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        message = self._editable(p)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._text(p)
        markup = self._markup(p)
        changes = {"text": text, "entities": entities, "reply_markup": markup}
        return self._apply_edit(message, changes, "editMessageText", rec)

    def _m_editmessagecaption(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        message = self._editable(p)
        if "text" in message or "invoice" in message:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._text(p, "caption", caption=True)
        changes = {"caption": caption, "caption_entities": entities, "reply_markup": self._markup(p)}
        return self._apply_edit(message, changes, "editMessageCaption", rec)

    def _m_editmessagereplymarkup(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        message = self._editable(p)
        markup = self._markup(p, invoice="invoice" in message)
        return self._apply_edit(message, {"reply_markup": markup}, "editMessageReplyMarkup", rec)

    def _m_deletemessage(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat = self._target_chat(p, send=False)
        message_id = get_int(p, "message_id", required=True, error="message identifier is not specified") or 0
        if self._messages.pop((chat["id"], message_id), None) is None:
            raise bad_request("message to delete not found")
        self.deleted.append((chat["id"], message_id))
        return True

    def _m_answercallbackquery(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        query_id = get_str(p, "callback_query_id", required=True, empty_error=_QUERY_TOO_OLD) or ""
        query = self._callback_queries.get(query_id)
        if query is None or query["answered"]:
            raise bad_request(_QUERY_TOO_OLD)
        text = get_str(p, "text") or ""
        if len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query["answered"] = True
        self.answered_callbacks.append(
            {
                "id": query_id,
                "user_id": query["user_id"],
                "text": text or None,
                "show_alert": get_bool(p, "show_alert"),
                "url": get_str(p, "url"),
                "latency": time.monotonic() - query["created"],
            }
        )
        return True

    def _m_sendchataction(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat = self._target_chat(p)
        action = get_str(p, "action") or ""
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.chat_actions.append({"chat_id": chat["id"], "action": action})
        return True


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(value: Any) -> float:
    if value is None or value == "" or isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise bad_request("invalid timeout specified") from None
