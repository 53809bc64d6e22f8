"""An async client of the WeChat Official Account (公众号) HTTP API (aiohttp).

The contract, and why:

* **One access_token per app, shared by every process.** WeChat keeps only a
  few tokens alive per app and refreshing is rate-limited, so every process
  reads the token from the :class:`core.ports.KeyValueStore` (Redis in
  production) under ``wechat:token:<app_id>`` (``{"token", "expires_at"}``,
  epoch seconds from the injected clock). A process fetches a new one only
  when less than :data:`REFRESH_MARGIN` (300 s) of life is left, holding the
  lock ``wechat:token-lock:<app_id>``; the others wait briefly for it to appear
  in the store and fetch themselves only if the holder died. Tokens come from
  ``/cgi-bin/stable_token`` (which hands every caller the same token, so even
  the fallback fetch does not invalidate anyone's), and inside one process
  concurrent callers share one fetch.
* **Refresh once.** A token error (:data:`TOKEN_CODES`) on a call means the
  token was replaced or expired early: the client refreshes (taking a token
  another process already fetched if there is one, else ``force_refresh``) and
  retries that call once. A second token error is raised, never looped on.
* **Window errors are "deferred", not failures.** Customer-service messages
  only reach a user within 48 hours of their last message, and only a few per
  message they sent. :class:`WindowClosed` (45015, 45047) tells the caller to
  keep the message for the user's next visit or fall back to a template
  message; :class:`NotFollowing` (43004, 40003) means the user cannot be
  reached at all.
* **Transient failures are retried.** Network errors, timeouts, HTTP 5xx and
  errcode -1 ("system busy") are retried twice (after 0.2 s and 0.5 s); then
  :class:`WeChatAPIError` with errcode -1 is raised. A retried send may in rare
  cases deliver twice (the first reached WeChat but its answer was lost); a
  duplicate is preferred to a lost purchase confirmation.
* **Downloads are bounded.** :meth:`WeChatAPI.get_media` (an image a user
  sent, by its MediaId) reads at most the caller's limit plus one byte, and
  WeChat's JSON error in place of the file raises like any other call.
* **UTF-8 on the wire.** JSON bodies are sent with ``ensure_ascii=False``:
  WeChat shows ``\\uXXXX`` escapes literally or refuses them (40033).
* **Secrets stay secret.** The access_token travels in the query string and
  the app secret in request bodies (and the OAuth query): neither is ever
  logged or put into an exception (only the API path and errcode are logged,
  and WeChat's ``errmsg`` and network error texts are scrubbed of both).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from core.clock import Clock
from core.ports import KeyValueStore

__all__ = [
    "MEDIA_KINDS",
    "NOT_FOLLOWING_CODES",
    "REFRESH_MARGIN",
    "TOKEN_CODES",
    "WINDOW_CODES",
    "AccessTokens",
    "NotFollowing",
    "WeChatAPI",
    "WeChatAPIError",
    "WindowClosed",
]

log = logging.getLogger(__name__)

WINDOW_CODES = frozenset({45015, 45047})  # outside the 48-hour window / per-inbound quota used up
TOKEN_CODES = frozenset({40001, 40014, 42001})  # invalid / not the latest / expired access_token
NOT_FOLLOWING_CODES = frozenset({43004, 40003})  # the user unfollowed / the openid is not this app's
MEDIA_KINDS = frozenset({"image", "voice", "video", "thumb"})
REFRESH_MARGIN = 300.0  # seconds of life left below which a token is refreshed
SYSTEM_BUSY = -1
RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5)

FormSource = aiohttp.FormData | Callable[[], aiohttp.FormData]


class WeChatAPIError(Exception):
    """WeChat answered with a non-zero ``errcode`` (or could not be reached: errcode -1)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        super().__init__(f"WeChat API error {errcode}: {errmsg}")


class WindowClosed(WeChatAPIError):
    """The customer-service window is closed (45015) or its quota is used up (45047): defer, do not fail."""


class NotFollowing(WeChatAPIError):
    """The user unfollowed (43004) or the openid is not this app's (40003)."""


def error_for(errcode: int, errmsg: str) -> WeChatAPIError:
    """The exception class that matches ``errcode``."""
    if errcode in WINDOW_CODES:
        return WindowClosed(errcode, errmsg)
    if errcode in NOT_FOLLOWING_CODES:
        return NotFollowing(errcode, errmsg)
    return WeChatAPIError(errcode, errmsg)


_CREDENTIAL_PARAM = re.compile(r"((?:access_token|secret)=)[^&\s\"']+")


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without the given secrets or any ``access_token=...`` / ``secret=...`` parameter value."""
    text = _CREDENTIAL_PARAM.sub(r"\1***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _errcode(body: dict[str, Any]) -> int:
    try:
        return int(body.get("errcode") or 0)
    except (TypeError, ValueError):
        return SYSTEM_BUSY


async def _exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    path: str,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    form: FormSource | None = None,
    secrets: tuple[str, ...] = (),
    delays: tuple[float, ...] = RETRY_DELAYS,
) -> dict[str, Any]:
    """One API request with the transient-failure retries; the parsed JSON body (errcode not checked,
    except -1 which is retried like a 5xx and raised as WeChatAPIError(-1) at the end).
    """
    headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else None
    last = "no attempt"
    for attempt in range(len(delays) + 1):
        if attempt:
            log.warning("wechat %s: %s; retry %d in %.1f s", path, last, attempt, delays[attempt - 1])
            await asyncio.sleep(delays[attempt - 1])
        data: Any = body
        if form is not None:
            data = form() if callable(form) and not isinstance(form, aiohttp.FormData) else form
        try:
            async with session.request(method, url, params=params, data=data, headers=headers) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            last = _scrub(f"{type(exc).__name__}: {exc}", secrets) if str(exc) else type(exc).__name__
            continue
        if status >= 500:
            last = f"HTTP {status}"
            continue
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            parsed = None
        if not isinstance(parsed, dict):
            log.error("wechat %s: unreadable response (HTTP %d)", path, status)
            raise WeChatAPIError(SYSTEM_BUSY, f"unreadable response from {path} (HTTP {status})")
        if _errcode(parsed) == SYSTEM_BUSY:
            last = "errcode -1 (system busy)"
            continue
        return parsed
    log.error("wechat %s: giving up after %d attempts: %s", path, len(delays) + 1, last)
    raise WeChatAPIError(SYSTEM_BUSY, f"{path} failed after {len(delays) + 1} attempts: {last}")


class AccessTokens:
    """One access_token per app, shared by every process through the KeyValueStore (Redis in production)."""

    lock_ttl = 30.0  # seconds a fetching process holds the lock at most
    peer_wait = 5.0  # seconds a process waits for the lock holder's token before fetching itself
    poll_interval = 0.05

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_url: str,
        kv: KeyValueStore,
        clock: Clock,
        http: Callable[[], aiohttp.ClientSession],
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.api_url = api_url.rstrip("/")
        self.kv = kv
        self.clock = clock
        self._http = http
        self.state_key = f"wechat:token:{app_id}"
        self.lock_key = f"wechat:token-lock:{app_id}"
        self.retry_delays = RETRY_DELAYS
        self._memo: tuple[str, float] | None = None  # (token, expires_at epoch seconds)
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never show the secret or the token
        return f"AccessTokens(app_id={self.app_id!r})"

    async def get(self) -> str:
        """A token with more than REFRESH_MARGIN seconds of life left."""
        token = self._fresh_memo(stale=None)
        if token is not None:
            return token
        return await self._obtain(stale=None)

    async def refresh(self, stale: str | None = None) -> str:
        """After ``stale`` was refused (40001/40014/42001): another process's newer token, else a new one."""
        return await self._obtain(stale=stale)

    # --- internals ---------------------------------------------------------

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _usable(self, token: str, expires_at: float, stale: str | None) -> bool:
        return token != stale and expires_at - self._now() > REFRESH_MARGIN

    def _fresh_memo(self, stale: str | None) -> str | None:
        if self._memo is not None and self._usable(*self._memo, stale):
            return self._memo[0]
        return None

    async def _shared(self, stale: str | None) -> str | None:
        """The token in the store, if it is usable (and not ``stale``)."""
        state = await self._kv_get()
        if not state:
            return None
        token, expires_at = state.get("token"), state.get("expires_at")
        if not isinstance(token, str) or not token or not isinstance(expires_at, int | float):
            return None
        if not self._usable(token, float(expires_at), stale):
            return None
        self._memo = (token, float(expires_at))
        return token

    async def _obtain(self, stale: str | None) -> str:
        async with self._lock:  # one fetch per process, however many callers are waiting
            token = self._fresh_memo(stale) or await self._shared(stale)
            if token is not None:
                return token
            lock = await self._kv_lock()
            if lock is not None:
                try:
                    token = await self._shared(stale)  # a peer may have finished just before
                    if token is None:
                        token = await self._fetch(stale)
                finally:
                    await self._kv_unlock(lock)
                return token
            token = await self._wait_for_peer(stale)
            if token is not None:
                return token
            log.warning(
                "wechat token for %s: no token from the lock holder in %.0f s; fetching", self.app_id, self.peer_wait
            )
            return await self._fetch(stale)

    async def _wait_for_peer(self, stale: str | None) -> str | None:
        deadline = time.monotonic() + self.peer_wait  # real waiting time, not token expiry
        while time.monotonic() < deadline:
            await asyncio.sleep(self.poll_interval)
            token = await self._shared(stale)
            if token is not None:
                return token
        return None

    async def _fetch(self, stale: str | None) -> str:
        token, expires_in = await self._stable_token(force=False)
        if stale is not None and token == stale:
            # WeChat still considers the refused token current: ask for a new one explicitly.
            token, expires_in = await self._stable_token(force=True)
            if token == stale:
                log.warning("wechat token for %s: force_refresh returned the same token", self.app_id)
        expires_at = self._now() + expires_in
        self._memo = (token, expires_at)
        await self._kv_set({"token": token, "expires_at": expires_at}, ttl=max(1.0, float(expires_in)))
        log.info("wechat token for %s refreshed (expires in %d s)", self.app_id, expires_in)
        return token

    async def _stable_token(self, *, force: bool) -> tuple[str, int]:
        path = "/cgi-bin/stable_token"
        payload = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self._secret,
            "force_refresh": force,
        }
        body = await _exchange(
            self._http(),
            "POST",
            self.api_url + path,
            path=path,
            body=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            secrets=(self._secret,),
            delays=self.retry_delays,
        )
        errcode = _errcode(body)
        token = body.get("access_token")
        if errcode or not isinstance(token, str) or not token:
            errcode = errcode or SYSTEM_BUSY
            log.error("wechat %s: errcode %s", path, errcode)
            errmsg = _scrub(str(body.get("errmsg") or "no access_token in the response"), (self._secret,))
            raise WeChatAPIError(errcode, errmsg)
        try:
            expires_in = int(body.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        return token, expires_in

    # The store is an optimisation: if it is down, every process still gets the same
    # token from stable_token, so failures are logged and the token fetched directly.

    async def _kv_get(self) -> dict[str, Any] | None:
        try:
            return await self.kv.get_state(self.state_key)
        except Exception as exc:
            log.warning("wechat token store unavailable (%s)", type(exc).__name__)
            return None

    async def _kv_set(self, value: dict[str, Any], ttl: float) -> None:
        try:
            await self.kv.set_state(self.state_key, value, ttl)
        except Exception as exc:
            log.warning("wechat token store unavailable (%s); token not shared", type(exc).__name__)

    async def _kv_lock(self) -> str | None:
        try:
            return await self.kv.acquire_lock(self.lock_key, self.lock_ttl)
        except Exception as exc:
            log.warning("wechat token lock unavailable (%s)", type(exc).__name__)
            return ""  # proceed as the holder: there is nobody to wait for

    async def _kv_unlock(self, lock: str) -> None:
        if not lock:
            return
        try:
            await self.kv.release_lock(self.lock_key, lock)
        except Exception as exc:
            log.warning("wechat token lock not released (%s); it expires by itself", type(exc).__name__)


class WeChatAPI:
    """The Official Account API calls KnowledgeSea makes; see the module docstring for the contract."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_url: str = "https://api.weixin.qq.com",
        kv: KeyValueStore,
        clock: Clock,
        timeout: float = 10.0,
    ) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self.tokens = AccessTokens(
            app_id=app_id, app_secret=app_secret, api_url=self.api_url, kv=kv, clock=clock, http=self._http
        )

    def __repr__(self) -> str:  # never show the secret
        return f"WeChatAPI(app_id={self.app_id!r}, api_url={self.api_url!r})"

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """Seconds to wait before each retry of a transient failure (also used for token fetches)."""
        return self.tokens.retry_delays

    @retry_delays.setter
    def retry_delays(self, delays: tuple[float, ...]) -> None:
        self.tokens.retry_delays = tuple(delays)

    # --- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        self._http()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> WeChatAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    # --- the generic call --------------------------------------------------

    async def call(
        self,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        form: FormSource | None = None,
        method: str = "POST",
    ) -> dict[str, Any]:
        """Call ``path`` with the access_token; the body on errcode 0, else the matching WeChatAPIError.

        ``form`` may be a callable that builds the FormData: a multipart body can then be
        rebuilt for a retry (aiohttp cannot always send one FormData twice).
        """
        if json is not None and form is not None:
            raise ValueError("pass json or form, not both")
        body = None if json is None else _json_bytes(json)
        token = await self.tokens.get()
        secrets: tuple[str, ...] = (token, self._secret)
        result = await self._send(path, token, method=method, body=body, params=params, form=form)
        errcode = _errcode(result)
        if errcode in TOKEN_CODES:
            log.warning("wechat %s: errcode %s, refreshing the access token and retrying once", path, errcode)
            token = await self.tokens.refresh(token)
            secrets = (*secrets, token)
            result = await self._send(path, token, method=method, body=body, params=params, form=form)
            errcode = _errcode(result)
        if errcode:
            errmsg = _scrub(str(result.get("errmsg") or ""), secrets)
            level = logging.INFO if errcode in WINDOW_CODES | NOT_FOLLOWING_CODES else logging.WARNING
            log.log(level, "wechat %s: errcode %s", path, errcode)
            raise error_for(errcode, errmsg)
        return result

    async def _send(
        self,
        path: str,
        token: str,
        *,
        method: str,
        body: bytes | None,
        params: dict[str, Any] | None,
        form: FormSource | None,
    ) -> dict[str, Any]:
        query = {k: str(v) for k, v in (params or {}).items()}
        query["access_token"] = token
        return await _exchange(
            self._http(),
            method,
            self.api_url + path,
            path=path,
            params=query,
            body=body,
            form=form,
            secrets=(token, self._secret),
            delays=self.retry_delays,
        )

    # --- customer-service messages (48-hour window) -------------------------

    async def _custom(self, openid: str, msgtype: str, content: dict[str, Any]) -> None:
        await self.call("/cgi-bin/message/custom/send", json={"touser": openid, "msgtype": msgtype, msgtype: content})

    async def send_text(self, openid: str, text: str) -> None:
        await self._custom(openid, "text", {"content": text})

    async def send_image(self, openid: str, media_id: str) -> None:
        await self._custom(openid, "image", {"media_id": media_id})

    async def send_voice(self, openid: str, media_id: str) -> None:
        await self._custom(openid, "voice", {"media_id": media_id})

    async def send_video(self, openid: str, media_id: str, *, title: str = "", description: str = "") -> None:
        await self._custom(openid, "video", {"media_id": media_id, "title": title, "description": description})

    # --- template messages (no window) ---------------------------------------

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, str], *, url: str | None = None
    ) -> int:
        """Send a template message; its msgid."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            payload["url"] = url
        result = await self.call("/cgi-bin/message/template/send", json=payload)
        return int(result.get("msgid") or 0)

    # --- media ---------------------------------------------------------------

    async def add_material(
        self, kind: str, filename: str, content: bytes, *, title: str = "", introduction: str = ""
    ) -> str:
        """Upload permanent material (image, voice, video, thumb); its media_id."""
        _check_kind(kind)
        description = None
        if kind == "video":
            description = _json_bytes({"title": title or filename, "introduction": introduction}).decode("utf-8")

        def build() -> aiohttp.FormData:
            form = aiohttp.FormData()
            form.add_field("media", content, filename=filename, content_type="application/octet-stream")
            if description is not None:
                form.add_field("description", description, content_type="application/json; charset=utf-8")
            return form

        result = await self.call("/cgi-bin/material/add_material", params={"type": kind}, form=build)
        return _media_id(result, "/cgi-bin/material/add_material")

    async def upload_media(self, kind: str, filename: str, content: bytes) -> str:
        """Upload temporary media (kept 3 days by WeChat, e.g. QR-code images); its media_id."""
        _check_kind(kind)

        def build() -> aiohttp.FormData:
            form = aiohttp.FormData()
            form.add_field("media", content, filename=filename, content_type="application/octet-stream")
            return form

        result = await self.call("/cgi-bin/media/upload", params={"type": kind}, form=build)
        return _media_id(result, "/cgi-bin/media/upload")

    async def get_media(self, media_id: str, *, limit: int) -> bytes:
        """Download temporary media by its media_id (the image a user sent: its MediaId), with the token.

        Reads at most ``limit + 1`` bytes, so a caller tells an oversize file from one within ``limit``
        without holding all of it. WeChat answers errors as JSON instead of the file: they raise the
        matching :class:`WeChatAPIError` (40007 for an expired or unknown media_id), after the same
        token refresh and transient retries as :meth:`call`.
        """
        path = "/cgi-bin/media/get"
        token = await self.tokens.get()
        data, error = await self._download(path, token, media_id, limit)
        if error is not None and _errcode(error) in TOKEN_CODES:
            token = await self.tokens.refresh(token)
            data, error = await self._download(path, token, media_id, limit)
        if error is not None:
            errcode = _errcode(error) or SYSTEM_BUSY
            log.warning("wechat %s: errcode %s", path, errcode)
            raise error_for(errcode, _scrub(str(error.get("errmsg") or ""), (token, self._secret)))
        return data

    async def _download(self, path: str, token: str, media_id: str, limit: int) -> tuple[bytes, dict[str, Any] | None]:
        """One download, retried like :func:`_exchange`: (the bytes, None) or (b"", WeChat's JSON error)."""
        params = {"access_token": token, "media_id": media_id}
        delays = self.retry_delays
        last = "no attempt"
        for attempt in range(len(delays) + 1):
            if attempt:
                log.warning("wechat %s: %s; retry %d in %.1f s", path, last, attempt, delays[attempt - 1])
                await asyncio.sleep(delays[attempt - 1])
            try:
                async with self._http().get(self.api_url + path, params=params) as resp:
                    if resp.status >= 500:
                        last = f"HTTP {resp.status}"
                        continue
                    if resp.status >= 400:
                        return b"", {"errcode": SYSTEM_BUSY, "errmsg": f"HTTP {resp.status}"}
                    kind = resp.content_type
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.content.iter_chunked(64 * 1024):
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > limit:
                            break
                    body = b"".join(chunks)[: limit + 1]
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = _scrub(f"{type(exc).__name__}: {exc}", (token, self._secret)) if str(exc) else type(exc).__name__
                continue
            if kind in ("application/json", "text/plain") and body.lstrip().startswith(b"{"):
                try:
                    error = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    error = None
                if not isinstance(error, dict):
                    return b"", {"errcode": SYSTEM_BUSY, "errmsg": f"unreadable response from {path}"}
                if _errcode(error) == SYSTEM_BUSY:
                    last = "errcode -1 (system busy)"
                    continue
                return b"", error
            return body, None
        log.error("wechat %s: giving up after %d attempts: %s", path, len(delays) + 1, last)
        raise WeChatAPIError(SYSTEM_BUSY, f"{path} failed after {len(delays) + 1} attempts: {last}")

    # --- menu ----------------------------------------------------------------

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """Replace the custom menu; ``menu`` is ``{"button": [...]}`` as WeChat documents it."""
        await self.call("/cgi-bin/menu/create", json=menu)

    async def get_menu(self) -> dict[str, Any]:
        """The current custom menu as given to :meth:`create_menu` (``{"button": [...]}``); {} when none is set."""
        try:
            result = await self.call("/cgi-bin/menu/get", method="GET")
        except WeChatAPIError as exc:
            if exc.errcode == 46003:  # menu no exist
                return {}
            raise
        menu = result.get("menu")
        return menu if isinstance(menu, dict) else {}

    # --- QR codes ------------------------------------------------------------

    async def create_qrcode(self, scene: str, *, expire_seconds: int | None = None) -> str:
        """A QR-code ticket for ``scene`` (1-64 characters): permanent, or temporary when ``expire_seconds``."""
        if not 1 <= len(scene) <= 64:
            raise ValueError(f"a QR scene must be 1-64 characters, got {len(scene)}")
        payload: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene}}}
        if expire_seconds is None:
            payload["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            payload["action_name"] = "QR_STR_SCENE"
            payload["expire_seconds"] = int(expire_seconds)
        result = await self.call("/cgi-bin/qrcode/create", json=payload)
        ticket = result.get("ticket")
        if not isinstance(ticket, str) or not ticket:
            raise WeChatAPIError(SYSTEM_BUSY, "no ticket in the /cgi-bin/qrcode/create response")
        return ticket

    @staticmethod
    def qrcode_url(ticket: str) -> str:
        """Where the QR-code image for ``ticket`` can be downloaded."""
        return "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + quote(ticket, safe="")

    # --- web OAuth (snsapi_base) -----------------------------------------------

    async def oauth_openid(self, code: str) -> str:
        """The openid of the user who was redirected back with ``code`` (web authorisation)."""
        path = "/sns/oauth2/access_token"
        params = {"appid": self.app_id, "secret": self._secret, "code": code, "grant_type": "authorization_code"}
        result = await _exchange(
            self._http(),
            "GET",
            self.api_url + path,
            path=path,
            params=params,
            secrets=(self._secret,),
            delays=self.retry_delays,
        )
        errcode = _errcode(result)
        openid = result.get("openid")
        if errcode or not isinstance(openid, str) or not openid:
            errcode = errcode or SYSTEM_BUSY
            log.warning("wechat %s: errcode %s", path, errcode)
            secrets = (self._secret, str(result.get("access_token") or ""))
            raise WeChatAPIError(errcode, _scrub(str(result.get("errmsg") or "no openid in the response"), secrets))
        return openid


def _json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _check_kind(kind: str) -> None:
    if kind not in MEDIA_KINDS:
        raise ValueError(f"media kind must be one of {sorted(MEDIA_KINDS)}, got {kind!r}")


def _media_id(result: dict[str, Any], path: str) -> str:
    media_id = result.get("media_id") or result.get("thumb_media_id")
    if not isinstance(media_id, str) or not media_id:
        raise WeChatAPIError(SYSTEM_BUSY, f"no media_id in the {path} response")
    return media_id
