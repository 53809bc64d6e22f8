"""Shared pieces of the fake Bot API: errors, request parameter decoding, text and keyboard validation.

Parameters arrive as JSON, ``application/x-www-form-urlencoded``, ``multipart/form-data``
or a query string.  In the form encodings PTB sends strings as they are and
everything else JSON-encoded; :func:`decode_form_value` reverses that, keeping
the fields Telegram documents as strings (``text``, ``payload``, file ids, ...)
as strings, so ``calls`` shows the same Python values whichever encoding the
client used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fakes.telegram_html import EntityParseError, parse_html, strip_text, utf16_len
from fakes.telegram_markdown import parse_markdown, parse_markdown_v2

__all__ = [
    "ApiError",
    "Upload",
    "bad_request",
    "check_inline_keyboard",
    "decode_form_value",
    "format_text",
    "get_bool",
    "get_int",
    "get_json",
    "get_str",
    "markup_key",
]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_BUTTONS = 100

#: parameters Telegram documents as String: never JSON-decoded from form data.
STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "title",
        "description",
        "short_description",
        "payload",
        "provider_token",
        "provider_data",
        "currency",
        "start_parameter",
        "url",
        "secret_token",
        "ip_address",
        "callback_query_id",
        "pre_checkout_query_id",
        "shipping_query_id",
        "error_message",
        "name",
        "parse_mode",
        "caption_parse_mode",
        "invite_link",
        "telegram_payment_charge_id",
        "language_code",
        "photo",
        "audio",
        "voice",
        "video",
        "animation",
        "document",
        "thumbnail",
        "sticker",
        "action",
        "emoji",
        "inline_message_id",
        "business_connection_id",
        "photo_url",
        "custom_title",
        "file_id",
        "media",
    }
)


class ApiError(Exception):
    """An error response: ``{"ok": false, "error_code": code, "description": ..., "parameters": ...}``."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


def decode_form_value(name: str, value: str) -> Any:
    """Reverse PTB's form encoding: strings as is, everything else JSON."""
    if name in STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


# ---------------------------------------------------------------- typed getters (Telegram's coercions)


def get_str(p: dict[str, Any], name: str, *, required: bool = False, empty_error: str | None = None) -> str | None:
    value = p.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(empty_error or f"{name} is empty")
        return None if value is None else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise bad_request(f"can't parse {name}: string expected")
    return value


def get_int(p: dict[str, Any], name: str, *, required: bool = False, error: str | None = None) -> int | None:
    value = p.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(error or f"{name} is empty")
        return None
    if isinstance(value, bool):
        raise bad_request(error or f"invalid {name} specified")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise bad_request(error or f"invalid {name} specified")


def get_bool(p: dict[str, Any], name: str) -> bool:
    value = p.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def get_json(p: dict[str, Any], name: str, *, what: str | None = None) -> Any:
    """A structured parameter: already decoded (JSON body) or a JSON string (also accepted by Telegram)."""
    value = p.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {what or name} JSON object") from None
    return value


# ---------------------------------------------------------------- text


def format_text(
    text: str,
    parse_mode: str | None,
    entities: Any,
    *,
    caption: bool = False,
    strict_html: bool = True,
) -> tuple[str, list[dict[str, Any]]]:
    """Parse ``text`` like Telegram: (trimmed plain text, entities); enforces the length limits."""
    what = "caption" if caption else "text"
    if entities:
        if not isinstance(entities, list) or not all(
            isinstance(e, dict) and isinstance(e.get("type"), str) and isinstance(e.get("offset"), int)
            for e in entities
        ):
            raise bad_request(f"can't parse {what} entities JSON object")
        plain, parsed = text, [dict(e) for e in entities]
    elif parse_mode:
        mode = parse_mode.lower()
        try:
            if mode == "html":
                plain, parsed = parse_html(text, strict=strict_html)
            elif mode == "markdownv2":
                plain, parsed = parse_markdown_v2(text)
            elif mode == "markdown":
                plain, parsed = parse_markdown(text)
            else:
                raise bad_request(f"unsupported parse_mode {parse_mode!r}")
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    else:
        plain, parsed = text, []
    plain, parsed = strip_text(plain, parsed)
    if caption:
        if utf16_len(plain) > MAX_CAPTION:
            raise bad_request("message caption is too long")
    else:
        if not plain:
            raise bad_request("message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise bad_request("message is too long")
    return plain, parsed


# ---------------------------------------------------------------- keyboards

_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "pay",
    "login_url",
    "copy_text",
    "web_app",
    "callback_game",
)


def _check_url(url: Any) -> None:
    if not isinstance(url, str):
        raise bad_request("BUTTON_URL_INVALID")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "tg" and (parts.netloc or parts.path):
        return
    if scheme in ("http", "https") and parts.hostname and " " not in url:
        return
    raise bad_request("BUTTON_URL_INVALID")


def check_inline_keyboard(markup: Any, *, invoice: bool = False) -> dict[str, Any] | None:
    """Validate a ``reply_markup``; return it when it is an inline keyboard (echoed in Message), else None."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        _check_reply_keyboard(markup)
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('can\'t parse inline keyboard button: field "inline_keyboard" must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    for r, row in enumerate(rows):
        for c, button in enumerate(row):
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            text = button.get("text")
            if not isinstance(text, str) or not text.strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            actions = [a for a in _BUTTON_ACTIONS if button.get(a) is not None]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if len(actions) > 1:
                raise bad_request("can't parse inline keyboard button: exactly one of the optional fields must be used")
            action = actions[0]
            if action == "callback_data":
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            elif action == "url":
                _check_url(button["url"])
            elif action == "pay" and (not invoice or (r, c) != (0, 0)):
                raise bad_request("BUTTON_TYPE_INVALID")
            elif action == "login_url":
                login = button["login_url"]
                _check_url(login.get("url") if isinstance(login, dict) else None)
            elif action == "copy_text":
                copy = button["copy_text"]
                if not isinstance(copy, dict) or not 1 <= len(str(copy.get("text") or "")) <= 256:
                    raise bad_request("COPY_TEXT_INVALID")
    if invoice and rows and not (rows[0] and rows[0][0].get("pay")):
        raise bad_request("REPLY_MARKUP_BUY_EMPTY")
    return {"inline_keyboard": rows}


def _check_reply_keyboard(markup: dict[str, Any]) -> None:
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return
    rows = markup.get("keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for row in rows:
        for button in row:
            text = button.get("text") if isinstance(button, dict) else button
            if not isinstance(text, str) or not text.strip():
                raise bad_request("BUTTON_TEXT_INVALID")


def markup_key(markup: dict[str, Any] | None) -> str:
    """A canonical form of a markup, to compare an edit with the current message."""
    return json.dumps(markup or None, sort_keys=True, ensure_ascii=False)
