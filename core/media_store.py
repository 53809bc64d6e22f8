"""Staging a validated catalog's media: content-addressed copies under the media folder.

Contract
--------
:func:`stage_media` copies every lesson media file and course cover of a
:class:`~core.course_spec.CatalogSpec` into one folder as
``<sha256><ext>`` and returns ``{sha256: absolute path}``. A file already
stored under its hash is not copied again. Each copy is re-hashed on the way
and lands through a temporary file and an atomic rename, so the folder never
holds a partial file or content under the wrong name.

Why
---
:func:`core.course_import.load_catalog` only validates and never writes;
copying is a separate step the caller takes once it has decided to import.
Naming files by content makes re-imports idempotent, stores identical files
once, and lets a source that changed after validation be caught instead of
published.

Only the standard library and other ``core`` modules are used here.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from core.course_spec import CatalogSpec, MediaSpec
from core.import_issues import CatalogImportError, ImportIssue

__all__ = ["stage_media"]


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
    :func:`core.course_import.load_catalog`, :class:`CatalogImportError` is
    raised instead of storing content under the wrong name. Returns
    ``{sha256: absolute path}``.
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
