"""Flood control in the fake Bot API (a mixin of :class:`fakes.telegram_api.FakeBotAPI`), off by default.

Turn it on with ``FakeBotAPI(flood=FloodControl())`` or ``fake.set_flood()``. Then every *send call*
(:data:`SEND_METHODS`) is checked against sliding windows, as Telegram's documented limits say:

* the bot, all chats together: ``global_per_s`` sends in any 1 s (30);
* paid broadcasts (``allow_paid_broadcast`` true) count against their own ``paid_per_s`` in any 1 s
  (1000) instead, and are counted in ``paid_sent`` (each costs Stars beyond the free rate);
* one private chat (id > 0): ``per_chat_per_s`` in any 1 s (1); one group or channel (id < 0):
  ``per_group_per_min`` in any 60 s (20).

A send that would exceed a window is answered ``429 Too Many Requests: retry after N`` with
``parameters.retry_after`` = N (whole seconds until the window frees, at least 1), is recorded as a
**violation** (``flood_violations``), and pauses the whole bot for N seconds. While a pause runs, *any*
send call is a violation too and is answered 429 with the seconds left ("retrying early counts as a
violation"). A 429 injected with ``fail_next`` on a send method also starts a pause (it is Telegram
asking to slow down), without being a violation itself.

A call that passes is counted in the windows when it arrives, whether or not it then fails (400, 403).
``sent_count``, ``paid_sent`` and ``sent_per_chat`` count the sends that succeeded; ``flood_log``
keeps every send call's arrival time (``flood_clock``, monotonic seconds) and verdict, so tests can
check that nothing reached the server during a pause.

Knowingly simpler than Telegram: an album (``sendMediaGroup``) counts as one send, not one per item;
a violation does not lengthen the pause; Telegram's real limits are fuzzier (short bursts in private
chats pass there).
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fakes.telegram_common import ApiError, get_bool

if TYPE_CHECKING:
    from fakes.telegram_api import FakeBotAPI as _Base
else:
    _Base = object

__all__ = ["SEND_METHODS", "FloodControl", "FloodEvent", "FloodMixin"]

#: Methods that send a message (lower case): the ones flood control counts.
SEND_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "sendvideo",
        "senddocument",
        "sendaudio",
        "sendvoice",
        "sendanimation",
        "sendmediagroup",
        "sendinvoice",
        "sendsticker",
        "sendvideonote",
        "sendlocation",
        "sendcontact",
        "sendpoll",
        "senddice",
        "copymessage",
        "forwardmessage",
    }
)


@dataclass(frozen=True, slots=True)
class FloodControl:
    """Telegram's limits, as the fake enforces them."""

    global_per_s: int = 30
    per_chat_per_s: int = 1
    per_group_per_min: int = 20
    paid_per_s: int = 1000
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class FloodEvent:
    """One send call as flood control saw it."""

    at: float  # flood clock, when it arrived
    method: str
    chat_id: int | None
    paid: bool
    verdict: str  # "ok" (passed the limits), "forced" (an injected 429), "limit" or "paused" (violations)
    retry_after: int = 0


class FloodMixin(_Base):
    def __init__(self, flood: FloodControl | None = None) -> None:
        self.flood: FloodControl | None = flood
        self.flood_violations = 0
        self.sent_count = 0
        self.paid_sent = 0
        self.sent_per_chat: Counter[int] = Counter()
        self.flood_log: list[FloodEvent] = []
        self._flood_until = 0.0  # flood clock: the bot is paused until then
        self._free_window: deque[float] = deque()
        self._paid_window: deque[float] = deque()
        self._chat_windows: dict[int, deque[float]] = {}

    # ---------------------------------------------------------------- test side

    def set_flood(
        self,
        global_per_s: int = 30,
        per_chat_per_s: int = 1,
        per_group_per_min: int = 20,
        paid_per_s: int = 1000,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> FloodControl:
        """Turn flood control on with these limits (and forget any running pause and windows)."""
        self.flood = FloodControl(global_per_s, per_chat_per_s, per_group_per_min, paid_per_s, clock)
        self._flood_until = 0.0
        self._free_window.clear()
        self._paid_window.clear()
        self._chat_windows.clear()
        return self.flood

    def flood_off(self) -> None:
        self.flood = None

    def flood_events(self, verdict: str | None = None) -> list[FloodEvent]:
        """``flood_log``, optionally only the events with ``verdict``."""
        return [e for e in self.flood_log if verdict is None or e.verdict == verdict]

    @property
    def flood_paused_until(self) -> float:
        """Flood clock time until which every send is a violation (in the past: no pause)."""
        return self._flood_until

    # ---------------------------------------------------------------- server side

    @staticmethod
    def _flood_chat(params: dict[str, Any]) -> int | None:
        try:
            return int(params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    def _flood_check(self, method: str, params: dict[str, Any]) -> ApiError | None:
        """Before a send call is handled: the 429 to answer (a violation), or None (counted in the windows)."""
        flood = self.flood
        if flood is None or method.lower() not in SEND_METHODS:
            return None
        now = flood.clock()
        chat = self._flood_chat(params)
        paid = get_bool(params, "allow_paid_broadcast")
        if now < self._flood_until:
            wait = max(1, math.ceil(self._flood_until - now))
            return self._violation(FloodEvent(now, method, chat, paid, "paused", wait))
        windows: list[tuple[deque[float], int, float]] = []
        if paid:
            windows.append((self._paid_window, flood.paid_per_s, 1.0))
        else:
            windows.append((self._free_window, flood.global_per_s, 1.0))
        if chat is not None:
            per_chat = self._chat_windows.setdefault(chat, deque())
            if chat < 0:
                windows.append((per_chat, flood.per_group_per_min, 60.0))
            else:
                windows.append((per_chat, flood.per_chat_per_s, 1.0))
        wait = 0
        for window, limit, span in windows:
            while window and window[0] <= now - span:
                window.popleft()
            if len(window) >= limit:
                wait = max(wait, max(1, math.ceil(window[len(window) - limit] + span - now)))
        if wait:
            self._flood_until = now + wait
            return self._violation(FloodEvent(now, method, chat, paid, "limit", wait))
        for window, _, _ in windows:
            window.append(now)
        self.flood_log.append(FloodEvent(now, method, chat, paid, "ok"))
        return None

    def _violation(self, event: FloodEvent) -> ApiError:
        self.flood_violations += 1
        self.flood_log.append(event)
        return _too_many(event.retry_after)

    def _flood_forced(self, method: str, params: dict[str, Any], error: ApiError) -> None:
        """An injected failure was answered: a 429 on a send method pauses the bot like a real one."""
        flood = self.flood
        if flood is None or error.code != 429 or method.lower() not in SEND_METHODS:
            return
        retry_after = int((error.parameters or {}).get("retry_after") or 1)
        now = flood.clock()
        self._flood_until = max(self._flood_until, now + retry_after)
        if self.flood_log and self.flood_log[-1].verdict == "ok":  # this call's, logged by _flood_check just now
            now = self.flood_log.pop().at
        chat = self._flood_chat(params)
        self.flood_log.append(
            FloodEvent(now, method, chat, get_bool(params, "allow_paid_broadcast"), "forced", retry_after)
        )

    def _flood_sent(self, method: str, params: dict[str, Any]) -> None:
        """A send call succeeded."""
        if method.lower() not in SEND_METHODS:
            return
        self.sent_count += 1
        if get_bool(params, "allow_paid_broadcast"):
            self.paid_sent += 1
        chat = self._flood_chat(params)
        if chat is not None:
            self.sent_per_chat[chat] += 1


def _too_many(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
