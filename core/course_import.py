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

Only the standard library and other ``core`` modules are used here.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import unquote

from core.catalog import SLUG_RE, DripMode, MediaKind, Price, media_kind_for
from core.course_spec import CatalogSpec, CourseSpec, LessonSpec, MediaSpec, PlanSpec
from core.money import CURRENCY_EXPONENTS, STARS, Money

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
LESSONS_DIR = "lessons"

# Column sizes in storage and Telegram's limits: caught here so an import
# fails with a readable message instead of a database or API error later.
_MAX_TITLE = 200
_MAX_CATEGORY = 64
_MAX_LESSON_SLUG = 120
_MAX_CAPTION = 1024
_MAX_PERIOD_DAYS = 3660

_LESSON_NAME_RE = re.compile(r"^(\d+)-(.+)\.md$")
_TOML_POS_RE = re.compile(r"\(at line (\d+), column (\d+)\)")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Inline Markdown links and images: [text](target "title") / ![alt](<target>).
_MD_LINK_RE = re.compile(
    r"(!?)\[((?:[^\[\]\\]|\\.)*)\]\(\s*(<[^>\n]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)\1(?!`)", re.DOTALL)

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
)
_PRICE_KEYS = ("amount", "currency", "stars")
_DRIP_KEYS = ("mode", "hour")
_LESSON_KEYS = ("title", "free", "media")
_MEDIA_KEYS = ("path", "caption")
_PLAN_KEYS = ("slug", "title", "description", "period_days", "includes", "price", "published")
_IMAGE_KINDS = frozenset({MediaKind.PHOTO})


@dataclass(frozen=True)
class ImportIssue:
    """One problem: which file, which field, what is wrong."""

    file: str  # relative to the imported folder, "/"-separated
    field: str  # dotted key ("price.amount"), "front matter", "body", ... or "" for the file itself
    message: str

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        return ": ".join([*parts, self.message])


class CatalogImportError(Exception):
    """Raised by :func:`load_catalog` with every issue found (never just the first)."""

    def __init__(self, issues: Sequence[ImportIssue]) -> None:
        self.issues: list[ImportIssue] = list(issues)
        super().__init__(self.issues)

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


# --------------------------------------------------------------------------- helpers


class _Issues:
    def __init__(self) -> None:
        self.items: list[ImportIssue] = []

    def add(self, file: str, field: str, message: str) -> None:
        self.items.append(ImportIssue(file, field, message))

    def __len__(self) -> int:
        return len(self.items)


def _describe(value: object) -> str:
    """``string '99'``, ``float 9.9``: what the author actually wrote."""
    if isinstance(value, bool):
        kind = "boolean"
        shown = "true" if value else "false"
    elif isinstance(value, int):
        kind, shown = "integer", str(value)
    elif isinstance(value, float):
        kind, shown = "float", repr(value)
    elif isinstance(value, str):
        kind, shown = "string", repr(value if len(value) <= 40 else value[:37] + "...")
    elif isinstance(value, list):
        kind, shown = "array", f"of {len(value)} item{'s' if len(value) != 1 else ''}"
    elif isinstance(value, dict):
        kind, shown = "table", "{...}"
    elif isinstance(value, (datetime, date, time)):
        kind, shown = "date/time", value.isoformat()
    else:  # pragma: no cover - tomllib produces nothing else
        kind, shown = type(value).__name__, repr(value)
    return f"{kind} {shown}"


def _toml_position(exc: tomllib.TOMLDecodeError, line_offset: int = 0) -> str:
    """The tomllib message, with its line number shifted to the real file line."""
    message = str(exc)
    if line_offset:
        message = _TOML_POS_RE.sub(lambda m: f"(at line {int(m.group(1)) + line_offset}, column {m.group(2)})", message)
    return message


def _read_text(path: Path, file: str, issues: _Issues) -> str | None:
    """The file as UTF-8 text with ``\n`` line ends; ``None`` (and an issue) if unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        issues.add(file, "", f"cannot read the file ({exc.strerror or exc})")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        issues.add(file, "encoding", f"not valid UTF-8 (byte 0x{bad} at offset {exc.start}); save the file as UTF-8")
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Fields:
    """Typed, reporting access to one TOML table; unknown keys are reported up front."""

    def __init__(
        self,
        data: dict[str, Any],
        issues: _Issues,
        file: str,
        allowed: Sequence[str],
        prefix: str = "",
    ) -> None:
        self.data = data
        self.issues = issues
        self.file = file
        self.prefix = prefix
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "allowed keys: " + ", ".join(allowed)
                self.error(key, f"unknown key ({hint})")

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, message: str) -> None:
        self.issues.add(self.file, self.name(key), message)

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, *, required: bool = False, max_len: int | None = None) -> str | None:
        """A stripped string; ``""`` when optional and absent, ``None`` when invalid."""
        if key not in self.data:
            if required:
                self.error(key, "missing")
                return None
            return ""
        value = self.data[key]
        if not isinstance(value, str):
            self.error(key, f"must be a string (got {_describe(value)})")
            return None
        value = value.strip()
        if required and not value:
            self.error(key, "must not be empty")
            return None
        if max_len is not None and len(value) > max_len:
            self.error(key, f"too long: {len(value)} characters (at most {max_len})")
            return None
        return value

    def flag(self, key: str, default: bool) -> bool | None:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, without quotes (got {_describe(value)})")
            return None
        return value

    def integer(
        self,
        key: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        required: bool = False,
        float_hint: str = "",
    ) -> int | None:
        """An int (never a bool); ``None`` when absent or invalid (absent+required is reported)."""
        if key not in self.data:
            if required:
                self.error(key, "missing")
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, float) and float_hint:
                hint = f"; {float_hint}"
            elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
                hint = "; remove the quotes"
            self.error(key, f"must be an integer (got {_describe(value)}){hint}")
            return None
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            self.error(key, f"must be between {minimum} and {maximum} (got {value})")
            return None
        if minimum is not None and value < minimum:
            self.error(key, f"must be >= {minimum} (got {value})")
            return None
        if maximum is not None and value > maximum:
            self.error(key, f"must be <= {maximum} (got {value})")
            return None
        return value

    def table(self, key: str, example: str) -> dict[str, Any] | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            self.error(key, f"must be a table, e.g. {example} (got {_describe(value)})")
            return None
        return value

    def tables(self, key: str, example: str) -> list[dict[str, Any]] | None:
        if key not in self.data:
            return []
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.error(key, f"must be an array of tables, e.g. {example} (got {_describe(value)})")
            return None
        return value

    def strings(self, key: str) -> list[str] | None:
        """A list of non-empty stripped strings; ``[]`` when absent, ``None`` when invalid."""
        if key not in self.data:
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.error(key, f'must be an array of strings, e.g. ["a", "b"] (got {_describe(value)})')
            return None
        out: list[str] = []
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                message = f"must be a non-empty string (got {_describe(item)})"
                self.issues.add(self.file, f"{self.name(key)}[{i}]", message)
                ok = False
            else:
                out.append(item.strip())
        return out if ok else None


def _slug(fields: _Fields, key: str = "slug") -> str | None:
    value = fields.text(key, required=True)
    if value is None:
        return None
    if not SLUG_RE.match(value):
        fields.error(
            key,
            f"invalid slug {value!r} (use 1-48 characters: lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit)",
        )
        return None
    return value


def _price(table: dict[str, Any], issues: _Issues, file: str, prefix: str) -> Price | None:
    """``[price]``: amount + currency (together) and/or stars. ``None`` when invalid."""
    f = _Fields(table, issues, file, _PRICE_KEYS, prefix)
    start = len(issues)
    amount = f.integer("amount", minimum=0, float_hint="amounts are integers in minor units, e.g. 9.90 is 990")
    currency: str | None = None
    if f.has("currency"):
        raw = f.data["currency"]
        if not isinstance(raw, str):
            f.error("currency", f'must be a string such as "CNY" (got {_describe(raw)})')
        elif raw == STARS:
            f.error("currency", "'XTR' is Telegram Stars: set price.stars instead of a currency")
        elif raw not in CURRENCY_EXPONENTS:
            known = ", ".join(c for c in CURRENCY_EXPONENTS if c != STARS)
            upper = raw.strip().upper()
            hint = f"did you mean '{upper}'? " if upper in CURRENCY_EXPONENTS and upper != STARS else ""
            f.error("currency", f"unknown currency {raw!r} ({hint}use one of {known})")
        else:
            currency = raw
    if f.has("amount") and not f.has("currency"):
        f.error("currency", 'missing (amount and currency go together, e.g. amount = 9900, currency = "CNY")')
    if f.has("currency") and not f.has("amount"):
        f.error("amount", 'missing (amount and currency go together, e.g. amount = 9900, currency = "CNY")')
    stars = f.integer("stars", minimum=1)
    if len(issues) > start:
        return None
    fiat = Money(amount, currency) if amount is not None and currency is not None else None
    return Price(fiat=fiat, stars=stars)


# --------------------------------------------------------------------------- media


class _Context:
    """State shared across one import: the root, the issues, a hash cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues = _Issues()
        self._hashes: dict[Path, str] = {}

    def rel(self, path: Path) -> str:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return path.as_posix()
        return rel.as_posix() or "."

    def sha256(self, path: Path, file: str, field: str) -> str | None:
        """The file's hash (computed once per import); ``None`` and an issue if unreadable."""
        cached = self._hashes.get(path)
        if cached is None:
            try:
                cached = _hash_file(path)
            except OSError as exc:
                self.issues.add(file, field, f"cannot read {self.rel(path)} ({exc.strerror or exc})")
                return None
            self._hashes[path] = cached
        return cached


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _resolve_inside(course_dir: Path, ref: str) -> tuple[Path | None, str]:
    """Resolve ``ref`` relative to the course folder: ``(path, "")`` or ``(None, why)``."""
    if not ref.strip():
        return None, "empty path"
    if PurePosixPath(ref).is_absolute() or PureWindowsPath(ref).is_absolute() or ref.startswith(("/", "\\")):
        return None, f"absolute paths are not allowed: {ref} (use a path relative to the course folder)"
    target = (course_dir / ref).resolve()
    if not target.is_relative_to(course_dir.resolve()):
        return None, f"path escapes the course folder: {ref}"
    if not target.exists():
        return None, f"file not found: {ref}"
    if not target.is_file():
        return None, f"not a file: {ref}"
    return target, ""


def _media(ctx: _Context, course_dir: Path, file: str, field: str, ref: str, caption: str) -> MediaSpec | None:
    target, why = _resolve_inside(course_dir, ref)
    if target is None:
        ctx.issues.add(file, field, why)
        return None
    digest = ctx.sha256(target, file, field)
    if digest is None:
        return None
    return MediaSpec(kind=media_kind_for(target.name), source=str(target), sha256=digest, caption=caption)


def _blank_code(text: str) -> str:
    """Blank out fenced code blocks and code spans (same length, newlines kept)."""

    def blank(s: str) -> str:
        return re.sub(r"[^\n]", " ", s)

    out: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE_RE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                out.append(blank(line))
            else:
                out.append(line)
        else:
            out.append(blank(line))
            closing = m is not None and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)
            if closing and m is not None and not line.strip()[len(m.group(1)) :].strip():  # no info string
                fence = None
    return _CODE_SPAN_RE.sub(lambda mm: blank(mm.group(0)), "\n".join(out))


def _body_refs(body: str) -> Iterable[tuple[bool, str, str, int]]:
    """``(is_image, alt text, target, 1-based line in body)`` for every local link/image target."""
    scanned = _blank_code(body)
    for m in _MD_LINK_RE.finditer(scanned):
        target = m.group(3)
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1].strip()
        if not target or target.startswith(("#", "//")) or _SCHEME_RE.match(target):
            continue
        target = unquote(target.split("#", 1)[0])
        if not target:
            continue
        alt = re.sub(r"\\(.)", r"\1", m.group(2)).strip()[:_MAX_CAPTION]
        yield m.group(1) == "!", alt, target, scanned.count("\n", 0, m.start()) + 1


# --------------------------------------------------------------------------- lessons


def _lesson(ctx: _Context, course_dir: Path, path: Path, position: int) -> LessonSpec | None:
    file = ctx.rel(path)
    issues = ctx.issues
    start = len(issues)
    text = _read_text(path, file, issues)
    if text is None:
        return None
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "+++":
        hint = (
            " - found '---': this format uses TOML front matter between +++ lines"
            if lines and lines[0].rstrip() == "---"
            else ""
        )
        issues.add(file, "front matter", f"missing (the file must start with a +++ line{hint})")
        return None
    try:
        close = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "+++")
    except StopIteration:
        issues.add(file, "front matter", "not closed (add a +++ line after the front matter)")
        return None
    try:
        meta = tomllib.loads("\n".join(lines[1:close]) + "\n")
    except tomllib.TOMLDecodeError as exc:
        issues.add(file, "front matter", f"invalid TOML: {_toml_position(exc, 1)}")
        meta = None

    title: str | None = None
    free: bool | None = False
    media: list[MediaSpec] = []
    if meta is not None:
        f = _Fields(meta, issues, file, _LESSON_KEYS)
        title = f.text("title", required=True, max_len=_MAX_TITLE)
        free = f.flag("free", False)
        entries = f.tables("media", '[[media]] path = "media/photo.png"')
        for i, entry in enumerate(entries or []):
            mf = _Fields(entry, issues, file, _MEDIA_KEYS, f"media[{i}]")
            ref = mf.text("path", required=True)
            caption = mf.text("caption", max_len=_MAX_CAPTION)
            if ref is None or caption is None:
                continue
            spec = _media(ctx, course_dir, file, "media", ref, caption)
            if spec is not None and all(m.source != spec.source for m in media):
                media.append(spec)

    raw_body = "\n".join(lines[close + 1 :])
    body = raw_body.strip()
    if not body:
        issues.add(file, "body", "empty (write the lesson in Markdown after the closing +++ line)")
    for is_image, alt, ref, line in _body_refs(raw_body):
        target, why = _resolve_inside(course_dir, ref)
        if target is None:
            issues.add(file, "body", f"{why} (line {close + 1 + line})")
            continue
        if is_image and all(m.source != str(target) for m in media):
            digest = ctx.sha256(target, file, "body")
            if digest is not None:
                media.append(
                    MediaSpec(kind=media_kind_for(target.name), source=str(target), sha256=digest, caption=alt)
                )

    if len(issues) > start or title is None or free is None:
        return None
    return LessonSpec(slug=path.stem, position=position, title=title, free=free, body=body, media=tuple(media))


def _lessons(ctx: _Context, course_dir: Path, course_file: str) -> tuple[LessonSpec, ...] | None:
    issues = ctx.issues
    folder = course_dir / LESSONS_DIR
    folder_label = ctx.rel(folder)
    if not folder.is_dir():
        issues.add(course_file, "lessons", f"missing: add a {folder_label}/ folder with files named like 01-intro.md")
        return None
    start = len(issues)
    found: list[tuple[int, str, Path]] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        label = ctx.rel(entry)
        if entry.is_dir():
            issues.add(label, "", "unexpected folder in lessons/ (put media in the course's media/ folder)")
            continue
        m = _LESSON_NAME_RE.match(entry.name)
        if m is None:
            issues.add(label, "file name", "lesson files must be named NN-name.md, e.g. 01-intro.md")
            continue
        if len(entry.stem) > _MAX_LESSON_SLUG:
            issues.add(label, "file name", f"too long: at most {_MAX_LESSON_SLUG} characters before .md")
            continue
        found.append((int(m.group(1)), entry.name, entry))
    if not found and len(issues) == start:
        issues.add(course_file, "lessons", f"no lessons: a course needs at least one {folder_label}/NN-name.md file")
        return None
    found.sort(key=lambda item: (item[0], item[1]))
    lessons = [_lesson(ctx, course_dir, path, pos) for pos, (_, _, path) in enumerate(found)]
    if len(issues) > start:
        return None
    return tuple(lesson for lesson in lessons if lesson is not None)


# --------------------------------------------------------------------------- courses & plans


def _load_toml(ctx: _Context, path: Path) -> dict[str, Any] | None:
    file = ctx.rel(path)
    text = _read_text(path, file, ctx.issues)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        ctx.issues.add(file, "syntax", f"invalid TOML: {_toml_position(exc)}")
        return None


def _course(ctx: _Context, course_dir: Path) -> tuple[str | None, CourseSpec | None]:
    """``(slug if readable, spec if fully valid)``: lessons are checked even if course.toml is broken."""
    issues = ctx.issues
    start = len(issues)
    toml_path = course_dir / COURSE_FILE
    file = ctx.rel(toml_path)
    data = _load_toml(ctx, toml_path)
    if data is None:
        _lessons(ctx, course_dir, file)  # still report the lessons' own problems
        return None, None

    f = _Fields(data, issues, file, _COURSE_KEYS)
    slug = _slug(f)
    title = f.text("title", required=True, max_len=_MAX_TITLE)
    summary = f.text("summary")
    description = f.text("description")
    category = f.text("category", max_len=_MAX_CATEGORY)
    tags = f.strings("tags")
    language = f.text("language", required=True)
    if language and language not in LANGUAGES:
        f.error("language", f"unknown language {language!r} (use {' or '.join(LANGUAGES)})")
    published = f.flag("published", True)

    cover: MediaSpec | None = None
    cover_ref = f.text("cover")
    if cover_ref:
        if media_kind_for(cover_ref) not in _IMAGE_KINDS:
            f.error("cover", f"must be an image (.png, .jpg, .jpeg or .webp), got {cover_ref!r}")
        else:
            cover = _media(ctx, course_dir, file, "cover", cover_ref, "")

    price: Price | None = Price()
    price_table = f.table("price", '[price] amount = 9900, currency = "CNY", stars = 500')
    if price_table is not None:
        price = _price(price_table, issues, file, "price")

    drip_mode: DripMode | None = DripMode.ALL
    drip_hour: int | None = 8
    drip_table = f.table("drip", '[drip] mode = "daily", hour = 8')
    if drip_table is not None:
        d = _Fields(drip_table, issues, file, _DRIP_KEYS, "drip")
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

    lessons = _lessons(ctx, course_dir, file)
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
    )
    return slug, spec


def _plans(ctx: _Context, path: Path, course_slugs: set[str]) -> list[PlanSpec]:
    issues = ctx.issues
    file = ctx.rel(path)
    data = _load_toml(ctx, path)
    if data is None:
        return []
    top = _Fields(data, issues, file, ("plan",))
    entries = top.tables("plan", '[[plan]] slug = "all-access"') or []
    plans: list[PlanSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        raw_slug = entry.get("slug")
        label = f"plan[{raw_slug}]" if isinstance(raw_slug, str) and SLUG_RE.match(raw_slug) else f"plan[#{i + 1}]"
        start = len(issues)
        f = _Fields(entry, issues, file, _PLAN_KEYS, label)
        slug = _slug(f)
        if slug is not None:
            if slug in seen:
                f.error("slug", f"duplicate plan slug {slug!r}")
            seen.add(slug)
        title = f.text("title", required=True, max_len=_MAX_TITLE)
        description = f.text("description")
        period = f.integer("period_days", minimum=1, maximum=_MAX_PERIOD_DAYS, required=True)
        published = f.flag("published", True)

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
            price = _price(price_table, issues, file, f"{label}.price")
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
            )
        )
    return plans


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
    ctx = _Context(root)

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


def _all_media(spec: CatalogSpec) -> Iterable[MediaSpec]:
    for course in spec.courses:
        if course.cover is not None:
            yield course.cover
        for lesson in course.lessons:
            yield from lesson.media


def stage_media(spec: CatalogSpec, media_dir: Path) -> dict[str, str]:
    """Copy every media file and cover into ``media_dir`` as ``<sha256><ext>``.

    Content-addressed: a file already stored under its hash is not copied
    again, so staging is idempotent and identical files are stored once.
    Copies go through a temporary file and an atomic rename, and the bytes
    are re-hashed while copying: if a source changed since
    :func:`load_catalog`, :class:`CatalogImportError` is raised instead of
    storing content under the wrong name. Returns ``{sha256: absolute path}``.
    """
    media_dir = Path(media_dir).expanduser()
    media_dir.mkdir(parents=True, exist_ok=True)
    media_dir = media_dir.resolve()
    stored: dict[str, str] = {}
    for media in _all_media(spec):
        if media.sha256 in stored:
            continue
        source = Path(media.source)
        dest = media_dir / f"{media.sha256}{source.suffix.lower()}"
        if not dest.exists():
            _copy_checked(source, dest, media.sha256)
        stored[media.sha256] = str(dest)
    return stored


def _copy_checked(source: Path, dest: Path, sha256: str) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".staging-", suffix=dest.suffix)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with source.open("rb") as src, os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise CatalogImportError(
                [ImportIssue(str(source), "", "file changed since it was validated; run the import again")]
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; stored media is plain readable data
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
