"""Ports: what the core needs from storage and shared state, as protocols.

The core talks only to these; ``storage/`` implements them on SQLModel and
Redis (or in-process stand-ins), and ``bot.py`` wires the real ones in.
One :class:`UnitOfWork` is one database transaction: leaving it without
``commit()`` rolls everything back, so a failed event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self

from core.catalog import Course, Lesson, Plan
from core.course_spec import CourseSpec, PlanSpec
from core.entitlements import Entitlement
from core.money import Money
from core.orders import ItemKind, Order, PaymentEventKind
from core.progress import Progress
from core.users import Ref, Role, User

__all__ = [
    "CatalogRepository",
    "EntitlementRepository",
    "KeyValueStore",
    "OrderRepository",
    "PaymentRecord",
    "ProgressRepository",
    "RateDecision",
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


class UnitOfWork(Protocol):
    """One transaction. ``async with uow:`` … ``await uow.commit()``."""

    users: UserRepository
    catalog: CatalogRepository
    orders: OrderRepository
    entitlements: EntitlementRepository
    progress: ProgressRepository

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

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """A token if the lock was free (it expires after ``ttl`` s), else None."""
        ...

    async def release_lock(self, key: str, token: str) -> bool:
        """Release only if ``token`` still holds it."""
        ...

    async def get_state(self, key: str) -> dict[str, Any] | None: ...
    async def set_state(self, key: str, value: dict[str, Any], ttl: float) -> None: ...
    async def clear_state(self, key: str) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...
