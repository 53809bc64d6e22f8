"""Telegram's HTML parse mode, as a validator for the fake Bot API (and for tests).

``parse_html(text)`` returns the plain text Telegram would store plus its
entities (``type``/``offset``/``length`` in UTF-16 code units, ``url`` for
links, ``language`` for ``pre``, ``custom_emoji_id``), or raises
:class:`EntityParseError` whose message mimics the one after Telegram's
``Bad Request: can't parse entities: `` prefix.

The tokenizer follows tdlib's ``parse_html`` (byte offsets of the original
UTF-8 text, tag names and name tokens lower-cased, attribute values in single
or double quotes or as a bare name token, ``<a>``'s entities decoded inside
quoted attribute values).

Knowingly stricter than Telegram (``strict=True``, the default), so that a
rendering bug fails a test instead of silently showing odd text:

* a stray ``&`` (not ``&lt; &gt; &amp; &quot; &#NNN; &#xHH;`` with the ``;``)
  is rejected; Telegram copies it literally;
* a stray ``>`` is rejected; Telegram copies it literally;
* ``<a>`` needs an ``href`` with an http(s)/tg/mailto/ton URL; Telegram drops
  the link (keeping the text) when the URL is missing or invalid;
* nested links, any tag inside ``code``, anything but one ``code`` inside
  ``pre`` and nested blockquotes are rejected; Telegram silently drops the
  inner entities.

``strict=False`` follows tdlib for ``&`` and ``>``.  The messages of the
strict-only errors are this module's own wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "parse_html",
    "strip_text",
    "utf16_len",
]

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)
_ENTITY_TYPE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n\v\0"
URL_RE = re.compile(r"^(?:(?:https?)://[^\s/?#]+[^\s]*|tg://[a-z_]+[^\s]*|mailto:[^\s@]+@[^\s@]+|ton://[^\s]+)$", re.I)


class EntityParseError(ValueError):
    """The text can't be parsed; ``str(error)`` is Telegram's message after ``can't parse entities: ``."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts message length and entity offsets."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    tag: str
    begin: int  # byte offset of '<'
    offset: int  # UTF-16 offset in the result
    argument: str = ""
    expandable: bool = False
    children: list[str] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, strict: bool) -> None:
        self.text = text
        self.n = len(text)
        self.strict = strict
        self.byte_at: list[int] = [0]
        for ch in text:
            self.byte_at.append(self.byte_at[-1] + len(ch.encode("utf-8", "surrogatepass")))
        self.out: list[str] = []
        self.u16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- helpers
    def byte(self, i: int) -> int:
        return self.byte_at[min(i, self.n)]

    def at(self, i: int) -> str:
        return self.text[i] if i < self.n else "\0"

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.u16 += utf16_len(chunk)

    def decode_entity(self, i: int) -> tuple[str | None, int]:
        """Decode the character reference at ``text[i] == '&'``: (character or None, index after it)."""
        t, j = self.text, i + 1
        value: int | None = None
        if self.at(j) == "#":
            j += 1
            base, digits = 10, "0123456789"
            if self.at(j) == "x":
                base, digits = 16, "0123456789abcdefABCDEF"
                j += 1
            start = j
            while j < self.n and t[j] in digits and j - start < 8:
                j += 1
            if j > start:
                value = int(t[start:j], base)
                if not 0 < value < 0x110000 or 0xD800 <= value <= 0xDFFF:
                    value = None
        else:
            start = j
            while j < self.n and t[j].isascii() and t[j].isalpha():
                j += 1
            name = t[start:j]
            if name in _NAMED_ENTITIES:
                value = ord(_NAMED_ENTITIES[name])
            elif self.strict and name and self.at(j) == ";":
                raise EntityParseError(f'Unknown entity "&{name};" at byte offset {self.byte(i)}')
        has_semicolon = self.at(j) == ";"
        if self.strict and (value is None or not has_semicolon):
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {self.byte(i)}")
        if value is None:
            return None, i + 1
        return chr(value), j + 1 if has_semicolon else j

    # ---------------------------------------------------------------- main loop
    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        i = 0
        while i < self.n:
            c = self.text[i]
            if c == "&":
                ch, j = self.decode_entity(i)
                if ch is not None:
                    self.emit(ch)
                    i = j
                    continue
            if c == ">" and self.strict:
                raise EntityParseError(f'Character ">" must be escaped as "&gt;" at byte offset {self.byte(i)}')
            if c != "<":
                self.emit(c)
                i += 1
                continue
            i = self.end_tag(i) if self.at(i + 1) == "/" else self.start_tag(i)
        if self.stack:
            raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def skip_spaces(self, j: int) -> int:
        while j < self.n and self.text[j] in _SPACES:
            j += 1
        return j

    def start_tag(self, i: int) -> int:
        t, begin = self.text, self.byte(i)
        j = i + 1
        while j < self.n and t[j] not in _SPACES and t[j] != ">":
            j += 1
        if j >= self.n:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        tag = t[i + 1 : j].lower()
        if tag not in SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
        attrs: dict[str, str | None] = {}
        while True:
            j = self.skip_spaces(j)
            if j >= self.n:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            if t[j] == ">":
                break
            name_start = j
            while j < self.n and t[j] not in _SPACES and t[j] not in "=>":
                j += 1
            name = t[name_start:j].lower()
            if not name:
                raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
            j = self.skip_spaces(j)
            if j >= self.n:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            if t[j] != "=":
                attrs[name] = None  # an attribute without a value, e.g. <blockquote expandable>
                continue
            j = self.skip_spaces(j + 1)
            if j >= self.n:
                raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            if t[j] not in "'\"":
                value_start = j
                while j < self.n and ((t[j].isascii() and t[j].isalnum()) or t[j] in ".-"):
                    j += 1
                if j >= self.n or (t[j] not in _SPACES and t[j] != ">"):
                    raise EntityParseError(f"Unexpected end of name token at byte offset {self.byte(j)}")
                attrs[name] = t[value_start:j].lower()
                continue
            quote, j = t[j], j + 1
            value: list[str] = []
            while j < self.n and t[j] != quote:
                if t[j] == "&":
                    ch, k = self.decode_entity(j)
                    if ch is not None:
                        value.append(ch)
                        j = k
                        continue
                value.append(t[j])
                j += 1
            if j >= self.n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            attrs[name] = "".join(value)
            j += 1
        self.open(tag, attrs, begin)
        return j + 1

    def open(self, tag: str, attrs: dict[str, str | None], begin: int) -> None:
        entry = _Open(tag=tag, begin=begin, offset=self.u16)
        if tag == "span":
            if attrs.get("class") != "tg-spoiler":
                raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        elif tag == "a":
            href = attrs.get("href")
            if self.strict and not href:
                raise EntityParseError(f'Tag "a" must have a non-empty attribute "href" at byte offset {begin}')
            if self.strict and href and not URL_RE.match(href):
                raise EntityParseError(f'Wrong URL "{href}" in the tag "a" at byte offset {begin}')
            entry.argument = href or ""
        elif tag == "code":
            cls = attrs.get("class") or ""
            entry.argument = cls[len("language-") :] if cls.startswith("language-") else ""
        elif tag == "tg-emoji":
            emoji_id = attrs.get("emoji-id")
            if not emoji_id or not emoji_id.isdigit():
                raise EntityParseError(
                    f'Tag "tg-emoji" must have a numeric attribute "emoji-id" at byte offset {begin}'
                )
            entry.argument = emoji_id
        elif tag == "blockquote":
            entry.expandable = "expandable" in attrs
        if self.strict:
            self.check_nesting(tag, begin)
        if self.stack:
            self.stack[-1].children.append(tag)
        self.stack.append(entry)

    def check_nesting(self, tag: str, begin: int) -> None:
        open_tags = [o.tag for o in self.stack]
        if tag == "a" and "a" in open_tags:
            raise EntityParseError(f"Nested links are not allowed at byte offset {begin}")
        if "code" in open_tags:
            raise EntityParseError(f'Tag "{tag}" is not allowed inside "code" at byte offset {begin}')
        if "pre" in open_tags:
            parent = self.stack[-1]
            if tag != "code" or parent.tag != "pre" or "code" in parent.children:
                raise EntityParseError(
                    f'Only one tag "code" is allowed inside "pre", found "{tag}" at byte offset {begin}'
                )
        if tag == "blockquote" and "blockquote" in open_tags:
            raise EntityParseError(f"Nested blockquotes are not allowed at byte offset {begin}")

    def end_tag(self, i: int) -> int:
        t, begin = self.text, self.byte(i)
        if not self.stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        j = i + 2
        while j < self.n and t[j] not in _SPACES and t[j] != ">":
            j += 1
        end_name = t[i + 2 : j].lower()
        j = self.skip_spaces(j)
        if j >= self.n or t[j] != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        entry = self.stack[-1]
        if end_name and end_name != entry.tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{entry.tag}>", found "</{end_name}>"'
            )
        self.stack.pop()
        self.close(entry)
        return j + 1

    def close(self, entry: _Open) -> None:
        length = self.u16 - entry.offset
        if length <= 0:
            return
        kind = _ENTITY_TYPE[entry.tag]
        entity: dict[str, Any] = {"type": kind, "offset": entry.offset, "length": length}
        if kind == "text_link":
            if not entry.argument:
                return  # Telegram keeps the text and drops a link without a URL (non-strict mode only)
            entity["url"] = entry.argument
        elif kind == "custom_emoji":
            entity["custom_emoji_id"] = entry.argument
        elif kind == "blockquote" and entry.expandable:
            entity["type"] = "expandable_blockquote"
        elif kind == "code" and self.stack and self.stack[-1].tag == "pre":
            entity["language"] = entry.argument  # folded into the enclosing pre when it covers it exactly
        elif kind == "pre":
            inner = next(
                (
                    e
                    for e in self.entities
                    if e["type"] == "code" and e["offset"] == entry.offset and e["length"] == length and "language" in e
                ),
                None,
            )
            if inner is not None:
                self.entities.remove(inner)
                if inner["language"]:
                    entity["language"] = inner["language"]
            for e in self.entities:
                if e["type"] == "code":
                    e.pop("language", None)
        self.entities.append(entity)


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML: (plain text, entities) or :class:`EntityParseError`.

    The result is not trimmed; see :func:`strip_text` for the trimming Telegram applies afterwards.
    """
    return _Parser(text, strict).parse()


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim leading/trailing whitespace as Telegram does, shifting and clipping the entities to match."""
    stripped = text.strip()
    if not stripped:
        return "", []
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    result: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, total)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result
