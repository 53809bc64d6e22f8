"""What a validated course folder says, before it touches storage.

:mod:`core.course_import` turns a folder into a :class:`CatalogSpec` (or a
list of errors); the catalog repository upserts it by slug in one
transaction. Keeping the spec separate from the stored :class:`core.catalog.Course`
means import and in-chat authoring can both produce it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.catalog import DripMode, MediaKind, Price

__all__ = ["CatalogSpec", "CourseSpec", "LessonSpec", "MediaSpec", "PlanSpec"]


@dataclass(frozen=True, slots=True)
class MediaSpec:
    kind: MediaKind
    source: str  # absolute path of the file in the course folder
    sha256: str
    caption: str = ""


@dataclass(frozen=True, slots=True)
class LessonSpec:
    slug: str  # file stem, e.g. "01-intro": the identity used on re-import
    position: int
    title: str
    free: bool
    body: str
    media: tuple[MediaSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class CourseSpec:
    slug: str
    title: str
    summary: str
    description: str
    category: str
    tags: tuple[str, ...]
    language: str
    price: Price
    drip_mode: DripMode
    drip_hour: int
    lessons: tuple[LessonSpec, ...]
    published: bool = True
    cover: MediaSpec | None = None
    creator: str | None = None  # a normalized REF (``telegram:123``)


@dataclass(frozen=True, slots=True)
class PlanSpec:
    slug: str
    title: str
    description: str
    period_days: int
    includes_all: bool
    course_slugs: tuple[str, ...]
    price: Price
    published: bool = True
    community_chat: str | None = None
    creator: str | None = None  # a normalized REF (``telegram:123``)


@dataclass(frozen=True, slots=True)
class CatalogSpec:
    courses: tuple[CourseSpec, ...] = ()
    plans: tuple[PlanSpec, ...] = field(default_factory=tuple)
