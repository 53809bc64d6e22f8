"""A python-telegram-bot ``BaseRequest`` on aiohttp: the one HTTP transport for every Bot API call.

Why it exists
-------------
PTB's default transport, :class:`telegram.request.HTTPXRequest`, sent only ~300-470 ``sendMessage``
requests/s on a 2-core machine against a local Bot-API-like server, and got *slower* as concurrency
grew; an aiohttp transport did ~3,300/s on the same machine. ``bench/telegram_transport.py`` measures
both through ``telegram.Bot.send_message`` (server in its own process; 2 noisy cores, median of 3 x 2,000):
HTTPXRequest 805 msg/s at concurrency 1 and 357 at 32; this class 2,076 and 2,609 (2.6x and 7.3x).
Replies, long polling and the delivery engine all go through one instance of it.

Contract (``telegram.request.BaseRequest``)
-------------------------------------------
``do_request`` returns the raw ``(status, body)``; PTB's ``BaseRequest.post`` parses the JSON and
maps status codes to exceptions (400 -> ``BadRequest``, 403 -> ``Forbidden``, 429 -> ``RetryAfter``,
5xx -> ``NetworkError`` ...). Only transport failures are raised here, as HTTPXRequest raises them:

* no free connection within ``pool_timeout`` -> ``TimedOut`` (the request was *not* sent);
* connect / read / upload timeouts -> ``TimedOut``;
* any other ``aiohttp.ClientError`` -> ``NetworkError("aiohttp.<ExceptionClass>: <message>")``.

The bot token is part of every Bot API URL, so the URL is never logged, and it is scrubbed from every
exception message; when aiohttp's own exception quotes the URL (e.g. "Connection timeout to host
<url>") it is not chained either, so a logged traceback cannot leak it.

Bodies are encoded exactly as HTTPXRequest encodes them: no parameters -> empty body;
``request_data.json_parameters`` -> ``application/x-www-form-urlencoded``; with files ->
``multipart/form-data`` holding the same form fields followed by one part per file (file name, mime
type, bytes), with the file name escaped the way httpx escapes it (raw UTF-8, not percent-quoted).

Timeouts (``DEFAULT_NONE`` -> the instance's defaults, as in HTTPXRequest; ``None`` -> no limit):

* ``pool_timeout`` bounds the wait for one of the ``connection_pool_size`` connection slots. aiohttp's
  own acquire timeout (``ClientTimeout.connect``) also covers opening a new connection, so the slots
  are an ``asyncio.Semaphore`` of the same size as the connector's limit: a pool timeout then means
  exactly "not sent", as with httpx, and a new connection still gets the whole ``connect_timeout``.
* ``connect_timeout`` -> ``ClientTimeout(connect=..., sock_connect=...)`` (DNS + TCP + TLS).
* ``read_timeout`` -> ``ClientTimeout(sock_read=...)``: the longest silence while waiting for / reading
  the response. aiohttp (3.14) starts it once the body is written. For ``getUpdates`` PTB passes a
  read timeout that already includes the long-poll ``timeout``.
* ``write_timeout`` (``media_write_timeout`` for uploads, like httpx): aiohttp has no write timeout.
  Small form bodies never block on the socket, so it only matters for uploads: there the whole
  "send + wait for the response headers" phase gets a deadline of connect + write + read timeouts.

The ``aiohttp.ClientSession`` (one ``TCPConnector``: keep-alive, 5-minute DNS cache) is created on the
running loop by :meth:`initialize` or lazily by the first request; :meth:`shutdown` closes it and a
later ``initialize`` (or request) opens a new one. One instance belongs to one event loop at a time.

Proxies: like httpx, ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` from the environment
are honoured (HTTP proxies; SOCKS would need ``aiohttp-socks``). They are read when the session opens,
not through aiohttp's ``trust_env``, which costs two thread-pool hops per request (measured: it halved
``send_message`` throughput).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import urllib.request
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import aiohttp
from aiohttp.payload import BytesPayload, Payload, get_payload
from telegram._utils.defaultvalue import DefaultValue  # what HTTPXRequest checks; DEFAULT_NONE is one
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

__all__ = ["AiohttpRequest"]

#: aiohttp >= 3.10 tells a connect timeout (request not sent) apart from a read timeout.
_CONNECT_TIMEOUTS: Final[tuple[type[BaseException], ...]] = tuple(
    cls for cls in (getattr(aiohttp, "ConnectionTimeoutError", None),) if isinstance(cls, type)
)

_LARGE_BYTES: Final = 2**20  # aiohttp's TOO_LARGE_BYTES_BODY
_JSON_HEADERS: Final = {"Content-Type": "application/json"}
_NO_CONTENT_TYPE: Final = frozenset({"Content-Type"})  # httpx sends an empty POST without one

#: httpx's (HTML5) escaping of multipart parameter values minus the backslash, which aiohttp doubles itself
#: when ``quote_fields=False``: ``"`` and control characters become ``%XX``.
_HTML5_ESCAPES: Final = {'"': "%22", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}}
_HTML5_ESCAPE_RE: Final = re.compile("|".join(re.escape(c) for c in _HTML5_ESCAPES))

#: A bot token anywhere in a text: ``<bot id>:<secret>``.
_TOKEN_RE: Final = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")

_POOL_TIMEOUT_MESSAGE: Final = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent to "
    "Telegram. Consider adjusting the connection pool size or the pool timeout."
)
_CONNECT_TIMEOUT_MESSAGE: Final = "Timed out while connecting to the Bot API server. Request was *not* sent."
_UPLOAD_TIMEOUT_MESSAGE: Final = "Timed out while uploading the request (write timeout)."


class AiohttpRequest(BaseRequest):
    """:class:`telegram.request.BaseRequest` on one shared :class:`aiohttp.ClientSession`.

    See the module docstring for the contract, the timeouts and the measured reason this exists.

    Args:
        connection_pool_size: Connections (= requests in flight) at most. Defaults to 64.
        read_timeout: Default read timeout in seconds (``None``: no limit). Defaults to 5.
        write_timeout: Default write timeout for requests without files. Defaults to 5.
        connect_timeout: Default timeout for opening a connection. Defaults to 5.
        pool_timeout: Default wait for a free connection slot. Defaults to 1.
        media_write_timeout: Default write timeout for requests that upload files. Defaults to 20.
    """

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_proxy_for_origin",
        "_read_timeout",
        "_session",
        "_slots",
        "_timeouts",
        "_write_timeout",
    )

    #: Seconds an idle keep-alive connection stays in the pool.
    KEEPALIVE_TIMEOUT: Final[float] = 15.0
    #: Seconds a DNS answer is cached by the connector.
    DNS_CACHE_TTL: Final[int] = 300

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._proxies: dict[str, str] = {}
        self._proxy_for_origin: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (used when ``do_request`` gets ``DEFAULT_NONE``)."""
        return self._read_timeout

    @property
    def connection_pool_size(self) -> int:
        """The most connections (and requests in flight) this transport uses."""
        return self._pool_size

    @property
    def is_initialized(self) -> bool:
        """Whether an open ``aiohttp.ClientSession`` exists."""
        return self._session is not None and not self._session.closed

    async def initialize(self) -> None:
        """Open the session and its connection pool on the running event loop (no-op if open)."""
        if not self.is_initialized:
            self._open()

    async def shutdown(self) -> None:
        """Close the session and its connections. Idempotent; ``initialize`` may be called again."""
        session, self._session, self._slots = self._session, None, None
        if session is not None and not session.closed:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._pool_size,
            ttl_dns_cache=self.DNS_CACHE_TTL,
            keepalive_timeout=self.KEEPALIVE_TIMEOUT,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.USER_AGENT},
            timeout=self._client_timeout(self._connect_timeout, self._read_timeout),
        )
        self._session = session
        self._slots = asyncio.Semaphore(self._pool_size)
        self._proxies = {k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https", "all")}
        self._proxy_for_origin = {}
        return session

    def _proxy_for(self, url: str) -> str | None:
        """The proxy httpx would use for ``url`` from the environment (``HTTPS_PROXY``, ``ALL_PROXY``,
        ``NO_PROXY``...), read when the session opens and cached per origin. aiohttp's ``trust_env`` would
        do the same with two thread-pool hops (netrc, proxy lookup) on *every* request, halving throughput.
        """
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._proxy_for_origin:
            proxy = self._proxies.get(parts.scheme) or self._proxies.get("all")
            if proxy and parts.hostname and urllib.request.proxy_bypass(parts.hostname):
                proxy = None
            self._proxy_for_origin[origin] = proxy
        return self._proxy_for_origin[origin]

    def _client_timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        key = (connect, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read)
            if len(self._timeouts) < 64:  # getUpdates read timeouts vary; keep the cache small
                self._timeouts[key] = timeout
        return timeout

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return ``(HTTP status, body)``. See :meth:`BaseRequest.do_request`.

        Raises:
            telegram.error.TimedOut: pool, connect, read or upload timeout.
            telegram.error.NetworkError: any other transport failure (never quoting the URL).
        """
        session = self._session
        slots = self._slots
        if session is None or slots is None or session.closed:
            session = self._open()
            slots = self._slots
            assert slots is not None

        has_files = request_data is not None and request_data.contains_files
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if has_files else self._write_timeout

        kwargs: dict[str, Any] = {"timeout": self._client_timeout(connect_timeout, read_timeout)}
        if self._proxies:
            kwargs["proxy"] = self._proxy_for(url)
        deadline: float | None = None
        params = request_data.json_parameters if request_data is not None else None
        if request_data is not None and has_files:
            kwargs["data"] = _multipart(params or {}, request_data)
            if connect_timeout is not None and write_timeout is not None and read_timeout is not None:
                deadline = connect_timeout + write_timeout + read_timeout
        elif params:
            # JSON, which the Bot API accepts like a form: url-encoding a long Chinese lesson costs PTB's
            # urlencode about 0.3 ms per message, JSON a tenth of that (nested objects stay objects).
            kwargs["data"] = json.dumps(request_data.parameters, ensure_ascii=False, separators=(",", ":")).encode()  # type: ignore[union-attr]
            kwargs["headers"] = _JSON_HEADERS
        else:
            kwargs["skip_auto_headers"] = _NO_CONTENT_TYPE

        if slots.locked():  # every connection is busy: wait at most pool_timeout for one
            try:
                async with asyncio.timeout(pool_timeout):
                    await slots.acquire()
            except TimeoutError:
                raise TimedOut(_POOL_TIMEOUT_MESSAGE) from None
        else:
            await slots.acquire()  # returns at once
        try:
            return await self._send(session, method, url, deadline, kwargs)
        finally:
            slots.release()

    async def _send(
        self, session: aiohttp.ClientSession, method: str, url: str, deadline: float | None, kwargs: dict[str, Any]
    ) -> tuple[int, bytes]:
        upload = None
        try:
            if deadline is None:
                response = await session.request(method, url, **kwargs)
            else:
                async with (upload := asyncio.timeout(deadline)):
                    response = await session.request(method, url, **kwargs)
            async with response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is a TimeoutError too
            if upload is not None and upload.expired():
                message = _UPLOAD_TIMEOUT_MESSAGE
            elif isinstance(exc, _CONNECT_TIMEOUTS):
                message = _CONNECT_TIMEOUT_MESSAGE
            else:
                message = "Timed out"
            raise TimedOut(message) from _clean_cause(exc, url)
        except aiohttp.ClientError as exc:
            raise NetworkError(_redact(f"aiohttp.{type(exc).__name__}: {exc}", url)) from _clean_cause(exc, url)
        except OSError as exc:
            raise NetworkError(_redact(f"{type(exc).__name__}: {exc}", url)) from _clean_cause(exc, url)
        except Exception as exc:
            # BaseRequest would wrap it as NetworkError(repr(exc)) without scrubbing the URL.
            raise NetworkError(_redact(f"Unknown error in HTTP implementation: {exc!r}", url)) from _clean_cause(
                exc, url
            )


def _multipart(params: dict[str, str], request_data: RequestData) -> aiohttp.MultipartWriter:
    """What httpx sends for ``data=params, files=multipart_data``, part for part and header for header.

    The form fields come first, each with only a ``Content-Disposition`` (aiohttp's ``FormData`` would add
    ``Content-Type: text/plain; charset=utf-8``), then one part per file with its name and mime type. Names
    are written raw (UTF-8) with httpx's escaping, not percent-quoted as ``FormData``'s default does.
    """
    writer = aiohttp.MultipartWriter("form-data")
    for name, value in params.items():
        field = BytesPayload(value.encode())
        field.headers.popall("Content-Type", None)
        _append(writer, field, name=name)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        if isinstance(content, bytes) and len(content) > _LARGE_BYTES:
            content = io.BytesIO(content)  # aiohttp warns about (and writes in one go) large raw bytes
        file = get_payload(content)
        file.headers.popall("Content-Type", None)  # re-added after Content-Disposition, as httpx orders them
        _append(writer, file, mimetype, name=name, filename=_HTML5_ESCAPE_RE.sub(_html5_escape, filename))
    return writer


def _append(
    writer: aiohttp.MultipartWriter, part: Payload, content_type: str | None = None, **disposition: str
) -> None:
    part.set_content_disposition("form-data", quote_fields=False, **disposition)
    part.headers.popall("Content-Length", None)
    if content_type is not None:
        part.headers["Content-Type"] = content_type
    writer.append_payload(part)


def _html5_escape(match: re.Match[str]) -> str:
    return _HTML5_ESCAPES[match.group(0)]


def _secrets(url: str) -> list[str]:
    """The forms in which an exception text may quote ``url``: whole, or its path (with the query)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    candidates = [url, parts.path, f"{parts.path}?{parts.query}"]
    return sorted({c for c in candidates if len(c) > 1}, key=len, reverse=True)


def _redact(text: str, url: str) -> str:
    """``text`` without the URL, its path or anything that looks like a bot token."""
    for secret in _secrets(url):
        text = text.replace(secret, "<Bot API URL>")
    return _TOKEN_RE.sub("<token>", text)


def _clean_cause(exc: BaseException, url: str) -> BaseException | None:
    """``exc`` to chain as the cause, or ``None`` when its chain quotes the URL or the token."""
    secrets = _secrets(url)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = f"{current!s} {current!r}"
        if any(secret in text for secret in secrets) or _TOKEN_RE.search(text):
            return None
        current = current.__cause__ or current.__context__
    return exc
