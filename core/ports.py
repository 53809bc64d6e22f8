"""Ports: what the core needs from storage and shared state, as protocols.

The core talks only to these; ``storage/`` implements them on SQLModel and
Redis (or in-process stand-ins), and ``bot.py`` wires the real ones in.
One :class:`UnitOfWork` is one database transaction: leaving it without
``commit()`` rolls everything back, so a failed event changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, Self

from core.audiences import Audience, Scope
from core.catalog import Course, Lesson, Plan
from core.community import CommunityMember, MemberStatus
from core.contacts import Contact, Platform
from core.course_spec import CourseSpec, PlanSpec
from core.delivery import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    NewDelivery,
    SendResult,
)
from core.entitlements import Entitlement
from core.money import Money
from core.orders import ItemKind, Order, PaymentEventKind
from core.outbox import Deferred
from core.progress import Progress
from core.replies import Reply
from core.subscriptions import Subscription
from core.users import Ref, Role, User

if TYPE_CHECKING:  # annotations only: core.recommendations itself depends on these ports
    from core.recommend import Interaction, Signal
    from core.recommendations import PushReport, StoredPicks

__all__ = [
    "AudienceRepository",
    "BulkSender",
    "CatalogRepository",
    "CommunityGateway",
    "CommunityRepository",
    "ContactRepository",
    "DeliveryRepository",
    "EntitlementRepository",
    "KeyValueStore",
    "Notifier",
    "OrderRepository",
    "OutboxRepository",
    "PaymentGateway",
    "PaymentRecord",
    "ProgressRepository",
    "RateDecision",
    "RecommendationRepository",
    "SendLimits",
    "SubscriptionRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
]


class UserRepository(Protocol):
    async def get(self, user_id: int) -> User | None: ...
    async def get_by_ref(self, ref: Ref) -> User | None: ...
    async def get_by_ref_code(self, code: str) -> User | None: ...
    async def create(
        self, ref: Ref, *, ref_code: str, role: Role, lang: str, timezone: str, now: datetime, display_name: str
    ) -> User: ...
    async def refs(self, user_id: int) -> list[Ref]: ...
    async def set_lang(self, user_id: int, lang: str) -> None: ...
    async def set_timezone(self, user_id: int, timezone: str) -> None: ...
    async def set_role(self, user_id: int, role: Role) -> None: ...
    async def set_referred_by(self, user_id: int, referrer_id: int) -> None: ...
    async def set_unreachable(self, ref: Ref, at: datetime | None) -> None:
        """Mark an identity the messenger refuses to deliver to (None: reachable again)."""
        ...

    async def reachable_refs(self, user_id: int) -> list[Ref]: ...
    async def with_role(self, role: Role) -> list[User]:
        """Everyone who has ``role`` or a higher one (``User.has_role``), oldest first: whom jobs report to."""
        ...


class CatalogRepository(Protocol):
    async def list_courses(self, *, published_only: bool = True) -> list[Course]: ...
    async def get_course(self, slug: str) -> Course | None: ...
    async def get_course_by_id(self, course_id: int) -> Course | None: ...
    async def lessons(self, course_id: int) -> list[Lesson]: ...
    async def get_lesson(self, lesson_id: int) -> Lesson | None: ...
    async def list_plans(self, *, published_only: bool = True) -> list[Plan]: ...
    async def get_plan(self, slug: str) -> Plan | None: ...
    async def get_plan_by_id(self, plan_id: int) -> Plan | None: ...
    async def upsert_course(self, spec: CourseSpec, media_paths: dict[str, str], now: datetime) -> bool:
        """Create or update by slug; ``media_paths`` maps sha256 -> stored path. True if created."""
        ...

    async def upsert_plan(self, spec: PlanSpec, now: datetime) -> bool: ...
    async def course_sales(self, since: datetime) -> dict[int, tuple[int, int]]:
        """Course id -> (live entitlements ever, those granted at or after ``since``), for courses sold at
        least once. Refunded (revoked) ones don't count. What "popular" is computed from."""
        ...


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    provider: str
    charge_id: str
    order_id: int | None
    total: Money
    outcome: str
    created_at: datetime


class OrderRepository(Protocol):
    async def add(
        self,
        *,
        code: str,
        user_id: int,
        item_kind: ItemKind,
        item_id: int,
        price: Money,
        provider: str,
        now: datetime,
        expires_at: datetime,
    ) -> Order: ...
    async def get_by_code(self, code: str, *, for_update: bool = False) -> Order | None: ...
    async def get(self, order_id: int, *, for_update: bool = False) -> Order | None: ...
    async def save(self, order: Order) -> None: ...
    async def find_pending(
        self, user_id: int, item_kind: ItemKind, item_id: int, currency: str, now: datetime
    ) -> Order | None: ...
    async def expired_pending(self, now: datetime, limit: int) -> list[Order]: ...
    async def pending_of(self, provider: str, limit: int) -> list[Order]:
        """Pending orders of one provider, oldest first (WeChat Pay reconciliation asks the provider about them)."""
        ...

    async def for_user(self, user_id: int) -> list[Order]: ...
    async def add_payment(self, record: PaymentRecord) -> bool:
        """Insert unless (provider, charge_id) exists. False means: already seen."""
        ...

    async def get_payment(self, provider: str, charge_id: str) -> PaymentRecord | None: ...
    async def add_event(
        self,
        *,
        order_id: int | None,
        kind: PaymentEventKind,
        at: datetime,
        provider: str = "",
        charge_id: str = "",
        total: Money | None = None,
        detail: str = "",
    ) -> None: ...
    async def events(self, order_id: int) -> list[tuple[PaymentEventKind, str]]: ...
    async def payments_for(self, order_id: int) -> list[PaymentRecord]:
        """Every charge recorded against an order, oldest first."""
        ...

    async def paid_since(self, provider: str, since: datetime) -> list[tuple[Order, list[PaymentRecord]]]:
        """Orders of ``provider`` paid (or refunded) at or after ``since``, with their charges (reconciliation)."""
        ...


class EntitlementRepository(Protocol):
    async def add(
        self,
        *,
        user_id: int,
        course_id: int | None,
        plan_id: int | None,
        order_id: int | None,
        starts_at: datetime,
        expires_at: datetime | None,
    ) -> Entitlement: ...
    async def for_user(self, user_id: int) -> list[Entitlement]:
        """Every entitlement not revoked, expired ones included (callers check dates)."""
        ...

    async def revoke_for_order(self, order_id: int, at: datetime) -> int: ...


class ProgressRepository(Protocol):
    async def for_course(self, user_id: int, course_id: int) -> dict[int, Progress]: ...
    async def mark_delivered(self, user_id: int, lesson: Lesson, at: datetime) -> None: ...
    async def mark_completed(self, user_id: int, lesson: Lesson, at: datetime) -> bool:
        """True when this call completed it (False: it was done already)."""
        ...

    async def course_activity(self, user_id: int) -> list[tuple[int, int]]:
        """(course id, lessons completed) for every course the user touched, most recent first."""
        ...


class SubscriptionRepository(Protocol):
    async def add(
        self,
        *,
        user_id: int,
        plan_id: int,
        order_id: int,
        provider: str,
        charge_id: str,
        period_end: datetime,
        now: datetime,
    ) -> Subscription: ...
    async def get(self, sub_id: int, *, for_update: bool = False) -> Subscription | None: ...
    async def by_order(self, order_id: int, *, for_update: bool = False) -> Subscription | None: ...
    async def for_user(self, user_id: int) -> list[Subscription]: ...
    async def save(self, sub: Subscription, now: datetime) -> None: ...
    async def lapsed(self, now: datetime, limit: int) -> list[Subscription]:
        """Active subscriptions whose period ended before ``now`` (no renewal came)."""
        ...


class CommunityRepository(Protocol):
    async def get(self, user_id: int, chat_id: str) -> CommunityMember | None: ...
    async def record(self, user_id: int, chat_id: str, status: MemberStatus, now: datetime) -> CommunityMember:
        """Create or update the membership row with the status the messenger reported."""
        ...

    async def members(self, chat_id: str | None = None) -> list[CommunityMember]:
        """Everyone currently a member (of ``chat_id``, or of any community)."""
        ...

    async def set_reminded(self, member_id: int, days: int | None) -> None: ...


class OutboxRepository(Protocol):
    """Deferred messages (:mod:`core.outbox`), per channel identity, delivered oldest first."""

    async def defer(
        self, ref: Ref, replies: Sequence[Reply], *, user_id: int | None, reason: str, now: datetime
    ) -> int:
        """Store ``replies`` to send to ``ref`` later, together; the new message's id."""
        ...

    async def pending(self, ref: Ref, *, limit: int) -> list[Deferred]:
        """Up to ``limit`` undelivered messages for ``ref``, oldest first (created_at, then id)."""
        ...

    async def mark_delivered(self, ids: Sequence[int], now: datetime) -> None: ...
    async def count_pending(self, ref: Ref) -> int: ...
    async def refs_with_pending(self, channel: str, *, limit: int) -> list[Ref]:
        """Identities of ``channel`` with something undelivered, the longest-waiting first."""
        ...


class ContactRepository(Protocol):
    """Follow state and platform of channel identities (:mod:`core.contacts`)."""

    async def get(self, ref: Ref) -> Contact | None: ...
    async def followed(self, ref: Ref, now: datetime, *, scene: str | None = None) -> Contact:
        """Create or update: following since ``now``; ``scene`` replaces the stored one unless None."""
        ...

    async def unfollowed(self, ref: Ref, now: datetime) -> Contact:
        """Create or update: not following since ``now``."""
        ...

    async def set_platform(self, ref: Ref, platform: Platform) -> None:
        """Create or update the platform (a new contact is not following)."""
        ...

    async def count_following(self, channel: str) -> int: ...


class DeliveryRepository(Protocol):
    """Campaigns and delivery rows (see core.delivery): record before send, claim, record the outcome."""

    async def create_campaign(
        self,
        *,
        kind: CampaignKind,
        creator_id: int | None,
        audience: str,
        channel: str | None,
        replies: Sequence[Reply],
        paid: bool,
        now: datetime,
        status: CampaignStatus = ...,
    ) -> Campaign: ...
    async def get_campaign(self, campaign_id: int) -> Campaign | None: ...
    async def set_campaign(
        self,
        campaign_id: int,
        *,
        status: CampaignStatus | None = None,
        total: int | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> None: ...
    async def campaigns(
        self, *, status: CampaignStatus | None = None, creator_id: int | None = None
    ) -> list[Campaign]: ...
    async def finish_campaign(self, campaign_id: int, now: datetime) -> bool:
        """Running → done once nothing is pending; True only for the caller that made the change."""
        ...

    async def add(self, rows: Sequence[NewDelivery]) -> int:
        """Insert rows whose key is new; how many were inserted."""
        ...

    async def claim(self, worker: str, now: datetime, *, lease_until: datetime, limit: int) -> list[Delivery]: ...
    async def record(
        self,
        delivery_id: int,
        worker: str,
        status: DeliveryStatus,
        now: datetime,
        *,
        error: str = "",
        attempts: int | None = None,
        next_at: datetime | None = None,
    ) -> bool: ...
    async def record_sent(self, ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        """Mark many claimed rows SENT in one statement; the ids whose lease ``worker`` still held."""
        ...

    async def release(self, ids: Sequence[int], worker: str) -> None: ...
    async def progress(self, campaign_id: int) -> dict[DeliveryStatus, int]: ...
    async def cancel_pending(self, campaign_id: int) -> int: ...
    async def pending_count(self, campaign_id: int | None = None) -> int: ...
    async def get(self, delivery_id: int) -> Delivery | None: ...
    async def by_key(self, key: str) -> Delivery | None: ...
    async def click(self, campaign_id: int, user_id: int, button: int, now: datetime) -> bool: ...
    async def clicks(self, campaign_id: int) -> int: ...
    async def mute(self, user_id: int, scope: str, now: datetime) -> None: ...
    async def unmute(self, user_id: int, scope: str) -> None: ...
    async def mutes(self, user_id: int) -> set[str]: ...


class AudienceRepository(Protocol):
    """Who an audience (:mod:`core.audiences`) reaches right now, counted or streamed.

    Everyone counted or streamed has a reachable identity (on ``channel`` when given) and none
    of ``scope.mute_scopes`` among their mutes; with ``scope.owner_refs`` set, only followers of
    what those REFs own. One REF per user: the given channel's, else telegram, then wechat, then console.
    """

    async def count(self, audience: Audience, channel: str | None, scope: Scope, now: datetime) -> int: ...
    async def count_by_channel(
        self, audience: Audience, channel: str | None, scope: Scope, now: datetime
    ) -> dict[str, int]:
        """How many users each messenger would carry (by the REF :meth:`stream` picks)."""
        ...

    def stream(
        self, audience: Audience, channel: str | None, scope: Scope, now: datetime, *, batch: int = 1000
    ) -> AsyncIterator[list[tuple[int, Ref]]]:
        """Batches of (user id, REF) in user id order, at most ``batch`` each (keyset pagination:
        memory stays flat however large the audience). Each batch is its own query, so the caller
        may write and commit between batches on the same unit of work."""
        ...

    async def senders(self, user_id: int, *, limit: int = 10) -> list[int]:
        """Users whose broadcasts reached ``user_id``, most recent first (whom they may want to mute)."""
        ...


class RecommendationRepository(Protocol):
    """Signals in; precomputed recommendations and the pushes' outcomes out (:mod:`core.recommendations`)."""

    async def add_signal(self, user_id: int, course_id: int, kind: Signal, at: datetime) -> None: ...
    async def last_signal(self, user_id: int, course_id: int, kind: Signal) -> datetime | None:
        """When the user last gave this signal about this course (None: never)."""
        ...

    async def add_query(self, user_id: int, query: str, at: datetime) -> None: ...
    async def history(self, user_id: int, *, since: datetime, limit: int) -> list[Interaction]:
        """The user's signals at or after ``since``, newest first, at most ``limit``."""
        ...

    async def queries(self, user_id: int, *, since: datetime, limit: int) -> list[str]:
        """The user's search queries at or after ``since``, newest first, without repeats."""
        ...

    async def stored(self, user_id: int, *, limit: int) -> StoredPicks | None:
        """The live refit's top ``limit`` for the user (possibly none) and its cold-start list; None while
        no refit is live. Serving's hot path: an indexed read of one user's rows."""
        ...

    async def add_push(self, campaign_id: int, user_id: int, course_ids: Sequence[int], at: datetime) -> None:
        """The courses push ``campaign_id`` shows the user, button 0 first (replacing a previous rendering)."""
        ...

    async def pushed_course(self, campaign_id: int, user_id: int, rank: int) -> int | None: ...
    async def push_click(
        self, user_id: int, course_id: int, *, since: datetime, until: datetime
    ) -> tuple[int, datetime] | None:
        """The latest press of ``course_id`` in a push to the user within [since, until]: (campaign id, when)."""
        ...

    async def add_conversion(
        self, *, order_id: int, user_id: int, course_id: int, campaign_id: int, clicked_at: datetime, at: datetime
    ) -> bool:
        """Attribute the order to the push (once per order); False if it was already."""
        ...

    async def push_report(self, campaign_id: int) -> PushReport:
        """Recipients shown courses, those who pressed one, attributed purchases and their revenue."""
        ...


class UnitOfWork(Protocol):
    """One transaction. ``async with uow:`` … ``await uow.commit()``."""

    users: UserRepository
    catalog: CatalogRepository
    orders: OrderRepository
    entitlements: EntitlementRepository
    progress: ProgressRepository
    subscriptions: SubscriptionRepository
    community: CommunityRepository
    outbox: OutboxRepository
    contacts: ContactRepository
    deliveries: DeliveryRepository
    audiences: AudienceRepository
    recommendations: RecommendationRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: float  # seconds until one more unit is available (0 when allowed)


class KeyValueStore(Protocol):
    """Shared, expiring state: dedup keys, token-bucket rate limits, locks, conversation state.

    Redis backs it when several processes run; an in-process implementation
    stands in for a single process. Both pass the same contract tests.
    """

    async def set_if_absent(self, key: str, ttl: float) -> bool:
        """Mark ``key`` as seen for ``ttl`` seconds. True the first time only."""
        ...

    async def take(self, key: str, *, rate: float, burst: int, cost: int = 1) -> RateDecision:
        """Token bucket: ``rate`` tokens/s refill up to ``burst``; take ``cost`` if available."""
        ...

    async def reserve(self, key: str, *, interval: float, max_wait: float) -> float | None:
        """Book the next slot of a schedule with one slot every ``interval`` s (GCRA "virtual scheduling").

        Returns the seconds to wait until the booked slot (0: now), or None, booking nothing, when that would
        be more than ``max_wait``. Slots follow each other exactly ``interval`` apart whenever callers keep up,
        so a caller that wakes a little late doesn't cost the schedule anything (a token bucket of one token
        loses that time on every send), and no two slots are ever closer than ``interval``.
        """
        ...

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """A token if the lock was free (it expires after ``ttl`` s), else None."""
        ...

    async def release_lock(self, key: str, token: str) -> bool:
        """Release only if ``token`` still holds it."""
        ...

    async def renew_lock(self, key: str, token: str, ttl: float) -> bool:
        """Make the lock expire ``ttl`` s from now, only if ``token`` still holds it; False: it was lost
        (expired, or taken by another). How a leader keeps a lock without ever holding one it lost."""
        ...

    async def get_state(self, key: str) -> dict[str, Any] | None: ...
    async def set_state(self, key: str, value: dict[str, Any], ttl: float) -> None: ...
    async def clear_state(self, key: str) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class PaymentGateway(Protocol):
    """A payment provider's own operations, beyond the charge itself (Saleor's gateway idea).

    Raise :class:`core.errors.GatewayError` when the provider refuses or cannot be reached;
    callers call the provider *before* committing, so a refusal changes nothing locally.
    """

    channel: str  # the messenger whose identities the provider knows ("telegram")

    async def refund(self, ref: Ref, charge_id: str) -> None: ...
    async def set_renewal(self, ref: Ref, charge_id: str, *, enabled: bool) -> None: ...


class CommunityGateway(Protocol):
    """The messenger's side of paid communities (Telegram groups and channels where the bot is admin)."""

    channel: str

    async def invite_link(self, chat_id: str, *, name: str, expires_at: datetime) -> str:
        """A one-time link (one member) that expires at ``expires_at``."""
        ...

    async def approve(self, chat_id: str, ref: Ref) -> None: ...
    async def decline(self, chat_id: str, ref: Ref) -> None: ...
    async def remove(self, chat_id: str, ref: Ref) -> None:
        """Out now, free to rejoin later (ban, then unban)."""
        ...


@dataclass(frozen=True, slots=True)
class SendLimits:
    """A messenger's pace for bulk sends, shared by every worker through the key-value store."""

    key: str  # whose limits: "telegram:<bot id>", "wechat:<app id>"
    per_second: float  # all chats together
    per_chat: float  # one private chat
    per_group_minute: float = 20.0  # one group or channel, per minute (Telegram)


class BulkSender(Protocol):
    """A channel's path for proactive bulk messages (the delivery engine's only way out).

    It sends on its own connections so bulk traffic never queues in front of replies to users, paces
    itself within :meth:`limits` (shared token buckets), and reports what happened instead of raising.
    """

    channel: str

    def limits(self, *, paid: bool) -> SendLimits: ...
    async def send_bulk(
        self, ref: Ref, replies: Sequence[Reply], *, paid: bool = False, important: str | None = None
    ) -> SendResult: ...


class Notifier(Protocol):
    """Proactive messages to a user who did not just write (refunds, reminders, approvals)."""

    async def notify(self, user_id: int, replies: Sequence[Reply], *, important: str | None = None) -> bool:
        """Send to the user's reachable identities; False when none could be reached.

        ``important`` ("payment", "reminder") marks a notice that must reach the user even where the
        channel's send window is closed (WeChat: as a template notice; the full text waits for the user).
        """
        ...
