"""callback_data for inline buttons: at most 64 bytes, never trusted.

Handler actions are short ASCII ``prefix:arg`` strings and normally fit as
they are. Anything longer (or not ASCII) is stored server-side under a
random token and the button carries ``~<token>``; the token is bound to the
user it was shown to and expires. On the way back nothing is trusted: a
token that is unknown, expired or belongs to someone else decodes to
``None``, and the adapter answers "this menu has expired". Plain actions
are still validated by the handlers (forged data can only press buttons the
handlers would accept from anyone).
"""

from __future__ import annotations

import secrets

from core.ports import KeyValueStore

__all__ = ["MAX_BYTES", "CallbackCodec"]

MAX_BYTES = 64
_TOKEN_PREFIX = "~"


class CallbackCodec:
    def __init__(self, kv: KeyValueStore, *, ttl: float = 7 * 24 * 3600) -> None:
        self.kv = kv
        self.ttl = ttl

    async def encode(self, action: str, user_id: int) -> str:
        if action and not action.startswith(_TOKEN_PREFIX) and action.isascii() and len(action) <= MAX_BYTES:
            return action
        token = secrets.token_urlsafe(12)  # 16 characters
        await self.kv.set_state(f"tgcb:{token}", {"a": action, "u": user_id}, ttl=self.ttl)
        return _TOKEN_PREFIX + token

    async def decode(self, data: str | None, user_id: int) -> str | None:
        """The action behind ``data``, or None when it is forged, stale or someone else's."""
        if not data or len(data.encode("utf-8", "replace")) > MAX_BYTES:
            return None
        if not data.startswith(_TOKEN_PREFIX):
            return data if data.isascii() and data.isprintable() else None
        state = await self.kv.get_state(f"tgcb:{data[1:]}")
        if not state or state.get("u") != user_id or not isinstance(state.get("a"), str):
            return None
        return str(state["a"])
