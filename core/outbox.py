"""Deferred messages: replies that could not be sent yet, waiting in order.

WeChat lets a bot send customer-service messages only within 48 hours of the
user's last message and at most five per inbound message. What cannot go out
now is *deferred*: stored durably (see :class:`core.ports.OutboxRepository`)
and delivered, oldest first, when the user writes again. Any channel's
delivery may use the same outbox; the replies are stored with
:mod:`core.reply_codec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.replies import Reply
from core.users import Ref

__all__ = ["Deferred"]


@dataclass(frozen=True, slots=True)
class Deferred:
    """One deferred message: the replies to send to ``ref`` together, and why they waited."""

    id: int
    ref: Ref
    user_id: int | None
    replies: tuple[Reply, ...]
    reason: str  # short and machine-readable, e.g. "window_closed", "quota"
    created_at: datetime
