"""Lesson files: the ``lessons/`` folder of a course, each lesson's front matter and body.

Contract
--------
:func:`read_lessons` checks a course's ``lessons/`` folder (files named
``NN-name.md``, ordered by number then name) and parses every lesson: TOML
front matter between ``+++`` lines, then a Markdown body. Every local link or
image target in the body (outside code spans and fenced code) and every
``[[media]]`` entry must be a file inside the course folder; images become
:class:`~core.course_spec.MediaSpec` entries with their SHA-256.
:func:`resolve_media` does the same for a single reference (a course cover).
Problems are added to the :class:`ImportContext`'s issues, never raised; the
result is ``None`` unless every lesson is valid.

Why
---
A lesson that silently vanished or a broken image in front of paying learners
is worse than a failed import, so every file in ``lessons/`` must be a valid
lesson and every reference must resolve, without ever reading outside the
course folder. Hashing here, once per file per import, lets
:func:`core.media_store.stage_media` store media content-addressed later.

Only the standard library and other ``core`` modules are used here.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote

from core.catalog import media_kind_for
from core.course_spec import LessonSpec, MediaSpec
from core.import_issues import Issues, read_text, toml_position
from core.toml_fields import MAX_CAPTION, MAX_LESSON_SLUG, MAX_TITLE, Fields

__all__ = [
    "LESSONS_DIR",
    "ImportContext",
    "read_lessons",
    "resolve_media",
]

LESSONS_DIR = "lessons"

_LESSON_NAME_RE = re.compile(r"^(\d+)-(.+)\.md$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Inline Markdown links and images: [text](target "title") / ![alt](<target>).
_MD_LINK_RE = re.compile(
    r"(!?)\[((?:[^\[\]\\]|\\.)*)\]\(\s*(<[^>\n]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)\1(?!`)", re.DOTALL)

_LESSON_KEYS = ("title", "free", "media")
_MEDIA_KEYS = ("path", "caption")


# --------------------------------------------------------------------------- import state & hashing


class ImportContext:
    """State shared across one import: the root, the issues, a hash cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues = Issues()
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


# --------------------------------------------------------------------------- media references


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


def resolve_media(
    ctx: ImportContext, course_dir: Path, file: str, field: str, ref: str, caption: str
) -> MediaSpec | None:
    """``ref`` as a hashed :class:`MediaSpec` inside the course folder; ``None`` (and an issue) if it is not."""
    target, why = _resolve_inside(course_dir, ref)
    if target is None:
        ctx.issues.add(file, field, why)
        return None
    digest = ctx.sha256(target, file, field)
    if digest is None:
        return None
    return MediaSpec(kind=media_kind_for(target.name), source=str(target), sha256=digest, caption=caption)


# --------------------------------------------------------------------------- Markdown bodies


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
        alt = re.sub(r"\\(.)", r"\1", m.group(2)).strip()[:MAX_CAPTION]
        yield m.group(1) == "!", alt, target, scanned.count("\n", 0, m.start()) + 1


# --------------------------------------------------------------------------- lessons


def _lesson(ctx: ImportContext, course_dir: Path, path: Path, position: int) -> LessonSpec | None:
    file = ctx.rel(path)
    issues = ctx.issues
    start = len(issues)
    text = read_text(path, file, issues)
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
        issues.add(file, "front matter", f"invalid TOML: {toml_position(exc, 1)}")
        meta = None

    title: str | None = None
    free: bool | None = False
    media: list[MediaSpec] = []
    if meta is not None:
        f = Fields(meta, issues, file, _LESSON_KEYS)
        title = f.text("title", required=True, max_len=MAX_TITLE)
        free = f.flag("free", False)
        entries = f.tables("media", '[[media]] path = "media/photo.png"')
        for i, entry in enumerate(entries or []):
            mf = Fields(entry, issues, file, _MEDIA_KEYS, f"media[{i}]")
            ref = mf.text("path", required=True)
            caption = mf.text("caption", max_len=MAX_CAPTION)
            if ref is None or caption is None:
                continue
            spec = resolve_media(ctx, course_dir, file, "media", ref, caption)
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


def read_lessons(ctx: ImportContext, course_dir: Path, course_file: str) -> tuple[LessonSpec, ...] | None:
    """Every lesson in ``course_dir/lessons``, in order; ``None`` if anything in the folder is wrong."""
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
        if len(entry.stem) > MAX_LESSON_SLUG:
            issues.add(label, "file name", f"too long: at most {MAX_LESSON_SLUG} characters before .md")
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
