"""Files and media messages of the fake Bot API: sendPhoto/Audio/Voice/Video/Animation/Document,
sendMediaGroup and getFile (a mixin of :class:`fakes.telegram_api.FakeBotAPI`).

Guarantees: an uploaded file (a multipart part, directly under the field name
or via ``attach://<name>``) gets a new unique ``file_id``/``file_unique_id``;
``uploads``/``upload_bytes`` count them; a ``file_id`` the fake never issued is
refused with Telegram's ``wrong file identifier/HTTP URL specified`` and one of
another kind with ``can't use file of type X as Y`` (animations and documents
are interchangeable); Message carries the right object (``photo`` as a list of
PhotoSize, ``animation`` plus ``document``...); media groups follow Telegram's
2-10 items and mixing rules.

Knowingly simpler: an http(s) URL is "downloaded" without fetching it (a new
file of size 0); dimensions and durations are fixed placeholders (or the
``width``/``height``/``duration`` params); thumbnails are accepted and ignored.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from aiohttp import web
from fakes.telegram_common import ApiError, Upload, bad_request, get_int, get_json, get_str

if TYPE_CHECKING:
    from fakes.telegram_api import FakeBotAPI as _Base
else:
    _Base = object

__all__ = ["MediaMixin"]

MEDIA_KINDS = ("photo", "audio", "voice", "video", "animation", "document")
_TYPE_NAMES = {
    "photo": "Photo",
    "audio": "Audio",
    "voice": "Voice",
    "video": "Video",
    "animation": "Animation",
    "document": "Document",
}
_DEFAULT_MIME = {
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "video": "video/mp4",
    "animation": "video/mp4",
    "document": "application/octet-stream",
}
_WRONG_FILE = "wrong file identifier/HTTP URL specified"


class MediaMixin(_Base):
    def __init__(self) -> None:
        self.files: dict[str, dict[str, Any]] = {}
        self.file_data: dict[str, bytes] = {}
        self.uploads = 0
        self.upload_bytes = 0
        self._file_counter = itertools.count(1)
        self._file_paths: dict[str, str] = {}

    # ---------------------------------------------------------------- file registry

    def _register_file(self, kind: str, data: bytes, filename: str | None, mime: str | None) -> dict[str, Any]:
        n = next(self._file_counter)
        prefix = {"photo": "AgAC", "audio": "CQAC", "voice": "AwAC", "video": "BAAC", "animation": "CgAC"}
        file_id = f"{prefix.get(kind, 'BQAC')}FAKE{n:06d}{self._new_id()}"
        record: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"AQADFAKE{n:06d}",
            "kind": kind,
            "file_size": len(data),
            "file_name": filename,
            "mime_type": mime,
            "path": f"{kind}s/file_{n}",
        }
        self.files[file_id] = record
        self.file_data[file_id] = data
        self._file_paths[record["path"]] = file_id
        return record

    def _photo_thumbnail(self, record: dict[str, Any]) -> dict[str, Any]:
        """The small PhotoSize of a photo: a file of its own, issued once per photo."""
        thumb_id = record.setdefault("thumbnail_id", None)
        if thumb_id is None:
            thumb = self._register_file("photo", self.file_data.get(record["file_id"], b"")[:64], None, None)
            thumb["thumbnail_id"] = thumb["file_id"]  # a thumbnail has no thumbnail of its own
            record["thumbnail_id"] = thumb_id = thumb["file_id"]
        return self.files[thumb_id]

    def add_file(self, kind: str, data: bytes = b"x", *, filename: str | None = None) -> str:
        """Pre-register a file (as if uploaded earlier) and return its file_id."""
        return self._register_file(kind, data, filename, _DEFAULT_MIME.get(kind))["file_id"]

    def _resolve_file(self, kind: str, ref: Any, files: dict[str, Upload], field: str) -> dict[str, Any]:
        """The file a send request refers to: an upload (part or attach://), a URL or an issued file_id."""
        upload: Upload | None = None
        if ref is None or ref == "":
            upload = files.get(field)
            if upload is None:
                raise bad_request(f"there is no {kind} in the request")
        elif not isinstance(ref, str):
            raise bad_request(_WRONG_FILE)
        elif ref.startswith("attach://"):
            upload = files.get(ref[len("attach://") :])
            if upload is None:
                raise bad_request(_WRONG_FILE)
        if upload is not None:
            if not upload.data:
                raise bad_request("file must be non-empty")
            self.uploads += 1
            self.upload_bytes += len(upload.data)
            mime = upload.content_type if upload.content_type != "application/octet-stream" else None
            return self._register_file(kind, upload.data, upload.filename, mime or _DEFAULT_MIME.get(kind))
        assert isinstance(ref, str)
        if ref.startswith(("http://", "https://")):
            return self._register_file(kind, b"", ref.rsplit("/", 1)[-1] or None, _DEFAULT_MIME.get(kind))
        record = self.files.get(ref)
        if record is None:
            raise bad_request(_WRONG_FILE)
        if record["kind"] != kind and {record["kind"], kind} != {"animation", "document"}:
            raise bad_request(f"can't use file of type {_TYPE_NAMES[record['kind']]} as {_TYPE_NAMES[kind]}")
        return record

    def _media_object(self, kind: str, record: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        base: dict[str, Any] = {"file_id": record["file_id"], "file_unique_id": record["file_unique_id"]}
        if record["file_size"]:
            base["file_size"] = record["file_size"]
        width, height = get_int(p, "width") or 1280, get_int(p, "height") or 720
        duration = get_int(p, "duration") or 0
        if kind == "photo":
            return {**base, "width": 1280, "height": 853}
        if kind in ("audio", "voice"):
            base["duration"] = duration
        if kind in ("video", "animation"):
            base.update(width=width, height=height, duration=duration)
        if kind in ("audio", "video", "animation", "document") and record.get("file_name"):
            base["file_name"] = record["file_name"]
        if record.get("mime_type") and kind != "photo":
            base["mime_type"] = record["mime_type"]
        if kind == "audio":
            for field in ("title", "performer"):
                if get_str(p, field):
                    base[field] = get_str(p, field)
        return base

    def _message_fields(self, kind: str, record: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        obj = self._media_object(kind, record, p)
        if kind == "photo":
            thumb = self._photo_thumbnail(record)
            small = {"file_id": thumb["file_id"], "file_unique_id": thumb["file_unique_id"], "width": 90, "height": 60}
            return {"photo": [small, obj]}
        if kind == "animation":
            return {
                "animation": obj,
                "document": {k: v for k, v in obj.items() if k not in ("width", "height", "duration")},
            }
        return {kind: obj}

    # ---------------------------------------------------------------- send*

    def _send_media(self, kind: str, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat = self._target_chat(p)
        record = self._resolve_file(kind, p.get(kind), files, kind)
        caption, entities = self._text(p, "caption", caption=True)
        fields = self._message_fields(kind, record, p)
        fields.update(caption=caption, caption_entities=entities, reply_markup=self._markup(p))
        message = self._new_message(chat, p, fields)
        self._record(message, "send" + _TYPE_NAMES[kind], rec)
        return message

    def _m_sendphoto(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        return self._send_media("photo", p, files, rec)

    def _m_sendaudio(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        return self._send_media("audio", p, files, rec)

    def _m_sendvoice(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        return self._send_media("voice", p, files, rec)

    def _m_sendvideo(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        return self._send_media("video", p, files, rec)

    def _m_sendanimation(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        return self._send_media("animation", p, files, rec)

    def _m_senddocument(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        return self._send_media("document", p, files, rec)

    def _m_sendmediagroup(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat = self._target_chat(p)
        media = get_json(p, "media")
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise bad_request("can't parse media JSON object")
        if len(media) < 2:
            raise bad_request("MEDIA_EMPTY" if not media else "there must be at least 2 media in a media group")
        if len(media) > 10:
            raise bad_request("too many messages to send as an album")
        kinds = [m.get("type") for m in media]
        for kind in kinds:
            if kind not in ("photo", "video", "audio", "document"):
                raise bad_request(f"unsupported media type {kind!r} in a media group")
        for only in ("audio", "document"):
            if only in kinds and any(k != only for k in kinds):
                raise bad_request(f"{only} can't be mixed with other media types")
        prepared: list[dict[str, Any]] = []
        for item in media:
            kind = item["type"]
            record = self._resolve_file(kind, item.get("media"), files, kind)
            caption, entities = self._text(item, "caption", caption=True)
            fields = self._message_fields(kind, record, item)
            fields.update(caption=caption, caption_entities=entities)
            prepared.append(fields)
        group_id = self._new_id()
        messages = []
        for fields in prepared:
            message = self._new_message(chat, p, {"media_group_id": group_id, **fields})
            self._record(message, "sendMediaGroup", rec)
            messages.append(message)
        return messages

    # ---------------------------------------------------------------- getFile and downloads

    def _m_getfile(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        file_id = get_str(p, "file_id", required=True, empty_error="file_id is empty") or ""
        record = self.files.get(file_id)
        if record is None:
            raise bad_request("invalid file_id")
        result = {"file_id": file_id, "file_unique_id": record["file_unique_id"], "file_path": record["path"]}
        if record["file_size"]:
            result["file_size"] = record["file_size"]
        return result

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            body = ApiError(401, "Unauthorized").body()
            return web.json_response(body, status=401)
        file_id = self._file_paths.get(request.match_info["path"])
        if file_id is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=self.file_data[file_id], content_type="application/octet-stream")
