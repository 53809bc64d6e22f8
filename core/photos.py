"""Photos users send: checked, then stored content-addressed in the media folder.

Contract
--------
:func:`store_photo` takes the bytes an adapter downloaded and returns a
:class:`core.events.Photo`, or raises :class:`PhotoRejected` with the
:class:`core.events.PhotoProblem` to tell the user:

* more than :data:`MAX_PHOTO_BYTES` (10 MB: the most Telegram's ``sendPhoto``
  and WeChat's image material take, so anything stored can be sent again);
* not a JPEG, PNG or WebP image, judged by its magic bytes (never by a file
  name or a content type the sender chose).

The file lands as ``<media_dir>/<sha256><ext>``, the same naming as course
media (:func:`core.media_store.stage_media`): the same image is stored once,
storing it again changes nothing, and it arrives through a temporary file and
an atomic rename, so the folder never holds a partial image.

Only the standard library is used; adapters call it off the event loop
(``asyncio.to_thread``), since it writes a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from core.events import Photo, PhotoProblem

__all__ = ["MAX_PHOTO_BYTES", "PhotoRejected", "image_extension", "read_photo_file", "store_photo"]

MAX_PHOTO_BYTES = 10 * 1024 * 1024


class PhotoRejected(Exception):
    """The bytes are not a photo we take; ``problem`` says why (for the user, in their language)."""

    def __init__(self, problem: PhotoProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def image_extension(data: bytes) -> str | None:
    """``.jpg``, ``.png`` or ``.webp`` from the magic bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


def store_photo(data: bytes, media_dir: Path) -> Photo:
    """Check ``data`` and store it as ``<media_dir>/<sha256><ext>``; raises :class:`PhotoRejected`."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRejected(PhotoProblem.TOO_LARGE)
    ext = image_extension(data)
    if ext is None or len(data) < 16:
        raise PhotoRejected(PhotoProblem.NOT_AN_IMAGE)
    sha256 = hashlib.sha256(data).hexdigest()
    folder = Path(media_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder.resolve() / f"{sha256}{ext}"
    if not dest.is_file():
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".photo-", suffix=ext)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; stored media is plain readable data
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return Photo(str(dest), sha256)


def read_photo_file(path: Path) -> bytes:
    """A local file's bytes for :func:`store_photo` (the console, the CLI), without reading an oversize one.

    Raises :class:`PhotoRejected`: UNAVAILABLE when there is no such file, TOO_LARGE when it is bigger
    than :data:`MAX_PHOTO_BYTES`.
    """
    try:
        with Path(path).expanduser().open("rb") as fh:
            data = fh.read(MAX_PHOTO_BYTES + 1)
    except OSError:
        raise PhotoRejected(PhotoProblem.UNAVAILABLE) from None
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRejected(PhotoProblem.TOO_LARGE)
    return data
