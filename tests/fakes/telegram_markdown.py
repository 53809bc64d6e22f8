"""Telegram's MarkdownV2 and legacy Markdown parse modes, as validators for the fake Bot API.

``parse_markdown_v2(text)`` follows tdlib's ``parse_markdown_v2``: every
reserved character ``_*[]()~`>#+-=|{}.!`` outside valid markup must be escaped
with a backslash, else :class:`EntityParseError` with Telegram's message
(``Character '.' is reserved and must be escaped with the preceding '\\'``);
an unclosed entity gives ``Can't find end of Bold entity at byte offset N``.
Inside ``code``/``pre`` only ````` and ``\\`` are special.

Knowingly simpler than Telegram: blockquotes are recognised line-wise (``>`` at
the start of consecutive lines, ``**>`` ... ``||`` for an expandable one) but
their interaction with entities crossing line boundaries is not checked; the
``___`` ambiguity between italic and underline is not resolved as cleverly as
tdlib does; link URLs must be http(s)/tg/mailto/ton (tdlib silently drops the
link otherwise).

``parse_markdown(text)`` is the legacy mode: ``*bold*``, ``_italic_``,
```code```, ```` ```pre``` ```` and ``[text](url)``, no nesting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fakes.telegram_html import URL_RE, EntityParseError, utf16_len

__all__ = ["RESERVED", "parse_markdown", "parse_markdown_v2"]

RESERVED = "_*[]()~`>#+-=|{}.!"
_SPACES = " \t\r\n\v\0"
_TDLIB_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "code": "Code",
    "pre": "Pre",
    "custom_emoji": "CustomEmoji",
}


@dataclass
class _Open:
    type: str
    offset: int  # UTF-16 offset in the result
    byte: int  # byte offset of the opening markup
    result_pos: int  # index in the result characters
    argument: str = ""


class _MarkdownV2:
    def __init__(self, text: str) -> None:
        self.t = text
        self.n = len(text)
        self.byte_at: list[int] = [0]
        for ch in text:
            self.byte_at.append(self.byte_at[-1] + len(ch.encode("utf-8", "surrogatepass")))
        self.out: list[str] = []
        self.u16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []
        self.quote: dict[str, Any] | None = None

    def at(self, i: int) -> str:
        return self.t[i] if i < self.n else "\0"

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.u16 += utf16_len(chunk)

    def in_code(self) -> bool:
        return bool(self.stack) and self.stack[-1].type in ("code", "pre")

    def close_quote(self) -> None:
        if self.quote is not None:
            length = self.u16 - self.quote["offset"]
            if length > 0:
                self.quote["length"] = length
                self.entities.append(self.quote)
            self.quote = None

    def reserved_error(self, c: str) -> EntityParseError:
        return EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        t, i = self.t, 0
        while i < self.n:
            c = t[i]
            if (i == 0 or t[i - 1] == "\n") and not self.in_code():
                if self.quote is None and t.startswith("**>", i):
                    self.quote = {"type": "expandable_blockquote", "offset": self.u16}
                    i += 3
                    continue
                if c == ">":
                    if self.quote is None:
                        self.quote = {"type": "blockquote", "offset": self.u16}
                    i += 1
                    continue
            if c == "\n" and self.quote is not None and not self.in_code() and self.at(i + 1) != ">":
                self.close_quote()
            if c == "\\" and 0 < ord(self.at(i + 1)) <= 126:
                self.emit(t[i + 1])
                i += 2
                continue
            reserved = "`" if self.in_code() else RESERVED
            if c not in reserved:
                self.emit(c)
                i += 1
                continue
            if (
                self.quote is not None
                and t.startswith("||", i)
                and self.at(i + 2) in "\n\0"
                and not (self.stack and self.stack[-1].type == "spoiler")
            ):
                self.quote["type"] = "expandable_blockquote"
                self.close_quote()
                i += 2
                continue
            i = self.end(i) if self.is_end(i) else self.begin(i)
        if self.stack:
            top = self.stack[-1]
            raise EntityParseError(f"Can't find end of {_TDLIB_NAMES[top.type]} entity at byte offset {top.byte}")
        self.close_quote()
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def is_end(self, i: int) -> bool:
        if not self.stack:
            return False
        c, kind, t = self.t[i], self.stack[-1].type, self.t
        return {
            "bold": c == "*",
            "italic": c == "_" and self.at(i + 1) != "_",
            "code": c == "`",
            "pre": t.startswith("```", i),
            "text_link": c == "]",
            "underline": t.startswith("__", i),
            "strikethrough": c == "~",
            "spoiler": t.startswith("||", i),
            "custom_emoji": c == "]",
        }[kind]

    def begin(self, i: int) -> int:
        t, c = self.t, self.t[i]
        start_byte = self.byte_at[i]
        argument = ""
        if c == "_":
            kind, i = ("underline", i + 2) if self.at(i + 1) == "_" else ("italic", i + 1)
        elif c == "*":
            kind, i = "bold", i + 1
        elif c == "~":
            kind, i = "strikethrough", i + 1
        elif c == "|":
            if self.at(i + 1) != "|":
                raise self.reserved_error(c)
            kind, i = "spoiler", i + 2
        elif c == "[":
            kind, i = "text_link", i + 1
        elif c == "!":
            if self.at(i + 1) != "[":
                raise self.reserved_error(c)
            kind, i = "custom_emoji", i + 2
        elif c == "`":
            if t.startswith("```", i):
                kind, i = "pre", i + 3
                end = i
                while end < self.n and t[end] not in _SPACES and t[end] != "`":
                    end += 1
                if end != i and end < self.n and t[end] != "`":
                    argument, i = t[i:end], end
                if self.at(i) in "\r\n":
                    pair = self.at(i + 1) in "\r\n" and self.at(i + 1) != self.at(i)
                    i += 2 if pair else 1
            else:
                kind, i = "code", i + 1
        else:
            raise self.reserved_error(c)
        self.stack.append(_Open(kind, self.u16, start_byte, len(self.out), argument))
        return i

    def end(self, i: int) -> int:
        t = self.t
        entry = self.stack.pop()
        entity: dict[str, Any] = {"type": entry.type, "offset": entry.offset, "length": self.u16 - entry.offset}
        if entry.type in ("underline", "spoiler"):
            i += 2
        elif entry.type == "pre":
            i += 3
            if entry.argument:
                entity["language"] = entry.argument
        elif entry.type in ("text_link", "custom_emoji"):
            if self.at(i + 1) != "(":
                if entry.type == "custom_emoji":
                    raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                url = "".join(self.out[entry.result_pos :])
                i += 1
            else:
                i += 2
                url_begin = self.byte_at[i]
                chars: list[str] = []
                while i < self.n and t[i] != ")":
                    if t[i] == "\\" and 0 < ord(self.at(i + 1)) <= 126:
                        chars.append(t[i + 1])
                        i += 2
                        continue
                    chars.append(t[i])
                    i += 1
                if i >= self.n:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {url_begin}")
                url = "".join(chars)
                i += 1
            if entry.type == "custom_emoji":
                prefix = "tg://emoji?id="
                if not url.startswith(prefix) or not url[len(prefix) :].isdigit():
                    raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                entity["custom_emoji_id"] = url[len(prefix) :]
            else:
                if not URL_RE.match(url):
                    raise EntityParseError(f'Wrong URL "{url}" at byte offset {entry.byte}')
                entity["url"] = url
        else:
            i += 1
        if entity["length"] > 0:
            self.entities.append(entity)
        return i


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2: (plain text, entities) or :class:`EntityParseError`."""
    return _MarkdownV2(text).parse()


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown: (plain text, entities) or :class:`EntityParseError`."""
    out: list[str] = []
    entities: list[dict[str, Any]] = []
    u16, i, n = 0, 0, len(text)
    byte_at = [0]
    for ch in text:
        byte_at.append(byte_at[-1] + len(ch.encode("utf-8", "surrogatepass")))
    kinds = {"*": "bold", "_": "italic", "`": "code", "[": "text_link"}
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            u16 += 1
            i += 2
            continue
        if c not in kinds:
            out.append(c)
            u16 += utf16_len(c)
            i += 1
            continue
        begin = byte_at[i]
        kind, closing = kinds[c], "]" if c == "[" else c
        language = ""
        if text.startswith("```", i):
            kind, i = "pre", i + 3
            end = i
            while end < n and text[end] not in _SPACES and text[end] != "`":
                end += 1
            if end != i and end < n and text[end] != "`":
                language, i = text[i:end], end
        else:
            i += 1
        offset, chunk_start = u16, len(out)
        while i < n and not (text.startswith("```", i) if kind == "pre" else text[i] == closing):
            out.append(text[i])
            u16 += utf16_len(text[i])
            i += 1
        if i >= n:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {begin}")
        i += 3 if kind == "pre" else 1
        entity: dict[str, Any] = {"type": kind, "offset": offset, "length": u16 - offset}
        if kind == "pre" and language:
            entity["language"] = language
        if kind == "text_link":
            url = "".join(out[chunk_start:])
            if i < n and text[i] == "(":
                end = text.find(")", i)
                if end < 0:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {byte_at[i]}")
                url, i = text[i + 1 : end], end + 1
            if not URL_RE.match(url):
                raise EntityParseError(f'Wrong URL "{url}" at byte offset {begin}')
            entity["url"] = url
        if entity["length"] > 0:
            entities.append(entity)
    return "".join(out), entities
