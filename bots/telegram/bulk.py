"""Telegram's bulk lane: what the delivery engine sends (broadcasts, drip lessons, reminders).

:class:`TelegramBulkSender` is the channel's :class:`core.ports.BulkSender`. It has its own
``telegram.Bot`` on its own :class:`~bots.telegram.transport.AiohttpRequest` (its own connection
pool), so replies to users never queue behind a broadcast, and it reports every outcome as a
:class:`core.delivery.SendResult` instead of raising.

Pacing
------
Every Bot API call of the bulk Bot that names a ``chat_id`` first waits in :class:`Pacer` (through
:class:`PacedRequest`, at the transport level, so a reply of text + photo is paced as the two calls it
is). The pacer shares its state between workers and processes through the key-value store (Redis
token buckets):

* a pause: after a 429 the key ``<limits key>:pause`` holds ``{"until": <epoch seconds>}`` and no
  worker of any process sends before then (retrying early counts as a violation at Telegram);
* one slot per call on the bot's schedule: ``per_second`` x ``margin`` (30 x 0.98 = 29.4/s), or
  for a paid broadcast (``allow_paid_broadcast``) a separate schedule of ``(paid_per_second -
  per_second)`` x ``margin`` (950.6/s), so free and paid sends together stay under 1000/s. Slots are
  booked with :meth:`core.ports.KeyValueStore.reserve` (GCRA virtual scheduling): consecutive slots
  are exactly one interval apart, so a caller that wakes a millisecond late costs the schedule
  nothing. (A one-token bucket loses that millisecond on every send: 28.4/s instead of 29.4/s in
  the 100,000-recipient benchmark.);
* one token from the chat's bucket: ``per_chat`` x ``margin`` per second for a private chat,
  ``per_group_minute`` / 60 x ``margin`` for a group or channel (negative ids).

Every bucket has ``burst=1``: calls are spread evenly, never bunched (PTB's ``AIORateLimiter`` starts
with a full bucket, a burst that drew 7.8% 429s against a strict fake). The margin absorbs network
jitter between taking a token and the request reaching Telegram.

Order matters. The bot's token is taken first, then the chat's, then the pause is checked once more,
and the call goes out at once: the spacing each bucket enforces is the spacing of the calls (a token
taken long before its call would let the next call come too soon after it). When the chat's token is
refused (another call to that chat went out lately), the bot's token is given up and the call queues
again after the chat's wait; each process remembers when it last sent to a chat and waits for that
before queuing, so this is rare. In one process the calls queue for the bot's bucket in FIFO order
behind one lock (one Redis round trip at a time per process, no thundering herd).

The pause is read from the store at most every ``pause_cache`` seconds per process (10 ms by default,
at most 50 ms is sensible): a pause this process sets is seen at once by all its calls; one set by
another process is seen within ``pause_cache``. At the free rate (a call every 34 ms) every call reads
it fresh; at the paid rate about ten calls share a read. A longer cache would add violations after a
429 on top of the calls already on the wire, which cannot be called back anyway.

Outcomes (:meth:`TelegramBulkSender.send_bulk`): sent -> SENT; ``Forbidden`` (blocked, deactivated,
kicked) and "chat not found" -> BLOCKED; 429 -> FLOOD with ``retry_after`` (never retried here: the
engine reschedules the row, and every worker waits for the pause); any other ``BadRequest`` or
Telegram error -> FAILED; network errors, timeouts and 5xx (after the renderer's quick retries) ->
RETRY.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import BaseRequest, RequestData

from bots.telegram.callbacks import CallbackCodec
from bots.telegram.render import PAID, FileIdStore, RenderConfig, Renderer
from bots.telegram.retry import retry_after_seconds
from bots.telegram.transport import AiohttpRequest
from core.clock import Clock
from core.delivery import Outcome, SendResult
from core.ports import KeyValueStore, SendLimits
from core.replies import Reply
from core.users import Ref

if TYPE_CHECKING:
    from telegram._utils.types import ODVInput

    from bots.telegram.channel import TelegramConfig

__all__ = ["PAID", "PacedRequest", "Pacer", "TelegramBulkSender"]

log = logging.getLogger(__name__)

DEFAULT_API_URL: Final = "https://api.telegram.org/bot"
#: Seconds a pause read from the store is trusted (per process): well below both the free rate's spacing
#: (34 ms, so every free call reads it fresh) and a round trip to Telegram; at the paid rate ~10 calls share a read.
PAUSE_CACHE: Final = 0.01
#: The pause key outlives the pause by this long (then it expires by itself).
_PAUSE_TTL_MARGIN: Final = 5.0
_LATE = 0.010  # seconds: a slot missed by more than this is given up (see Pacer.wait)
_MAX_BOOKING = 5.0  # seconds: book at most this far ahead (more callers than the rate can serve wait)
#: Remembered "next free moment" per chat, at most (older entries are dropped first).
_HINTS_MAX: Final = 10_000
#: Waiting a little past a chat's refill: a token that rounding leaves a hair short would cost the bot's token.
_HINT_SLACK: Final = 0.002


class Pacer:
    """Shared pacing of one bot's bulk calls (see the module docstring).

    Args:
        kv: The shared store (Redis with several processes).
        key: Whose limits: ``"telegram:<bot id>"``; buckets and the pause live under it.
        per_second, per_chat, per_group_minute, paid_per_second: Telegram's nominal limits.
        margin: The share of each limit actually used (0.98: 29.4/s for 30/s).
        clock: Epoch seconds (``time.time``): the pause is an epoch, shared across processes.
        monotonic: Seconds for in-process bookkeeping (the pause cache, per-chat hints).
        sleep: ``asyncio.sleep``; tests inject fakes of all three.
        pause_cache: Seconds a pause read from the store is trusted.
    """

    def __init__(
        self,
        kv: KeyValueStore,
        key: str,
        *,
        per_second: float = 30.0,
        per_chat: float = 1.0,
        per_group_minute: float = 20.0,
        paid_per_second: float = 1000.0,
        margin: float = 0.98,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pause_cache: float = PAUSE_CACHE,
    ) -> None:
        if not 0 < margin <= 1:
            raise ValueError("margin must be in (0, 1]")
        if min(per_second, per_chat, per_group_minute) <= 0 or paid_per_second <= per_second:
            raise ValueError("rates must be positive, and the paid rate above the free one")
        self.kv = kv
        self.key = key
        self.free_rate = per_second * margin
        self.paid_rate = (paid_per_second - per_second) * margin
        self.chat_rate = per_chat * margin
        self.group_rate = per_group_minute / 60.0 * margin
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._pause_cache = pause_cache
        self._pause_key = f"{key}:pause"
        self._buckets = {False: f"{key}:global", True: f"{key}:paid"}
        self._locks = {False: asyncio.Lock(), True: asyncio.Lock()}
        self._until = 0.0  # epoch: the latest pause known here
        self._checked_at = -math.inf  # monotonic: when the pause was last read from the store
        self._hints: dict[str, float] = {}  # chat bucket -> monotonic time its next token is due

    # -- waiting -------------------------------------------------------------------------------------------------

    async def wait(self, chat_id: int | str | None, *, paid: bool) -> None:
        """Return when one call to ``chat_id`` may go out now (no pause, a bot token and a chat token taken)."""
        chat = self._chat_bucket(chat_id)
        bucket = self._buckets[paid]
        rate = self.paid_rate if paid else self.free_rate
        while True:
            if chat is not None:
                await self._sleep_until_hint(chat[0])
            await self._until_unpaused()
            async with self._locks[paid]:  # this process's calls book their slots in order
                wait = await self._book(bucket, rate)
                target = self._monotonic() + wait
            if wait > 0:
                await self._sleep(wait)
            if self._monotonic() - target > _LATE:
                # We woke well after our slot (a stalled loop): the calls booked after ours are due now too, and
                # going out together they would crowd a second. A slot is only good on time: book a fresh one.
                continue
            if chat is not None:
                decision = await self.kv.take(chat[0], rate=chat[1], burst=1)
                if not decision.allowed:  # another call to this chat went out lately: our bot token is lost
                    self._hint(chat[0], decision.retry_after)
                    continue
                self._hint(chat[0], 1.0 / chat[1])
            if await self.paused_for() > 0:  # a 429 came in while we waited for the tokens
                continue
            return

    async def paused_for(self) -> float:
        """Seconds left of the bot's pause (0: none)."""
        now = self._clock()
        if self._until > now:
            self._checked_at = -math.inf  # read the store again once it is over: it may have been extended
            return self._until - now
        if self._monotonic() - self._checked_at < self._pause_cache:
            return 0.0
        state = await self.kv.get_state(self._pause_key)
        self._checked_at = self._monotonic()
        until = _float((state or {}).get("until"))
        self._until = max(self._until, until)
        now = self._clock()
        return max(0.0, self._until - now)

    async def pause(self, seconds: float) -> None:
        """Stop every bulk call of this bot, in every process, for ``seconds`` (a longer pause stays)."""
        if not seconds > 0:
            return
        until = self._clock() + seconds
        if until > self._until:
            log.warning("%s: Telegram flood control, bulk sends paused for %.1f s", self.key, seconds)
        self._until = max(self._until, until)  # this process's calls see it at once
        state = await self.kv.get_state(self._pause_key)
        until = max(until, _float((state or {}).get("until")))
        ttl = max(until - self._clock(), 0.0) + _PAUSE_TTL_MARGIN
        await self.kv.set_state(self._pause_key, {"until": until}, ttl=ttl)

    async def _until_unpaused(self) -> None:
        while (left := await self.paused_for()) > 0:
            await self._sleep(left)

    async def _book(self, bucket: str, rate: float) -> float:
        """Book this call's slot on the bot's schedule (one slot every 1/rate s); the seconds until it."""
        while True:
            wait = await self.kv.reserve(bucket, interval=1.0 / rate, max_wait=_MAX_BOOKING)
            if wait is not None:
                return wait
            await self._sleep(_MAX_BOOKING / 2)  # the schedule is booked far ahead: come back later

    # -- per chat ------------------------------------------------------------------------------------------------

    def _chat_bucket(self, chat_id: int | str | None) -> tuple[str, float] | None:
        if chat_id is None or chat_id == "":
            return None
        try:
            group = int(chat_id) < 0
        except (TypeError, ValueError):
            group = True  # "@channelusername"
        return f"{self.key}:chat:{chat_id}", self.group_rate if group else self.chat_rate

    def _hint(self, bucket: str, after: float) -> None:
        now = self._monotonic()
        if len(self._hints) >= _HINTS_MAX:
            self._hints = {k: t for k, t in self._hints.items() if t > now}
            while len(self._hints) >= _HINTS_MAX:
                self._hints.pop(next(iter(self._hints)))
        self._hints.pop(bucket, None)  # re-insert: the dict stays ordered by last use
        self._hints[bucket] = now + after + _HINT_SLACK

    async def _sleep_until_hint(self, bucket: str) -> None:
        due = self._hints.get(bucket)
        if due is not None and (left := due - self._monotonic()) > 0:
            await self._sleep(left)


class PacedRequest(BaseRequest):
    """A ``BaseRequest`` that waits in a :class:`Pacer` before every call naming a ``chat_id``.

    Calls without one (``getMe``, ``createInvoiceLink``) go straight through. The paid lane is chosen by
    :data:`PAID`. A 429 answer pauses the pacer (every worker of the bot) before it is returned.
    """

    __slots__ = ("inner", "pacer")

    def __init__(self, inner: BaseRequest, pacer: Pacer) -> None:
        self.inner = inner
        self.pacer = pacer

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

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
        chat_id = request_data.parameters.get("chat_id") if request_data is not None else None
        if chat_id is not None:
            await self.pacer.wait(chat_id, paid=PAID.get())  # type: ignore[arg-type]
        status, body = await self.inner.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if status == 429:
            seconds = _retry_after(body)
            try:
                await self.pacer.pause(seconds if seconds is not None else 1.0)
            except Exception:  # the store failed: this process is paused anyway (the local state was set first)
                log.exception("could not share the flood pause")
        return status, body


class TelegramBulkSender:
    """:class:`core.ports.BulkSender` for Telegram: its own Bot and connections, shared pacing, outcomes."""

    channel = "telegram"

    def __init__(
        self,
        token: str,
        *,
        kv: KeyValueStore,
        files: FileIdStore,
        clock: Clock,
        api_url: str = DEFAULT_API_URL,
        file_url: str | None = None,
        codec: CallbackCodec | None = None,
        render_config: RenderConfig | None = None,
        per_second: float = 30.0,
        per_chat: float = 1.0,
        per_group_minute: float = 20.0,
        paid_per_second: float = 1000.0,
        margin: float = 0.98,
        connection_pool_size: int = 64,
        epoch: Callable[[], float] = time.time,
        pause_cache: float = PAUSE_CACHE,
    ) -> None:
        self.bot_id = _bot_id(token)
        self.per_second = per_second
        self.per_chat = per_chat
        self.per_group_minute = per_group_minute
        self.paid_per_second = paid_per_second
        self.pacer = Pacer(
            kv,
            f"telegram:{self.bot_id}",
            per_second=per_second,
            per_chat=per_chat,
            per_group_minute=per_group_minute,
            paid_per_second=paid_per_second,
            margin=margin,
            clock=epoch,
            pause_cache=pause_cache,
        )
        self.transport = AiohttpRequest(connection_pool_size=connection_pool_size)
        self.request = PacedRequest(self.transport, self.pacer)
        self.bot = Bot(
            token,
            base_url=api_url,
            base_file_url=file_url or _file_url(api_url),
            request=self.request,
            get_updates_request=AiohttpRequest(connection_pool_size=1),  # never used; PTB would build an httpx one
        )
        self.renderer = Renderer(
            self.bot, codec or CallbackCodec(kv), files, render_config or RenderConfig(), clock, retry_flood=False
        )

    @classmethod
    def from_config(
        cls,
        config: TelegramConfig,
        *,
        kv: KeyValueStore,
        files: FileIdStore,
        clock: Clock,
        codec: CallbackCodec | None = None,
        **options: Any,
    ) -> TelegramBulkSender:
        """The bulk lane of the channel ``config`` describes (same token, API server and render settings)."""
        return cls(
            config.token,
            kv=kv,
            files=files,
            clock=clock,
            api_url=config.api_url,
            file_url=config.file_url,
            codec=codec,
            render_config=RenderConfig(protect_content=config.protect_content, provider_token=config.provider_token),
            **options,
        )

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the connections and learn who the bot is (``getMe``)."""
        await self.bot.initialize()

    async def stop(self) -> None:
        await self.bot.shutdown()

    # -- BulkSender ----------------------------------------------------------------------------------------------

    def limits(self, *, paid: bool) -> SendLimits:
        return SendLimits(
            key=f"telegram:{self.bot_id}",
            per_second=self.paid_per_second if paid else self.per_second,
            per_chat=self.per_chat,
            per_group_minute=self.per_group_minute,
        )

    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult:
        """Send ``replies`` to ``ref``, paced; what happened (never raises for Telegram's answers).

        ``important`` changes nothing on Telegram (there is no send window to get around).
        """
        try:
            chat_id = int(ref.external_id)
        except ValueError:
            chat_id = None
        if ref.channel != self.channel or chat_id is None:
            return SendResult(Outcome.FAILED, f"not a Telegram chat: {ref}")
        token = PAID.set(paid)
        try:
            await self.renderer.send(chat_id, replies)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            await self.pacer.pause(seconds)  # PacedRequest did already; harmless (the longer pause stays)
            return SendResult(Outcome.FLOOD, exc.message, retry_after=seconds)
        except Forbidden as exc:
            return SendResult(Outcome.BLOCKED, exc.message)
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                return SendResult(Outcome.BLOCKED, exc.message)
            return SendResult(Outcome.FAILED, exc.message)
        except NetworkError as exc:  # TimedOut, 5xx, connection failures: after the renderer's own retries
            return SendResult(Outcome.RETRY, exc.message)
        except TelegramError as exc:  # InvalidToken, ChatMigrated, Conflict...: retrying would not help
            return SendResult(Outcome.FAILED, f"{type(exc).__name__}: {exc.message}")
        finally:
            PAID.reset(token)
        return SendResult(Outcome.SENT)


def _retry_after(body: bytes) -> float | None:
    try:
        data = json.loads(body)
        value = data["parameters"]["retry_after"]
    except (ValueError, TypeError, KeyError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _bot_id(token: str) -> int:
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else 0


def _file_url(api_url: str) -> str:
    """``TelegramConfig.file_url`` for a bare API URL."""
    return api_url[: -len("/bot")] + "/file/bot" if api_url.endswith("/bot") else api_url.rstrip("/") + "/file/bot"
