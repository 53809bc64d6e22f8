"""Per-user conversation state the WeChat channel shares across processes (Redis, or memory in one process).

* the send window: when the user last wrote and how many customer-service
  messages went out since (see :mod:`core.send_window` for the rule);
* the numbered options of the last menu we showed, so "1" presses button 1;
* a "has deferred messages" flag, so a user's message only costs a database
  lookup when something is actually waiting for them.

If this state is lost (a restart without Redis), the window reads as closed:
messages are deferred until the user writes, never sent against the rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.ports import KeyValueStore
from core.send_window import WindowState

__all__ = ["Conversations"]

_WINDOW_TTL = timedelta(hours=49).total_seconds()
_OPTIONS_TTL = timedelta(days=2).total_seconds()
_PENDING_TTL = timedelta(days=60).total_seconds()


class Conversations:
    def __init__(self, kv: KeyValueStore, app_id: str) -> None:
        self.kv = kv
        self.prefix = f"wechat:{app_id}"

    async def window(self, openid: str) -> WindowState:
        raw = await self.kv.get_state(f"{self.prefix}:win:{openid}")
        if not raw or not isinstance(raw.get("at"), int | float):
            return WindowState()
        return WindowState(datetime.fromtimestamp(raw["at"], UTC), int(raw.get("sent", 0)))

    async def inbound(self, openid: str, at: datetime) -> None:
        await self.kv.set_state(f"{self.prefix}:win:{openid}", {"at": at.timestamp(), "sent": 0}, _WINDOW_TTL)

    async def spent(self, openid: str, count: int) -> None:
        """Count ``count`` customer-service messages against the current window (best effort across processes)."""
        if count <= 0:
            return
        state = await self.window(openid)
        if state.last_inbound_at is None:
            return
        value = {"at": state.last_inbound_at.timestamp(), "sent": state.sent_since_inbound + count}
        await self.kv.set_state(f"{self.prefix}:win:{openid}", value, _WINDOW_TTL)

    async def close_window(self, openid: str) -> None:
        """WeChat said the window is closed (45015/45047): believe it until the user writes again."""
        state = await self.window(openid)
        if state.last_inbound_at is not None:
            value = {"at": state.last_inbound_at.timestamp(), "sent": 10**6}
            await self.kv.set_state(f"{self.prefix}:win:{openid}", value, _WINDOW_TTL)

    async def options(self, openid: str) -> dict[str, str]:
        raw = await self.kv.get_state(f"{self.prefix}:opt:{openid}")
        return {k: v for k, v in (raw or {}).items() if isinstance(k, str) and isinstance(v, str)}

    async def set_options(self, openid: str, options: dict[str, str]) -> None:
        if options:
            await self.kv.set_state(f"{self.prefix}:opt:{openid}", options, _OPTIONS_TTL)

    async def mark_pending(self, openid: str) -> None:
        await self.kv.set_state(f"{self.prefix}:pend:{openid}", {"p": 1}, _PENDING_TTL)

    async def pending_flag(self, openid: str) -> bool:
        return await self.kv.get_state(f"{self.prefix}:pend:{openid}") is not None

    async def clear_pending(self, openid: str) -> None:
        await self.kv.clear_state(f"{self.prefix}:pend:{openid}")
