"""Catalog domain: courses, lessons, membership plans and their prices.

A course has at most one fiat price (minor units + ISO currency) and at most
one Telegram Stars price; a course with neither is free. A plan opens the
courses it includes for ``period_days``. These are plain value objects:
storage maps its rows onto them, channels only ever see them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from core.money import STARS, Money

__all__ = [
    "SLUG_RE",
    "Course",
    "DripMode",
    "Lesson",
    "LessonMedia",
    "MediaKind",
    "Plan",
    "Price",
    "media_kind_for",
]

#: Slugs appear in deep links (``c_<slug>``) and callback data, so they are
#: short, lower-case and URL-safe.
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")


class DripMode(enum.StrEnum):
    """How a course's lessons open over time."""

    ALL = "all"  # every lesson at once
    DAILY = "daily"  # one new lesson per day at the course hour, learner's timezone
    ON_COMPLETE = "on_complete"  # the next opens when the previous is marked done


class MediaKind(enum.StrEnum):
    PHOTO = "photo"
    AUDIO = "audio"
    VOICE = "voice"
    VIDEO = "video"
    ANIMATION = "animation"
    DOCUMENT = "document"


_EXT_KIND = {
    ".png": MediaKind.PHOTO,
    ".jpg": MediaKind.PHOTO,
    ".jpeg": MediaKind.PHOTO,
    ".webp": MediaKind.PHOTO,
    ".gif": MediaKind.ANIMATION,
    ".mp3": MediaKind.AUDIO,
    ".m4a": MediaKind.AUDIO,
    ".ogg": MediaKind.VOICE,
    ".oga": MediaKind.VOICE,
    ".mp4": MediaKind.VIDEO,
    ".mov": MediaKind.VIDEO,
}


def media_kind_for(filename: str) -> MediaKind:
    """Guess the media kind from a file name; anything unknown is a document."""
    dot = filename.rfind(".")
    return _EXT_KIND.get(filename[dot:].lower(), MediaKind.DOCUMENT) if dot >= 0 else MediaKind.DOCUMENT


@dataclass(frozen=True, slots=True)
class Price:
    """What an item costs: a fiat amount, a Stars amount, both, or neither (free)."""

    fiat: Money | None = None
    stars: int | None = None

    @property
    def is_free(self) -> bool:
        return (self.fiat is None or self.fiat.is_zero) and not self.stars

    def options(self) -> list[Money]:
        """Every way this item can be paid for, fiat first."""
        out: list[Money] = []
        if self.fiat is not None and not self.fiat.is_zero:
            out.append(self.fiat)
        if self.stars:
            out.append(Money(self.stars, STARS))
        return out

    def in_currencies(self, accepted: frozenset[str] | None, prefer: str | None = None) -> Money | None:
        """The price option a payment provider accepts (None: all accepted), ``prefer``'s currency first."""
        options = self.options()
        if prefer is not None:
            options.sort(key=lambda m: m.currency != prefer)
        for option in options:
            if accepted is None or option.currency in accepted:
                return option
        return None


@dataclass(frozen=True, slots=True)
class LessonMedia:
    kind: MediaKind
    path: str  # where the stored file lives (absolute, under MEDIA_DIR)
    sha256: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Lesson:
    id: int
    course_id: int
    slug: str
    position: int  # 0-based order inside the course
    title: str
    free: bool
    body: str  # Markdown
    media: tuple[LessonMedia, ...] = ()


@dataclass(frozen=True, slots=True)
class Course:
    id: int
    slug: str
    title: str
    summary: str
    description: str
    category: str
    tags: tuple[str, ...]
    language: str  # "zh" or "en"
    price: Price
    drip_mode: DripMode
    drip_hour: int  # 0-23, learner's local time, for DripMode.DAILY
    lesson_count: int = 0
    free_lesson_count: int = 0
    published: bool = True
    cover_path: str | None = None
    creator: str | None = None  # the REF of the creator who owns it (``telegram:123``): whom it lets broadcast

    @property
    def is_free(self) -> bool:
        return self.price.is_free


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    slug: str
    title: str
    description: str
    period_days: int
    includes_all: bool
    course_ids: frozenset[int] = field(default_factory=frozenset)
    price: Price = field(default_factory=Price)
    published: bool = True
    community_chat: str | None = None  # a paid Telegram group/channel that members may join
    creator: str | None = None  # the REF of the creator who owns it (see Course.creator)

    def includes(self, course_id: int) -> bool:
        return self.includes_all or course_id in self.course_ids
