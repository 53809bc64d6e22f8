"""Read a course folder (or a catalog of them) into a validated :class:`CatalogSpec`.

Contract
--------
:func:`load_catalog` takes either a *catalog folder* (course subfolders that
each hold a ``course.toml``, plus an optional ``plans.toml``) or a single
*course folder* (``course.toml`` directly inside). It checks the **whole**
folder before returning and either hands back a complete :class:`CatalogSpec`
or raises :class:`CatalogImportError` carrying **every** problem it found,
each as an :class:`ImportIssue` naming the file (relative to the imported
folder), the field and what is wrong. It never returns a partial catalog, and
it never touches storage or copies anything: :func:`stage_media` does the
copying, content-addressed, once the caller has decided to import.

Why
---
Authors write courses in their editor and import them with
``python bot.py import PATH``. A typo must not become a live price, a lesson
that silently vanished or a broken image in front of paying learners, so the
rules are strict (unknown keys are errors, booleans are not integers, amounts
are integers in minor units) and the report is exhaustive, so one import run
shows an author everything to fix at once. The file format itself is
documented in ``docs/course-format.md``.

This module is the entry point: it reads ``course.toml`` and ``plans.toml``
and walks the folders; the pieces live in :mod:`core.import_issues` (the
issue types), :mod:`core.toml_fields` (typed TOML readers),
:mod:`core.lesson_files` (lessons and their media references) and
:mod:`core.media_store` (:func:`stage_media`), re-exported here.

Only the standard library and other ``core`` modules are used here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from core.catalog import SLUG_RE, DripMode, MediaKind, Price, media_kind_for
from core.course_spec import CatalogSpec, CourseSpec, MediaSpec, PlanSpec
from core.import_issues import CatalogImportError, ImportIssue, read_text, toml_position
from core.lesson_files import LESSONS_DIR as LESSONS_DIR
from core.lesson_files import ImportContext, read_lessons, resolve_media
from core.media_store import stage_media
from core.toml_fields import MAX_CATEGORY, MAX_CREATOR, MAX_PERIOD_DAYS, MAX_TITLE, Fields, read_price, read_slug
from core.users import Ref

__all__ = [
    "LANGUAGES",
    "CatalogImportError",
    "ImportIssue",
    "load_catalog",
    "stage_media",
]

#: Course languages the bot has translations for.
LANGUAGES: tuple[str, ...] = ("zh", "en")

COURSE_FILE = "course.toml"
PLANS_FILE = "plans.toml"

_COURSE_KEYS = (
    "slug",
    "title",
    "summary",
    "description",
    "category",
    "tags",
    "language",
    "cover",
    "published",
    "price",
    "drip",
    "creator",
)
_DRIP_KEYS = ("mode", "hour")
_PLAN_KEYS = (
    "slug",
    "title",
    "description",
    "period_days",
    "includes",
    "price",
    "published",
    "telegram_chat",
    "creator",
)
#: A Telegram chat id: private groups and channels have numeric ids like -1001234567890.
_CHAT_ID = re.compile(r"^-?[1-9][0-9]{4,19}$")
_IMAGE_KINDS = frozenset({MediaKind.PHOTO})


# --------------------------------------------------------------------------- courses & plans


def _load_toml(ctx: ImportContext, path: Path) -> dict[str, Any] | None:
    file = ctx.rel(path)
    text = read_text(path, file, ctx.issues)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        ctx.issues.add(file, "syntax", f"invalid TOML: {toml_position(exc)}")
        return None


def _course(ctx: ImportContext, course_dir: Path) -> tuple[str | None, CourseSpec | None]:
    """``(slug if readable, spec if fully valid)``: lessons are checked even if course.toml is broken."""
    issues = ctx.issues
    start = len(issues)
    toml_path = course_dir / COURSE_FILE
    file = ctx.rel(toml_path)
    data = _load_toml(ctx, toml_path)
    if data is None:
        read_lessons(ctx, course_dir, file)  # still report the lessons' own problems
        return None, None

    f = Fields(data, issues, file, _COURSE_KEYS)
    slug = read_slug(f)
    title = f.text("title", required=True, max_len=MAX_TITLE)
    summary = f.text("summary")
    description = f.text("description")
    category = f.text("category", max_len=MAX_CATEGORY)
    tags = f.strings("tags")
    language = f.text("language", required=True)
    if language and language not in LANGUAGES:
        f.error("language", f"unknown language {language!r} (use {' or '.join(LANGUAGES)})")
    published = f.flag("published", True)
    creator = _creator(f)

    cover: MediaSpec | None = None
    cover_ref = f.text("cover")
    if cover_ref:
        if media_kind_for(cover_ref) not in _IMAGE_KINDS:
            f.error("cover", f"must be an image (.png, .jpg, .jpeg or .webp), got {cover_ref!r}")
        else:
            cover = resolve_media(ctx, course_dir, file, "cover", cover_ref, "")

    price: Price | None = Price()
    price_table = f.table("price", '[price] amount = 9900, currency = "CNY", stars = 500')
    if price_table is not None:
        price = read_price(price_table, issues, file, "price")

    drip_mode: DripMode | None = DripMode.ALL
    drip_hour: int | None = 8
    drip_table = f.table("drip", '[drip] mode = "daily", hour = 8')
    if drip_table is not None:
        d = Fields(drip_table, issues, file, _DRIP_KEYS, "drip")
        mode = d.text("mode")
        if mode is None:
            drip_mode = None
        elif not d.has("mode"):
            drip_mode = DripMode.ALL
        elif mode in {m.value for m in DripMode}:
            drip_mode = DripMode(mode)
        else:
            d.error("mode", f"unknown mode {mode!r} (use all, daily or on_complete)")
            drip_mode = None
        if d.has("hour"):
            drip_hour = d.integer("hour", minimum=0, maximum=23)

    lessons = read_lessons(ctx, course_dir, file)
    if len(issues) > start or lessons is None:
        return slug, None
    assert slug is not None and title is not None and language is not None
    assert summary is not None and description is not None and category is not None and tags is not None
    assert published is not None and price is not None and drip_mode is not None and drip_hour is not None
    spec = CourseSpec(
        slug=slug,
        title=title,
        summary=summary,
        description=description,
        category=category,
        tags=tuple(dict.fromkeys(tags)),
        language=language,
        price=price,
        drip_mode=drip_mode,
        drip_hour=drip_hour,
        lessons=lessons,
        published=published,
        cover=cover,
        creator=creator,
    )
    return slug, spec


def _plans(ctx: ImportContext, path: Path, course_slugs: set[str]) -> list[PlanSpec]:
    issues = ctx.issues
    file = ctx.rel(path)
    data = _load_toml(ctx, path)
    if data is None:
        return []
    top = Fields(data, issues, file, ("plan",))
    entries = top.tables("plan", '[[plan]] slug = "all-access"') or []
    plans: list[PlanSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        raw_slug = entry.get("slug")
        label = f"plan[{raw_slug}]" if isinstance(raw_slug, str) and SLUG_RE.match(raw_slug) else f"plan[#{i + 1}]"
        start = len(issues)
        f = Fields(entry, issues, file, _PLAN_KEYS, label)
        slug = read_slug(f)
        if slug is not None:
            if slug in seen:
                f.error("slug", f"duplicate plan slug {slug!r}")
            seen.add(slug)
        title = f.text("title", required=True, max_len=MAX_TITLE)
        description = f.text("description")
        period = f.integer("period_days", minimum=1, maximum=MAX_PERIOD_DAYS, required=True)
        published = f.flag("published", True)
        community = _community_chat(f)
        creator = _creator(f)

        includes_all = False
        included: list[str] = []
        if not f.has("includes"):
            f.error("includes", 'missing (use ["*"] for every course, or a list of course slugs)')
        else:
            items = f.strings("includes")
            if items is not None:
                if not items:
                    f.error("includes", 'must not be empty (use ["*"] for every course, or a list of course slugs)')
                elif "*" in items:
                    if len(items) > 1:
                        f.error("includes", '"*" means every course: it cannot be combined with course slugs')
                    includes_all = True
                else:
                    for item in items:
                        if item not in course_slugs:
                            f.error("includes", f"unknown course {item!r} (not in this import)")
                    included = list(dict.fromkeys(items))

        price: Price | None = None
        price_table = f.table("price", '[plan.price] amount = 4900, currency = "CNY"')
        if price_table is None:
            if not f.has("price"):
                f.error("price", "missing: a plan must have a price ([plan.price] with amount + currency and/or stars)")
        else:
            price = read_price(price_table, issues, file, f"{label}.price")
            if price is not None and price.is_free:
                f.error("price", "a plan cannot be free: set amount + currency and/or stars")

        if len(issues) > start:
            continue
        assert slug is not None and title is not None and description is not None
        assert period is not None and published is not None and price is not None
        plans.append(
            PlanSpec(
                slug=slug,
                title=title,
                description=description,
                period_days=period,
                includes_all=includes_all,
                course_slugs=tuple(included),
                price=price,
                published=published,
                community_chat=community,
                creator=creator,
            )
        )
    return plans


def _community_chat(f: Fields) -> str | None:
    """``telegram_chat``: the id of a private group or channel the plan opens (the bot must be its admin)."""
    if not f.has("telegram_chat"):
        return None
    raw = f.data["telegram_chat"]
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not _CHAT_ID.match(text.strip()):
        f.error("telegram_chat", "must be a numeric Telegram chat id such as -1001234567890")
        return None
    return text.strip()


def _creator(f: Fields) -> str | None:
    """``creator``: the REF of the creator who owns the item (who may broadcast to its buyers), normalized."""
    if not f.has("creator"):
        return None
    raw = f.text("creator", required=True, max_len=MAX_CREATOR)
    if raw is None:
        return None
    try:
        return str(Ref.parse(raw))
    except ValueError:
        f.error("creator", f"{raw!r} is not a REF (use telegram:<user_id>, wechat:<openid> or console:<id>)")
        return None


# --------------------------------------------------------------------------- public API


def load_catalog(path: Path) -> CatalogSpec:
    """Validate a catalog or single-course folder; raise :class:`CatalogImportError` with every issue."""
    given = Path(path).expanduser()
    if not given.exists():
        raise CatalogImportError([ImportIssue(str(given), "", "does not exist")])
    if not given.is_dir():
        raise CatalogImportError(
            [ImportIssue(str(given), "", "is not a folder (give a catalog folder or a course folder)")]
        )
    root = given.resolve()
    ctx = ImportContext(root)

    if (root / COURSE_FILE).is_file():
        course_dirs = [root]
    else:
        subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith((".", "_"))]
        course_dirs = [d for d in subdirs if (d / COURSE_FILE).is_file()]
        if not course_dirs:
            raise CatalogImportError(
                [
                    ImportIssue(
                        str(given),
                        "",
                        f"no {COURSE_FILE} found (expected {COURSE_FILE} in this folder, "
                        f"or in its course subfolders: <course>/{COURSE_FILE})",
                    )
                ]
            )
        for d in subdirs:
            if d not in course_dirs:
                ctx.issues.add(
                    ctx.rel(d),
                    "",
                    f"folder has no {COURSE_FILE} (every folder in a catalog is a course; "
                    "start its name with '_' or '.' to skip it)",
                )

    courses: list[CourseSpec] = []
    slugs: dict[str, str] = {}
    for course_dir in course_dirs:
        slug, spec = _course(ctx, course_dir)
        if slug is not None:
            file = ctx.rel(course_dir / COURSE_FILE)
            if slug in slugs:
                ctx.issues.add(file, "slug", f"duplicate course slug {slug!r} (also used by {slugs[slug]})")
            else:
                slugs[slug] = file
        if spec is not None:
            courses.append(spec)

    plans: list[PlanSpec] = []
    plans_path = root / PLANS_FILE
    if plans_path.exists():
        if plans_path.is_file():
            plans = _plans(ctx, plans_path, set(slugs))
        else:
            ctx.issues.add(PLANS_FILE, "", "must be a file")

    if ctx.issues.items:
        raise CatalogImportError(ctx.issues.items)
    return CatalogSpec(courses=tuple(courses), plans=tuple(plans))
