"""A fake WeChat Official Account (公众号) API server (aiohttp) that validates requests like WeChat does.

The real client (:class:`bots.wechat.api.WeChatAPI`) talks to it over real
HTTP (``api_url=fake.base_url``); tests play the users (``user_wrote``,
``unfollow``, ``oauth_code``) and inspect what the bot did (``sent``,
``texts_to``, ``templates``, ``materials``, ``menu``, ``qrcodes``, ``calls``).

What it guarantees:

* the wire format: every API needs ``?access_token=`` (41001 missing, 40001
  invalid or replaced, 42001 expired); answers are JSON with ``errcode`` and
  ``errmsg`` (``0``/``"ok"`` on success, HTTP 200 either way); JSON bodies
  must be UTF-8, and ``\\uXXXX`` escapes are refused with 40033 as WeChat
  does for menus (so a client that sends them is caught);
* tokens: ``/cgi-bin/stable_token`` (POST JSON) returns the current token
  while it has more than 300 s left and a new one in its last 300 s (the old
  one stays valid until it expires); ``force_refresh`` issues a new one and
  invalidates the others. ``/cgi-bin/token`` (GET) always issues a new one
  and invalidates the others. Tokens are ``TOKEN-<n>``, 7200 s, on ``clock``;
* customer-service messages and their window: a send needs an inbound
  message (``user_wrote``) within 48 hours (else 45015) and at most 5 sends
  per inbound message (the 6th is 45047); unfollowed users get 43004, an
  openid that is not an openid 40003; text over 2048 UTF-8 bytes is 45002;
  image/voice/video need a media_id of that kind (40007);
* template messages (no window; 43004 still applies), materials (permanent
  and temporary, with WeChat's size and file-type limits; temporary media
  expire after 3 days), downloading temporary media (``/cgi-bin/media/get``:
  the file itself, or JSON 40007 for an unknown or expired media_id, as for an
  image a user sent: ``user_image``), the custom menu (WeChat's button counts, name, key
  and URL limits), QR codes and web OAuth codes (one-time, 5 minutes).

Knowingly simpler than WeChat: one app; errmsgs carry no ``rid``; tokens
replaced by ``force_refresh`` die at once (WeChat keeps them 5 minutes);
no call-frequency quotas; news/link/miniprogram/msgmenu messages are only
checked for their object being present; media contents are not inspected.

Fault injection: ``fail_next(path_suffix, errcode)`` answers the next call(s)
with that errcode; ``http_error_next(path_suffix, status)`` with an HTTP
error page. Both apply before the access_token is checked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from fakes.serving import serve_local

__all__ = ["Call", "FakeMP"]

TOKEN_LIFETIME = 7200
STABLE_RENEW_MARGIN = 300  # stable_token hands out a new token in the old one's last 300 s
WINDOW = timedelta(hours=48)
QUOTA_PER_INBOUND = 5
TEXT_LIMIT = 2048
TEMP_MEDIA_LIFETIME = timedelta(days=3)
OAUTH_CODE_LIFETIME = timedelta(minutes=5)
MSGTYPES = frozenset({"text", "image", "voice", "video", "news", "link", "miniprogrampage", "msgmenu", "mpnews"})
MENU_TYPES_NEEDING = {
    "click": ("key",),
    "scancode_push": ("key",),
    "scancode_waitmsg": ("key",),
    "pic_sysphoto": ("key",),
    "pic_photo_or_album": ("key",),
    "pic_weixin": ("key",),
    "location_select": ("key",),
    "view": ("url",),
    "miniprogram": ("url", "appid", "pagepath"),
    "media_id": ("media_id",),
    "view_limited": ("media_id",),
    "article_id": ("article_id",),
    "article_view_limited": ("article_id",),
}
# type -> (max bytes, allowed extensions) for permanent material and temporary media
MEDIA_LIMITS: dict[str, tuple[int, frozenset[str]]] = {
    "image": (10 * 1024 * 1024, frozenset({"bmp", "png", "jpeg", "jpg", "gif"})),
    "voice": (2 * 1024 * 1024, frozenset({"mp3", "wma", "wav", "amr"})),
    "video": (10 * 1024 * 1024, frozenset({"mp4"})),
    "thumb": (64 * 1024, frozenset({"jpg", "jpeg"})),
}
SIZE_ERRORS = {"image": 40009, "voice": 40010, "video": 40011, "thumb": 40012}
OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
# a JSON \uXXXX escape of a non-ASCII character (not an escaped backslash followed by "u";
# control characters are always escaped by JSON encoders, so \u0000-\u007f pass)
UNICODE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u(?!00[0-7])[0-9a-fA-F]{4}")


class MPError(Exception):
    """An errcode answer."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class Call:
    """One request the fake received (recorded before any validation)."""

    method: str
    path: str
    query: dict[str, str]
    body: bytes
    errcode: int | None = None  # what the fake answered (None: an HTTP error or a crash)


@dataclass
class _Token:
    value: str
    expires_at: datetime
    revoked: bool = False  # replaced (40001)
    expired: bool = False  # expired early by expire_tokens() (42001)


@dataclass
class _Fault:
    suffix: str
    times: int
    errcode: int = 0
    errmsg: str = ""
    status: int = 0


@dataclass
class _User:
    last_inbound: datetime | None = None
    sends_since_inbound: int = 0
    following: bool = True


@dataclass
class _OAuthCode:
    openid: str
    scope: str
    issued_at: datetime
    used: bool = False


@dataclass
class _Upload:
    filename: str
    data: bytes


@dataclass
class _Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, _Upload] = field(default_factory=dict)


Handler = Callable[[web.Request, "Call"], Awaitable[dict[str, Any]]]


class FakeMP:
    """An in-process WeChat MP API server; see the module docstring for what it guarantees."""

    def __init__(
        self,
        *,
        app_id: str = "wx0123456789abcdef",
        app_secret: str = "s" * 32,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.base_url = ""
        self.port = 0
        # tokens
        self.token_requests = 0  # stable_token and token calls that issued or returned a token
        self.force_refreshes = 0
        self._tokens: dict[str, _Token] = {}
        self._current: str | None = None
        self._token_ids = itertools.count(1)
        # what the bot did
        self.calls: list[Call] = []
        self.errors: list[tuple[str, int, str]] = []
        self.internal_errors: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.templates: list[dict[str, Any]] = []
        self.known_templates: set[str] = set()  # empty: any non-empty template_id is accepted
        self.materials: dict[str, tuple[str, str, str]] = {}  # media_id -> (kind, sha256, filename)
        self.material_descriptions: dict[str, dict[str, Any]] = {}  # video media_id -> description
        self.material_uploads = 0
        self.temp_media: dict[str, tuple[str, str, str]] = {}
        self.temp_uploads = 0
        self.media_data: dict[str, bytes] = {}  # temporary media_id -> its bytes (what /cgi-bin/media/get serves)
        self.media_downloads = 0
        self.menu: dict[str, Any] | None = None
        self.menu_creates = 0
        self.qrcodes: dict[str, dict[str, Any]] = {}  # ticket -> {"scene", "action_name", "expire_seconds", ...}
        self.scenes: list[str] = []
        # users
        self.users: dict[str, _User] = {}
        self._oauth_codes: dict[str, _OAuthCode] = {}
        # internals
        self._temp_created: dict[str, datetime] = {}
        self._msgids = itertools.count(1_000_001)
        self._media_ids = itertools.count(1)
        self._faults: list[_Fault] = []
        self._runner: web.AppRunner | None = None

    # ================================================================ lifecycle

    def install(self, app: web.Application) -> None:
        """Add the fake's routes to ``app`` (which may carry other fakes too); set ``base_url`` yourself."""
        routes: list[tuple[str, str, Handler, bool]] = [
            ("POST", "/cgi-bin/stable_token", self._stable_token, False),
            ("GET", "/cgi-bin/token", self._token, False),
            ("POST", "/cgi-bin/message/custom/send", self._custom_send, True),
            ("POST", "/cgi-bin/message/template/send", self._template_send, True),
            ("POST", "/cgi-bin/material/add_material", self._add_material, True),
            ("POST", "/cgi-bin/media/upload", self._media_upload, True),
            ("POST", "/cgi-bin/menu/create", self._menu_create, True),
            ("GET", "/cgi-bin/menu/get", self._menu_get, True),
            ("GET", "/cgi-bin/menu/delete", self._menu_delete, True),
            ("POST", "/cgi-bin/qrcode/create", self._qrcode_create, True),
            ("GET", "/sns/oauth2/access_token", self._oauth_access_token, False),
        ]
        for method, path, handler, needs_token in routes:
            app.router.add_route(method, path, self._wrap(handler, needs_token))
        app.router.add_route("GET", "/cgi-bin/media/get", self._media_get)

    async def start(self) -> str:
        """Serve on a free 127.0.0.1 port; the base URL (``http://127.0.0.1:PORT``)."""
        app = web.Application(client_max_size=32 * 1024 * 1024)
        self.install(app)
        self._runner, self.port = await serve_local(app)
        self.base_url = f"http://127.0.0.1:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeMP:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ================================================================ test side

    def user_wrote(self, openid: str) -> None:
        """The user sent the account a message now: opens the 48-hour window with a fresh quota of 5."""
        user = self.users.setdefault(openid, _User())
        user.following = True
        user.last_inbound = self.clock()
        user.sends_since_inbound = 0

    def user_image(self, openid: str, data: bytes, *, filename: str = "photo.jpg") -> str:
        """The user sent the account an image: WeChat keeps it as temporary media; its MediaId.

        (Post the image message to the bot yourself, e.g. ``WxUser.send_image``.)
        """
        media_id = self._new_media_id("IMG")
        self.temp_media[media_id] = ("image", hashlib.sha256(data).hexdigest(), filename)
        self._temp_created[media_id] = self._now()
        self.media_data[media_id] = data
        return media_id

    def follow(self, openid: str) -> None:
        self.users.setdefault(openid, _User()).following = True

    def unfollow(self, openid: str) -> None:
        """The user unfollowed: every message to them is 43004 until they write again."""
        self.users.setdefault(openid, _User()).following = False

    def oauth_code(self, openid: str, *, scope: str = "snsapi_base") -> str:
        """A one-time web-authorisation code for ``openid`` (valid 5 minutes on the clock)."""
        code = secrets.token_urlsafe(24)
        self._oauth_codes[code] = _OAuthCode(openid, scope, self.clock())
        return code

    def invalidate_tokens(self) -> None:
        """Every token issued so far is refused with 40001 (as after another fetch with force_refresh)."""
        for token in self._tokens.values():
            token.revoked = True
        self._current = None

    def expire_tokens(self) -> None:
        """Every token issued so far is refused with 42001."""
        for token in self._tokens.values():
            token.expired = True
        self._current = None

    @property
    def current_token(self) -> str | None:
        """The token stable_token would hand out now (None if it would issue a new one)."""
        token = self._tokens.get(self._current or "")
        return token.value if token is not None and self._valid(token) else None

    @property
    def issued_tokens(self) -> list[str]:
        return list(self._tokens)

    def fail_next(self, path_suffix: str, errcode: int, errmsg: str = "injected", times: int = 1) -> None:
        """The next ``times`` calls whose path ends with ``path_suffix`` answer ``errcode``."""
        self._faults.append(_Fault(path_suffix, times, errcode=errcode, errmsg=errmsg))

    def http_error_next(self, path_suffix: str, status: int = 502, times: int = 1) -> None:
        """The next ``times`` calls whose path ends with ``path_suffix`` answer HTTP ``status`` (an HTML page)."""
        self._faults.append(_Fault(path_suffix, times, status=status))

    def messages_to(self, openid: str) -> list[dict[str, Any]]:
        """Every customer-service message sent to ``openid`` (the request bodies), in order."""
        return [m for m in self.sent if m.get("touser") == openid]

    def texts_to(self, openid: str) -> list[str]:
        """The contents of the text messages sent to ``openid`` (other kinds are left out)."""
        return [m["text"]["content"] for m in self.messages_to(openid) if m.get("msgtype") == "text"]

    def templates_to(self, openid: str) -> list[dict[str, Any]]:
        return [t for t in self.templates if t.get("touser") == openid]

    def calls_to(self, path_suffix: str) -> list[Call]:
        return [c for c in self.calls if c.path.endswith(path_suffix)]

    async def wait_sent(self, openid: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages were sent to ``openid``; those messages."""
        deadline = time.monotonic() + timeout
        while len(self.messages_to(openid)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.messages_to(openid))} of {count} messages to {openid} within {timeout}s\n"
                    + self.summary()
                )
            await asyncio.sleep(0.005)
        return self.messages_to(openid)

    def summary(self, last: int = 15) -> str:
        """Recent calls and errors, for assertion messages."""
        lines = ["recent calls:"]
        for c in self.calls[-last:]:
            lines.append(f"  {c.method} {c.path} -> {c.errcode} {c.body[:200]!r}")
        if self.errors:
            lines.append("errors:")
            lines += [f"  {path}: {code} {msg}" for path, code, msg in self.errors[-last:]]
        if self.internal_errors:
            lines.append("FAKE CRASHED:")
            lines += self.internal_errors[-3:]
        return "\n".join(lines)

    # ================================================================ HTTP plumbing

    def _wrap(self, handler: Handler, needs_token: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            call = Call(request.method, request.path, dict(request.query), body)
            self.calls.append(call)
            fault = self._take_fault(request.path)
            try:
                if fault is not None and fault.status:
                    return web.Response(status=fault.status, text=f"<html><body>{fault.status}</body></html>")
                if fault is not None:
                    raise MPError(fault.errcode, fault.errmsg)
                if needs_token:
                    self._check_token(request.query.get("access_token"))
                result = await handler(request, call)
            except MPError as exc:
                call.errcode = exc.errcode
                self.errors.append((request.path, exc.errcode, exc.errmsg))
                return _json({"errcode": exc.errcode, "errmsg": exc.errmsg})
            except Exception as exc:  # a bug in the fake: make it loud
                self.internal_errors.append(traceback.format_exc())
                return web.Response(status=500, text=f"fake crashed: {exc!r}")
            call.errcode = int(result.get("errcode", 0))
            return _json(result)

        return endpoint

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.times > 0 and path.endswith(fault.suffix):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _json_body(call: Call) -> dict[str, Any]:
        if UNICODE_ESCAPE.search(call.body):
            raise MPError(40033, "invalid charset. please check your request, if include \\uxxxx will create fail!")
        try:
            value = json.loads(call.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise MPError(47001, "data format error") from None
        if not isinstance(value, dict):
            raise MPError(47001, "data format error")
        return value

    @staticmethod
    def _form(request: web.Request, call: Call) -> _Form:
        """The multipart/form-data body (already read into ``call.body``): fields and files."""
        boundary = request.content_type == "multipart/form-data" and _param(
            request.headers.get("Content-Type", ""), "boundary"
        )
        if not boundary:
            raise MPError(41005, "media data missing")
        delimiter = b"\r\n--" + boundary.encode("latin-1")
        chunks = (b"\r\n" + call.body).split(delimiter)
        if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
            raise MPError(47001, "data format error: broken multipart body")
        form = _Form()
        for chunk in chunks[1:-1]:
            head, sep, data = chunk.partition(b"\r\n\r\n")
            if not sep:
                raise MPError(47001, "data format error: broken multipart part")
            headers = {}
            for line in head.decode("utf-8").split("\r\n"):
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            disposition = headers.get("content-disposition", "")
            name = _param(disposition, "name")
            if not name:
                continue
            filename = _param(disposition, "filename")
            if filename is not None:
                form.files[name] = _Upload(filename, data)
            else:
                form.fields[name] = data.decode("utf-8")
        return form

    # ================================================================ tokens

    def _now(self) -> datetime:
        return self.clock()

    def _valid(self, token: _Token) -> bool:
        return not token.revoked and not token.expired and self._now() < token.expires_at

    def _check_token(self, value: str | None) -> None:
        if not value:
            raise MPError(41001, "access_token missing")
        token = self._tokens.get(value)
        if token is None or token.revoked:
            raise MPError(40001, "invalid credential, access_token is invalid or not latest")
        if token.expired or self._now() >= token.expires_at:
            raise MPError(42001, "access_token expired")

    def _check_app(self, appid: Any, secret: Any) -> None:
        if appid != self.app_id:
            raise MPError(40013, "invalid appid")
        if secret != self.app_secret:
            raise MPError(40125, "invalid appsecret")

    def _issue(self, *, revoke_others: bool) -> _Token:
        if revoke_others:
            for old in self._tokens.values():
                old.revoked = True
        token = _Token(f"TOKEN-{next(self._token_ids)}", self._now() + timedelta(seconds=TOKEN_LIFETIME))
        self._tokens[token.value] = token
        self._current = token.value
        return token

    def _token_answer(self, token: _Token) -> dict[str, Any]:
        remaining = int((token.expires_at - self._now()).total_seconds())
        return {"access_token": token.value, "expires_in": remaining}

    async def _stable_token(self, request: web.Request, call: Call) -> dict[str, Any]:
        body = self._json_body(call)
        if body.get("grant_type") != "client_credential":
            raise MPError(40002, "invalid grant_type")
        self._check_app(body.get("appid"), body.get("secret"))
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            raise MPError(40097, "invalid args: force_refresh must be a boolean")
        self.token_requests += 1
        if force:
            self.force_refreshes += 1
            return self._token_answer(self._issue(revoke_others=True))
        current = self._tokens.get(self._current or "")
        if (
            current is not None
            and self._valid(current)
            and (current.expires_at - self._now()).total_seconds() > STABLE_RENEW_MARGIN
        ):
            return self._token_answer(current)
        return self._token_answer(self._issue(revoke_others=False))

    async def _token(self, request: web.Request, call: Call) -> dict[str, Any]:
        q = request.query
        if q.get("grant_type") != "client_credential":
            raise MPError(40002, "invalid grant_type")
        self._check_app(q.get("appid"), q.get("secret"))
        self.token_requests += 1
        return self._token_answer(self._issue(revoke_others=True))

    # ================================================================ messages

    def _recipient(self, openid: Any) -> _User:
        if not isinstance(openid, str) or not OPENID.match(openid):
            raise MPError(40003, "invalid openid")
        user = self.users.setdefault(openid, _User())
        if not user.following:
            raise MPError(43004, "require subscribe")
        return user

    def _media(self, media_id: Any, kind: str) -> None:
        if not isinstance(media_id, str) or not media_id:
            raise MPError(41006, "media_id missing")
        found = self.materials.get(media_id)
        if (
            found is None
            and media_id in self.temp_media
            and self._now() - self._temp_created[media_id] < TEMP_MEDIA_LIFETIME
        ):
            found = self.temp_media[media_id]
        if found is None or found[0] != kind:
            raise MPError(40007, "invalid media_id")

    async def _custom_send(self, request: web.Request, call: Call) -> dict[str, Any]:
        body = self._json_body(call)
        user = self._recipient(body.get("touser"))
        msgtype = body.get("msgtype")
        if msgtype not in MSGTYPES:
            raise MPError(40008, "invalid message type")
        content = body.get(msgtype)
        if not isinstance(content, dict):
            raise MPError(47001, f"data format error: {msgtype} object missing")
        if msgtype == "text":
            text = content.get("content")
            if not isinstance(text, str) or not text:
                raise MPError(44004, "empty content")
            if len(text.encode("utf-8")) > TEXT_LIMIT:
                raise MPError(45002, "content size out of limit")
        elif msgtype in ("image", "voice", "video"):
            self._media(content.get("media_id"), msgtype)
        now = self._now()
        if user.last_inbound is None or now - user.last_inbound > WINDOW:
            raise MPError(45015, "response out of time limit or subscription is canceled")
        if user.sends_since_inbound >= QUOTA_PER_INBOUND:
            raise MPError(45047, "out of response count limit")
        user.sends_since_inbound += 1
        self.sent.append(body)
        return {"errcode": 0, "errmsg": "ok"}

    async def _template_send(self, request: web.Request, call: Call) -> dict[str, Any]:
        body = self._json_body(call)
        self._recipient(body.get("touser"))
        template_id = body.get("template_id")
        if not isinstance(template_id, str) or not template_id:
            raise MPError(40037, "invalid template_id")
        if self.known_templates and template_id not in self.known_templates:
            raise MPError(40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            raise MPError(47001, "data format error")
        url = body.get("url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise MPError(40039, "invalid url size")
        msgid = next(self._msgids)
        self.templates.append({**body, "msgid": msgid})
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    # ================================================================ media

    async def _upload(self, request: web.Request, call: Call) -> tuple[str, _Upload, str, _Form]:
        kind = request.query.get("type", "")
        if kind not in MEDIA_LIMITS:
            raise MPError(40004, "invalid media type")
        form = self._form(request, call)
        upload = form.files.get("media")
        if upload is None or not upload.data:
            raise MPError(41005, "media data missing")
        limit, extensions = MEDIA_LIMITS[kind]
        extension = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        if extension not in extensions:
            raise MPError(40005, "invalid file type")
        if len(upload.data) > limit:
            raise MPError(SIZE_ERRORS[kind], f"invalid {kind} size")
        return kind, upload, hashlib.sha256(upload.data).hexdigest(), form

    def _new_media_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._media_ids)}-{secrets.token_hex(4)}"

    async def _add_material(self, request: web.Request, call: Call) -> dict[str, Any]:
        kind, upload, digest, form = await self._upload(request, call)
        description: dict[str, Any] | None = None
        if kind == "video":
            try:
                description = json.loads(form.fields["description"])
            except (KeyError, ValueError):
                description = None
            if not isinstance(description, dict) or not isinstance(description.get("title"), str):
                raise MPError(40007, "invalid description: video material needs a JSON title and introduction")
            if not description["title"]:
                raise MPError(45003, "title size out of limit")
        media_id = self._new_media_id("MAT")
        self.materials[media_id] = (kind, digest, upload.filename)
        if description is not None:
            self.material_descriptions[media_id] = description
        self.material_uploads += 1
        answer: dict[str, Any] = {"media_id": media_id}
        if kind == "image":
            answer["url"] = f"http://mmbiz.qpic.cn/mmbiz_jpg/{media_id}/0"
        return answer

    async def _media_get(self, request: web.Request) -> web.StreamResponse:
        """``GET /cgi-bin/media/get``: the file (not JSON) on success; WeChat's JSON error otherwise."""
        call = Call(request.method, request.path, dict(request.query), b"")
        self.calls.append(call)
        fault = self._take_fault(request.path)
        try:
            if fault is not None and fault.status:
                return web.Response(status=fault.status, text=f"<html><body>{fault.status}</body></html>")
            if fault is not None:
                raise MPError(fault.errcode, fault.errmsg)
            self._check_token(request.query.get("access_token"))
            media_id = request.query.get("media_id", "")
            if not media_id:
                raise MPError(41006, "media_id missing")
            created = self._temp_created.get(media_id)
            if media_id not in self.media_data or created is None or self._now() - created >= TEMP_MEDIA_LIFETIME:
                raise MPError(40007, "invalid media_id")
        except MPError as exc:
            call.errcode = exc.errcode
            self.errors.append((request.path, exc.errcode, exc.errmsg))
            return _json({"errcode": exc.errcode, "errmsg": exc.errmsg})
        call.errcode = 0
        self.media_downloads += 1
        filename = self.temp_media[media_id][2]
        return web.Response(
            body=self.media_data[media_id],
            content_type="image/jpeg",
            headers={"Content-disposition": f'attachment; filename="{filename}"'},
        )

    async def _media_upload(self, request: web.Request, call: Call) -> dict[str, Any]:
        kind, upload, digest, _ = await self._upload(request, call)
        media_id = self._new_media_id("TMP")
        self.media_data[media_id] = upload.data
        self.temp_media[media_id] = (kind, digest, upload.filename)
        self._temp_created[media_id] = self._now()
        self.temp_uploads += 1
        key = "thumb_media_id" if kind == "thumb" else "media_id"
        return {"type": kind, key: media_id, "created_at": int(self._now().timestamp())}

    # ================================================================ menu

    async def _menu_create(self, request: web.Request, call: Call) -> dict[str, Any]:
        body = self._json_body(call)
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise MPError(40017, "invalid button size")
        for button in buttons:
            if not isinstance(button, dict):
                raise MPError(47001, "data format error")
            _check_name(button, 16, 40018)
            subs = button.get("sub_button")
            if subs:  # a top button with a submenu has no action of its own
                if not isinstance(subs, list) or len(subs) > 5:
                    raise MPError(40023, "invalid sub button size")
                for sub in subs:
                    if not isinstance(sub, dict):
                        raise MPError(47001, "data format error")
                    _check_name(sub, 60, 40025)
                    _check_action(sub, sub_level=True)
            else:
                _check_action(button, sub_level=False)
        self.menu = body
        self.menu_creates += 1
        return {"errcode": 0, "errmsg": "ok"}

    async def _menu_get(self, request: web.Request, call: Call) -> dict[str, Any]:
        if self.menu is None:
            raise MPError(46003, "menu no exist")
        return {"menu": json.loads(json.dumps(self.menu))}

    async def _menu_delete(self, request: web.Request, call: Call) -> dict[str, Any]:
        self.menu = None
        return {"errcode": 0, "errmsg": "ok"}

    # ================================================================ QR codes

    async def _qrcode_create(self, request: web.Request, call: Call) -> dict[str, Any]:
        body = self._json_body(call)
        action = body.get("action_name")
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            raise MPError(40097, "invalid args: action_name")
        scene = (body.get("action_info") or {}).get("scene") or {}
        if action.endswith("STR_SCENE"):
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                raise MPError(40097, "invalid args: scene_str must be 1-64 characters")
        else:
            value = scene.get("scene_id")
            limit = 100_000 if action == "QR_LIMIT_SCENE" else 2**32 - 1
            if not isinstance(value, int) or not 1 <= value <= limit:
                raise MPError(40097, "invalid args: scene_id")
        permanent = action.startswith("QR_LIMIT")
        expire: int | None = None
        if not permanent:
            expire = body.get("expire_seconds", 60)
            if not isinstance(expire, int) or not 1 <= expire <= 2_592_000:
                raise MPError(40097, "invalid args: expire_seconds")
        raw = f"http://weixin.qq.com/q/{secrets.token_urlsafe(16)}".encode() + secrets.token_bytes(8)
        ticket = "gQ" + base64.b64encode(raw).decode("ascii")  # like WeChat's: may hold "+", "/" and "="
        self.qrcodes[ticket] = {
            "scene": value,
            "action_name": action,
            "permanent": permanent,
            "expire_seconds": expire,
            "created_at": self._now(),
        }
        self.scenes.append(str(value))
        answer: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{secrets.token_urlsafe(12)}"}
        if expire is not None:
            answer["expire_seconds"] = expire
        return answer

    # ================================================================ web OAuth

    async def _oauth_access_token(self, request: web.Request, call: Call) -> dict[str, Any]:
        q = request.query
        self._check_app(q.get("appid"), q.get("secret"))
        if q.get("grant_type") != "authorization_code":
            raise MPError(40002, "invalid grant_type")
        code = q.get("code")
        if not code:
            raise MPError(41008, "missing code")
        entry = self._oauth_codes.get(code)
        if entry is None:
            raise MPError(40029, "invalid code")
        if entry.used:
            raise MPError(40163, "code been used")
        if self._now() - entry.issued_at > OAUTH_CODE_LIFETIME:
            raise MPError(42003, "code expired")
        entry.used = True
        return {
            "access_token": f"OAUTH-{secrets.token_hex(8)}",
            "expires_in": 7200,
            "refresh_token": f"REFRESH-{secrets.token_hex(8)}",
            "openid": entry.openid,
            "scope": entry.scope,
            "is_snapshotuser": 0,
        }


def _json(value: dict[str, Any]) -> web.Response:
    return web.Response(
        body=json.dumps(value, ensure_ascii=False).encode("utf-8"), content_type="application/json", charset="utf-8"
    )


def _param(header: str, name: str) -> str | None:
    """A parameter of a header like ``form-data; name="media"; filename="a.png"`` (percent-decoded)."""
    match = re.search(rf'(?:^|;)\s*{name}="([^"]*)"', header) or re.search(rf"(?:^|;)\s*{name}=([^;\s]+)", header)
    return unquote(match.group(1)) if match else None


def _check_name(button: dict[str, Any], limit: int, errcode: int) -> None:
    name = button.get("name")
    if not isinstance(name, str) or not name or len(name.encode("utf-8")) > limit:
        raise MPError(errcode, "invalid button name size")


def _check_action(button: dict[str, Any], *, sub_level: bool) -> None:
    kind = button.get("type")
    needs = MENU_TYPES_NEEDING.get(kind) if isinstance(kind, str) else None
    if needs is None:
        raise MPError(40024 if sub_level else 40015, "invalid button type")
    for name in needs:
        value = button.get(name)
        if not isinstance(value, str) or not value:
            if name == "key":
                raise MPError(40026 if sub_level else 40019, "invalid button key size")
            if name == "url":
                raise MPError(40027 if sub_level else 40020, "invalid button url size")
            raise MPError(40097, f"invalid args: {name} missing")
    key = button.get("key")
    if "key" in needs and isinstance(key, str) and len(key.encode("utf-8")) > 128:
        raise MPError(40026 if sub_level else 40019, "invalid button key size")
    url = button.get("url")
    if (
        "url" in needs
        and isinstance(url, str)
        and (len(url.encode("utf-8")) > 1024 or not url.startswith(("http://", "https://")))
    ):
        raise MPError(40027 if sub_level else 40020, "invalid button url size")
