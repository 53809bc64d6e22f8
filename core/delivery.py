"""Deliveries: everything the platform sends on its own initiative, recorded before it is sent.

A *campaign* is one thing to send to many people (a creator's broadcast, a
day's drip lessons, a reminder run). Each recipient gets one *delivery* row,
unique by ``key`` (``b:<campaign>:<user>`` for a broadcast), written before
anything is sent. Workers claim due rows for a lease, send them, and record
the outcome. Because the row exists first and its outcome is written right
after the send, a crash loses nothing and repeats at most the sends that
were in flight (their rows are still claimed, and are claimed again when the
lease runs out).

The rules here are pure; storage claims and records, the engine in
``jobs/delivery.py`` sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.replies import Reply
from core.users import Ref

__all__ = [
    "BACKOFF",
    "MAX_ATTEMPTS",
    "Campaign",
    "CampaignKind",
    "CampaignStatus",
    "Delivery",
    "DeliveryStatus",
    "NewDelivery",
    "Outcome",
    "SendResult",
    "next_attempt",
]

MAX_ATTEMPTS = 5
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1))


class CampaignKind(StrEnum):
    BROADCAST = "broadcast"
    DRIP = "drip"
    REMINDER = "reminder"
    RECOMMENDATION = "recommendation"


class CampaignStatus(StrEnum):
    DRAFT = "draft"  # composed, audience counted, not confirmed
    STARTING = "starting"  # confirmed; a worker is writing its delivery rows (then RUNNING)
    RUNNING = "running"
    PAUSED = "paused"  # rows stay pending; workers skip them until resumed
    CANCELLED = "cancelled"  # pending rows become cancelled; nothing more is sent
    DONE = "done"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_at (maybe claimed by a worker right now)
    SENT = "sent"
    BLOCKED = "blocked"  # the user blocked the bot or unfollowed: marked unreachable, skipped from now on
    FAILED = "failed"  # gave up: a permanent error, or MAX_ATTEMPTS transient ones
    DEFERRED = "deferred"  # handed to the channel's outbox until its send window opens (WeChat)
    SKIPPED = "skipped"  # the user muted this kind of message, or can't be reached on this channel
    CANCELLED = "cancelled"  # the campaign was cancelled before this one went out

    @property
    def final(self) -> bool:
        return self is not DeliveryStatus.PENDING


class Outcome(StrEnum):
    """What a channel's bulk sender reports for one send."""

    SENT = "sent"
    BLOCKED = "blocked"
    DEFERRED = "deferred"
    FAILED = "failed"  # permanent: don't retry
    RETRY = "retry"  # transient: retry later (network, 5xx)
    FLOOD = "flood"  # the messenger asked us to slow down (Telegram 429): retry after ``retry_after``


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    detail: str = ""
    retry_after: float = 0.0  # seconds, for FLOOD


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    kind: CampaignKind
    status: CampaignStatus
    creator_id: int | None  # who sends it (None: the platform itself)
    audience: str  # the audience spec, e.g. "course:python-basics" (see core.audiences)
    channel: str | None  # only this messenger, or every one the user can be reached on
    replies: tuple[Reply, ...]  # what every recipient gets (broadcasts); drip rows carry their own content
    paid: bool  # Telegram allow_paid_broadcast: faster, and costs Stars
    total: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    key: str
    campaign_id: int | None
    user_id: int | None
    ref: Ref
    status: DeliveryStatus
    attempts: int
    next_at: datetime
    content: str  # "campaign" (the campaign's replies) or a per-row resolver key, e.g. "lesson:42"
    replies: tuple[Reply, ...] = ()  # per-row content (reminders), when not the campaign's
    important: str | None = None  # "payment" / "reminder": may use a template outside a send window
    sent_at: datetime | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A row to record before sending: ``key`` is what makes it happen once (``b:<campaign>:<user>``)."""

    key: str
    ref: Ref
    user_id: int | None
    next_at: datetime
    campaign_id: int | None = None
    content: str = "campaign"
    replies: tuple[Reply, ...] = ()
    important: str | None = None


def next_attempt(attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` transient failures; None: give up (FAILED)."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + BACKOFF[min(attempts, len(BACKOFF)) - 1] if attempts > 0 else now
