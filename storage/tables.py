"""SQLModel tables: the one place the schema is described.

Alembic migrations in ``storage/migrations`` are generated from this
metadata and a test checks they stay in step. Times are stored as
timezone-aware UTC (``DateTime(timezone=True)``); SQLite keeps them as text
and :func:`storage.repositories.utc` re-attaches UTC on the way out.
Every table holding a user reference lists ``user_id`` so privacy export
and delete (issue 8) can find it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = [
    "ChannelContactRow",
    "CommunityMemberRow",
    "CourseRow",
    "DeferredMessageRow",
    "EntitlementRow",
    "IdentityRow",
    "LessonMediaRow",
    "LessonRow",
    "MediaFileRow",
    "OrderRow",
    "PaymentEventRow",
    "PaymentRow",
    "PlanCourseRow",
    "PlanRow",
    "ProgressRow",
    "SubscriptionRow",
    "UserRow",
    "metadata",
]


#: Stable constraint names, so migrations (and SQLite batch mode) can find them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _ts(nullable: bool = False, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable, index=index)


class UserRow(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    ref_code: str = Field(max_length=16, unique=True)
    role: int = Field(default=1)
    lang: str = Field(max_length=8)
    timezone: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=128)
    referred_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_column=_ts())


class IdentityRow(SQLModel, table=True):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_ref"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    # Set when the messenger refuses to deliver to this identity (the user blocked the bot);
    # cleared when they write again. Proactive messages skip unreachable identities.
    unreachable_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class CourseRow(SQLModel, table=True):
    __tablename__ = "courses"
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=48, unique=True)
    title: str = Field(max_length=200)
    summary: str = Field(default="")
    description: str = Field(default="")
    category: str = Field(default="", max_length=64)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    language: str = Field(max_length=8)
    price_amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    price_currency: str | None = Field(default=None, max_length=3)
    price_stars: int | None = Field(default=None)
    drip_mode: str = Field(default="all", max_length=16)
    drip_hour: int = Field(default=8)
    cover_path: str | None = Field(default=None)
    published: bool = Field(default=True)
    creator: str | None = Field(default=None, max_length=80)  # the owning creator's REF (telegram:123)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class LessonRow(SQLModel, table=True):
    __tablename__ = "lessons"
    __table_args__ = (UniqueConstraint("course_id", "slug", name="uq_lesson_slug"),)
    id: int | None = Field(default=None, primary_key=True)
    course_id: int = Field(foreign_key="courses.id", index=True)
    slug: str = Field(max_length=120)
    position: int = Field(default=0)
    title: str = Field(max_length=200)
    free: bool = Field(default=False)
    body: str = Field(default="")
    archived: bool = Field(default=False)
    updated_at: datetime = Field(sa_column=_ts())


class LessonMediaRow(SQLModel, table=True):
    __tablename__ = "lesson_media"
    id: int | None = Field(default=None, primary_key=True)
    lesson_id: int = Field(foreign_key="lessons.id", index=True)
    position: int = Field(default=0)
    kind: str = Field(max_length=16)
    path: str
    sha256: str = Field(max_length=64)
    caption: str = Field(default="")


class PlanRow(SQLModel, table=True):
    __tablename__ = "plans"
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=48, unique=True)
    title: str = Field(max_length=200)
    description: str = Field(default="")
    period_days: int
    includes_all: bool = Field(default=False)
    price_amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    price_currency: str | None = Field(default=None, max_length=3)
    price_stars: int | None = Field(default=None)
    community_chat: str | None = Field(default=None, max_length=32)  # a Telegram group/channel id
    published: bool = Field(default=True)
    creator: str | None = Field(default=None, max_length=80)  # the owning creator's REF (telegram:123)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class PlanCourseRow(SQLModel, table=True):
    __tablename__ = "plan_courses"
    plan_id: int = Field(foreign_key="plans.id", primary_key=True)
    course_id: int = Field(foreign_key="courses.id", primary_key=True)


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_expires", "status", "expires_at"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=24, unique=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    item_kind: str = Field(max_length=16)
    item_id: int
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    provider: str = Field(max_length=32)
    status: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts())
    paid_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class PaymentRow(SQLModel, table=True):
    """One row per provider charge. The unique key is what makes confirmation idempotent."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "charge_id", name="uq_payment_charge"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    provider: str = Field(max_length=32)
    charge_id: str = Field(max_length=128)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    outcome: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_ts())


class PaymentEventRow(SQLModel, table=True):
    """Append-only payment history (never updated, never deleted)."""

    __tablename__ = "payment_events"
    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    kind: str = Field(max_length=16)
    provider: str = Field(default="", max_length=32)
    charge_id: str = Field(default="", max_length=128)
    amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    detail: str = Field(default="")
    at: datetime = Field(sa_column=_ts())


class EntitlementRow(SQLModel, table=True):
    __tablename__ = "entitlements"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    course_id: int | None = Field(default=None, foreign_key="courses.id")
    plan_id: int | None = Field(default=None, foreign_key="plans.id")
    order_id: int | None = Field(default=None, foreign_key="orders.id", index=True)
    starts_at: datetime = Field(sa_column=_ts())
    expires_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ProgressRow(SQLModel, table=True):
    __tablename__ = "progress"
    __table_args__ = (Index("ix_progress_user_course", "user_id", "course_id"),)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    lesson_id: int = Field(foreign_key="lessons.id", primary_key=True)
    course_id: int = Field(foreign_key="courses.id")
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_at: datetime = Field(sa_column=_ts())


class SubscriptionRow(SQLModel, table=True):
    """A plan that renews itself through the provider (Telegram Stars subscriptions)."""

    __tablename__ = "subscriptions"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    plan_id: int = Field(foreign_key="plans.id")
    order_id: int = Field(foreign_key="orders.id", unique=True)
    provider: str = Field(max_length=32)
    charge_id: str = Field(max_length=128)  # the first charge: names the subscription at the provider
    period_end: datetime = Field(sa_column=_ts(index=True))
    auto_renew: bool = Field(default=True)
    status: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class CommunityMemberRow(SQLModel, table=True):
    """Who is in which paid community chat, as the messenger last told us."""

    __tablename__ = "community_members"
    __table_args__ = (UniqueConstraint("user_id", "chat_id", name="uq_community_member"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    chat_id: str = Field(max_length=32, index=True)
    status: str = Field(max_length=16)  # member, left, removed
    joined_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    left_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    reminded_days: int | None = Field(default=None)  # the last expiry reminder sent (3, then 1 days before)
    updated_at: datetime = Field(sa_column=_ts())


class MediaFileRow(SQLModel, table=True):
    """A messenger's own id for a file we uploaded once (Telegram file_id, per bot)."""

    __tablename__ = "media_files"
    sender: str = Field(max_length=48, primary_key=True)  # e.g. "telegram:123456" (the bot's id)
    sha256: str = Field(max_length=64, primary_key=True)
    kind: str = Field(max_length=16, primary_key=True)
    file_id: str = Field(max_length=256)
    created_at: datetime = Field(sa_column=_ts())


class DeferredMessageRow(SQLModel, table=True):
    """Replies waiting for the channel to let us send them (WeChat's 48-hour window), per identity.

    ``payload`` is :func:`core.reply_codec.encode`'s list as JSON text. Pending rows have no
    ``delivered_at``; the index serves "the oldest pending of one identity".
    """

    __tablename__ = "deferred_messages"
    __table_args__ = (Index("ix_deferred_messages_pending", "channel", "external_id", "delivered_at", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_ts())
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class ChannelContactRow(SQLModel, table=True):
    """Whether an identity follows the bot's account (WeChat subscribe/unsubscribe) and its platform."""

    __tablename__ = "channel_contacts"
    channel: str = Field(max_length=16, primary_key=True)
    external_id: str = Field(max_length=128, primary_key=True)
    following: bool = Field(default=False)
    followed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    unfollowed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    scene: str | None = Field(default=None, max_length=64)  # the parametric QR code's scene of the latest follow
    platform: str | None = Field(default=None, max_length=16)  # ios, android, other


class CampaignRow(SQLModel, table=True):
    """One thing sent to many: a broadcast, a day's drip, a reminder run (see core.delivery)."""

    __tablename__ = "campaigns"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    creator_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    audience: str = Field(max_length=128)
    channel: str | None = Field(default=None, max_length=16)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # reply_codec JSON
    paid: bool = Field(default=False)
    total: int = Field(default=0)
    created_at: datetime = Field(sa_column=_ts())
    started_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DeliveryRow(SQLModel, table=True):
    """One message to one recipient, written before it is sent; ``key`` makes it happen once.

    Workers claim pending rows that are due (``claimed_until`` in the past) for a lease, send,
    then record the outcome. The partial-looking index serves the claim query.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("key", name="uq_delivery_key"),
        Index("ix_deliveries_due", "status", "next_at", "id"),
        Index("ix_deliveries_campaign_status", "campaign_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128)
    campaign_id: int | None = Field(default=None, foreign_key="campaigns.id")
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    status: str = Field(max_length=16)
    attempts: int = Field(default=0)
    next_at: datetime = Field(sa_column=_ts())
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    content: str = Field(default="campaign", max_length=64)
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # per-row replies
    important: str | None = Field(default=None, max_length=16)
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    error: str = Field(default="", max_length=200)


class CampaignClickRow(SQLModel, table=True):
    """A recipient pressed button ``button`` of a broadcast (counted once per recipient and button)."""

    __tablename__ = "campaign_clicks"
    campaign_id: int = Field(foreign_key="campaigns.id", primary_key=True)
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    button: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_ts())


class MuteRow(SQLModel, table=True):
    """A user's opt-out: ``scope`` is "broadcasts" (from everyone), "creator:<id>", or "recommendations"."""

    __tablename__ = "mutes"
    user_id: int = Field(foreign_key="users.id", primary_key=True)
    scope: str = Field(max_length=32, primary_key=True)
    at: datetime = Field(sa_column=_ts())


metadata = SQLModel.metadata
