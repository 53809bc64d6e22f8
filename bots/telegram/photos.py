"""A photo a user sent the bot: downloaded, stored, and remembered by its Telegram ``file_id``.

:func:`fetch` runs before the message is dispatched, so handlers get a
:class:`core.events.Photo` (a stored file, sendable on any channel) or a
:class:`core.events.PhotoProblem` to tell the user.

* ``getFile`` first: a size over the cap is refused before anything is downloaded.
* The bytes are checked and stored by :func:`core.photos.store_photo` (off the event loop).
* The ``file_id`` is written to the :class:`bots.telegram.render.FileIdStore` under the stored
  file's sha256, so sending the photo to Telegram users (a broadcast, thousands of times) re-sends
  it by id and never uploads it again.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from telegram import Bot
from telegram.error import TelegramError

from bots.telegram import retry
from bots.telegram.render import FileIdStore, file_sender
from bots.telegram.updates import PhotoFile
from core.catalog import MediaKind
from core.clock import Clock
from core.events import Photo, PhotoProblem
from core.photos import MAX_PHOTO_BYTES, PhotoRejected, store_photo

__all__ = ["fetch"]

log = logging.getLogger(__name__)


async def fetch(bot: Bot, photo: PhotoFile, media_dir: Path, files: FileIdStore, clock: Clock) -> Photo | PhotoProblem:
    """Download ``photo``, store it under ``media_dir`` and remember its file_id; or why not."""
    if photo.file_size is not None and photo.file_size > MAX_PHOTO_BYTES:
        return PhotoProblem.TOO_LARGE
    try:
        file = await retry.call(lambda: bot.get_file(photo.file_id), what="getFile")
        if file.file_size is not None and file.file_size > MAX_PHOTO_BYTES:
            return PhotoProblem.TOO_LARGE
        data = bytes(await retry.call(file.download_as_bytearray, what="download"))
    except (TelegramError, OSError) as exc:
        log.warning("could not download a photo a user sent: %s", getattr(exc, "message", None) or exc)
        return PhotoProblem.UNAVAILABLE
    try:
        stored = await asyncio.to_thread(store_photo, data, media_dir)
    except PhotoRejected as exc:
        return exc.problem
    await files.put(file_sender(bot.id), stored.sha256, MediaKind.PHOTO.value, photo.file_id, clock.now())
    return stored
