"""Row <-> domain conversions shared by the repositories."""

from __future__ import annotations

from datetime import UTC, datetime

from core.catalog import Course, DripMode, Lesson, LessonMedia, MediaKind, Plan, Price
from core.entitlements import Entitlement
from core.money import Money
from core.orders import ItemKind, Order, OrderStatus
from core.users import Role, User
from storage.tables import CourseRow, EntitlementRow, LessonMediaRow, LessonRow, OrderRow, PlanRow, UserRow

__all__ = ["course", "entitlement", "lesson", "order", "plan", "price", "to_utc", "user", "utc"]


def utc(value: datetime) -> datetime:
    """Re-attach UTC to what SQLite hands back naive (PostgreSQL keeps it)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_opt(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime reached storage; use the injected clock")
    return value.astimezone(UTC)


def price(amount: int | None, currency: str | None, stars: int | None) -> Price:
    fiat = Money(amount, currency) if amount is not None and currency else None
    return Price(fiat=fiat, stars=stars)


def user(row: UserRow) -> User:
    assert row.id is not None
    return User(
        id=row.id,
        ref_code=row.ref_code,
        role=Role(row.role),
        lang=row.lang,
        timezone=row.timezone,
        created_at=utc(row.created_at),
        referred_by=row.referred_by,
        display_name=row.display_name,
    )


def course(row: CourseRow, lesson_count: int = 0, free_count: int = 0) -> Course:
    assert row.id is not None
    return Course(
        id=row.id,
        slug=row.slug,
        title=row.title,
        summary=row.summary,
        description=row.description,
        category=row.category,
        tags=tuple(row.tags or ()),
        language=row.language,
        price=price(row.price_amount, row.price_currency, row.price_stars),
        drip_mode=DripMode(row.drip_mode),
        drip_hour=row.drip_hour,
        lesson_count=lesson_count,
        free_lesson_count=free_count,
        published=row.published,
        cover_path=row.cover_path,
        creator=row.creator,
    )


def lesson(row: LessonRow, media: list[LessonMediaRow] | None = None) -> Lesson:
    assert row.id is not None
    return Lesson(
        id=row.id,
        course_id=row.course_id,
        slug=row.slug,
        position=row.position,
        title=row.title,
        free=row.free,
        body=row.body,
        media=tuple(LessonMedia(MediaKind(m.kind), m.path, m.sha256, m.caption) for m in (media or [])),
    )


def plan(row: PlanRow, course_ids: frozenset[int]) -> Plan:
    assert row.id is not None
    return Plan(
        id=row.id,
        slug=row.slug,
        title=row.title,
        description=row.description,
        period_days=row.period_days,
        includes_all=row.includes_all,
        course_ids=course_ids,
        price=price(row.price_amount, row.price_currency, row.price_stars),
        published=row.published,
        community_chat=row.community_chat,
        creator=row.creator,
    )


def order(row: OrderRow) -> Order:
    assert row.id is not None
    return Order(
        id=row.id,
        code=row.code,
        user_id=row.user_id,
        item_kind=ItemKind(row.item_kind),
        item_id=row.item_id,
        price=Money(row.amount, row.currency),
        provider=row.provider,
        status=OrderStatus(row.status),
        created_at=utc(row.created_at),
        expires_at=utc(row.expires_at),
        paid_at=utc_opt(row.paid_at),
        closed_at=utc_opt(row.closed_at),
    )


def entitlement(row: EntitlementRow) -> Entitlement:
    assert row.id is not None
    return Entitlement(
        id=row.id,
        user_id=row.user_id,
        course_id=row.course_id,
        plan_id=row.plan_id,
        order_id=row.order_id,
        starts_at=utc(row.starts_at),
        expires_at=utc_opt(row.expires_at),
        revoked_at=utc_opt(row.revoked_at),
    )
