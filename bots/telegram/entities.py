"""Telegram message entities → our Markdown dialect (the one :mod:`bots.telegram.markup` renders).

A creator's bold, italics, code, links or a whole forwarded post must reach recipients on every
messenger, so the adapter writes a message's formatting the way a broadcast stores it: as Markdown.

* bold ``**…**``, italic ``*…*``, strikethrough ``~~…~~``, spoiler ``||…||``, inline code (a backtick
  span long enough for the code's own backticks), pre (a fenced block with its language), text links
  ``[text](url)`` (``<url>`` when it holds spaces or parentheses), blockquotes (``>`` lines).
* Everything else (underline, which Markdown lacks; mentions, hashtags, bare URLs, custom emoji,
  anything newer) is dropped and its text kept.
* Entities count UTF-16 code units, as Telegram does (an emoji outside the BMP counts 2). Telegram
  nests entities properly; one that overlaps its neighbour anyway is cut to fit, never lost.
* Spaces and line breaks at the edge of a span go outside its markers (``** bold **`` is not bold in
  Markdown), and a span is marked line by line (emphasis cannot cross a paragraph).
* ``escape=True`` (a forwarded message: someone else's text) backslash-escapes what Markdown would
  read as syntax, so it reads exactly as it did. ``escape=False`` (the sender's own message) keeps
  what they typed as typed, so Markdown they write by hand, and our ``[Label](target)`` button
  lines, still work beside Telegram's own formatting.

Pure functions of the text and the entities; no Bot API calls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from telegram import MessageEntity

__all__ = ["escape_markdown", "to_markdown"]

_WRAP = {"bold": "**", "italic": "*", "strikethrough": "~~", "spoiler": "||"}
_QUOTES = frozenset({"blockquote", "expandable_blockquote"})
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<|~])")
_LINE_START_MARK = re.compile(r"(^|\n)([ \t]*)([#>+=-])")
_LINE_START_NUMBER = re.compile(r"(^|\n)([ \t]*)(\d{1,9})([.)])")
_LANGUAGE = re.compile(r"[^A-Za-z0-9_+#-]")
_URL_UNSAFE = {"<": "%3C", ">": "%3E", " ": "%20", "\n": "%0A", "\\": "%5C"}


@dataclass
class _Span:
    kind: str
    start: int  # UTF-16 code units
    end: int
    url: str = ""
    language: str = ""
    children: list[_Span] = field(default_factory=list)


def escape_markdown(text: str, *, line_start: bool = True) -> str:
    """Plain text that our Markdown shows exactly as it is (inline syntax everywhere, block syntax at line starts).

    ``line_start``: ``text`` begins a line (so a leading ``#``, ``>``, ``-``, ``1.`` would start a block).
    """
    out = _INLINE_SPECIAL.sub(r"\\\1", text)
    if not line_start:
        head, sep, rest = out.partition("\n")
        return head + sep + _escape_blocks(rest) if sep else out
    return _escape_blocks(out)


def _escape_blocks(text: str) -> str:
    text = _LINE_START_MARK.sub(r"\1\2\\\3", text)
    return _LINE_START_NUMBER.sub(r"\1\2\3\\\4", text)


def to_markdown(text: str, entities: Sequence[MessageEntity] | None, *, escape: bool) -> str:
    """``text`` with ``entities`` as Markdown (see the module docstring for what becomes what)."""
    units = text.encode("utf-16-le")
    size = len(units) // 2
    root = _Span("root", 0, size)
    stack = [root]
    spans = [_span(e, size) for e in entities or ()]
    for span in sorted((s for s in spans if s is not None), key=lambda s: (s.start, -s.end)):
        while len(stack) > 1 and span.start >= stack[-1].end:
            stack.pop()
        parent = stack[-1]
        span.end = min(span.end, parent.end)  # overlapping its parent (Telegram never sends that): cut to fit
        if span.end > span.start:
            parent.children.append(span)
            stack.append(span)
    writer = _Writer(units, escape)
    return writer.block(root).strip("\n")


def _span(entity: MessageEntity, size: int) -> _Span | None:
    start = max(0, int(entity.offset))
    end = min(size, start + max(0, int(entity.length)))
    if end <= start:
        return None
    return _Span(str(entity.type), start, end, url=entity.url or "", language=entity.language or "")


@dataclass
class _Writer:
    units: bytes  # the text as UTF-16-LE
    escape: bool

    def raw(self, start: int, end: int) -> str:
        return self.units[2 * start : 2 * end].decode("utf-16-le", errors="replace")

    def at_line_start(self, position: int) -> bool:
        return position == 0 or self.raw(position - 1, position) == "\n"

    def plain(self, start: int, end: int) -> str:
        text = self.raw(start, end)
        if not self.escape:
            return text
        return escape_markdown(text, line_start=self.at_line_start(start))

    def block(self, span: _Span) -> str:
        """The span's content: text between its children as plain text, each child rendered."""
        parts: list[str] = []
        position = span.start
        for child in span.children:
            if child.start > position:
                parts.append(self.plain(position, child.start))
            parts.append(self.render(child, "".join(parts)))
            position = child.end
        if position < span.end:
            parts.append(self.plain(position, span.end))
        return "".join(parts)

    def render(self, span: _Span, before: str) -> str:
        kind = span.kind
        if kind == "code":
            return _code_span(self.raw(span.start, span.end))
        if kind == "pre":
            return _fence(self.raw(span.start, span.end), span.language, before)
        inner = self.block(span)
        if kind in _WRAP:
            left, right = self.raw(span.start - 1, span.start), self.raw(span.end, span.end + 1)
            return _wrap(inner, _WRAP[kind], word_before=_is_word(left), word_after=_is_word(right))
        if kind == "text_link" and span.url:
            return _link(inner, span.url, escaped=self.escape)
        if kind in _QUOTES:
            return _quote(inner, before)
        return inner  # underline, mentions, hashtags, URLs, custom emoji…: the text without formatting


def _is_word(ch: str) -> bool:
    """A letter or digit that is not CJK (next to CJK text, emphasis works whatever the punctuation)."""
    return ch.isalnum() and ord(ch) < 0x2E80


def _wrap(inner: str, marker: str, *, word_before: bool = False, word_after: bool = False) -> str:
    """``marker`` around each line's text, with the spaces at its edges left outside.

    CommonMark does not open emphasis between a letter and punctuation (``x**(y)**``), nor close it
    between punctuation and a letter (``**Note:**here``): there the punctuation at that edge goes
    outside the markers, so the words stay formatted instead of showing asterisks.
    """
    lines = inner.split("\n")
    out = []
    for n, line in enumerate(lines):
        body = line.strip()
        if not body:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()) :]
        if n == 0 and word_before and not lead:
            lead, body = _split_punctuation(body, from_start=True)
        if n == len(lines) - 1 and word_after and not trail:
            body, trail = _split_punctuation(body, from_start=False)
        out.append(f"{lead}{marker}{body}{marker}{trail}" if body else f"{lead}{trail}")
    return "\n".join(out)


def _split_punctuation(body: str, *, from_start: bool) -> tuple[str, str]:
    """``body`` cut into (punctuation, rest) from its start, or (rest, punctuation) from its end.

    An escaped character (``\\*``) moves whole: a backslash never ends up apart from what it escapes.
    """
    if from_start:
        i = 0
        while i < len(body) and not body[i].isalnum() and not body[i].isspace():
            i += 2 if body[i] == "\\" else 1
        return body[:i], body[i:]
    j = len(body)
    while j > 0 and not body[j - 1].isalnum() and not body[j - 1].isspace():
        j -= 2 if j >= 2 and body[j - 2] == "\\" else 1
    return body[:j], body[j:]


def _code_span(code: str) -> str:
    """Inline code per line (a code span can't hold a line break), fenced with more backticks than it holds."""
    out = []
    for line in code.split("\n"):
        if not line.strip():
            out.append(line)
            continue
        longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
        fence = "`" * (longest + 1)
        pad = " " if line.startswith("`") or line.endswith("`") or (line[0] == " " and line[-1] == " ") else ""
        out.append(f"{fence}{pad}{line}{pad}{fence}")
    return "\n".join(out)


def _fence(code: str, language: str, before: str) -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    fence = "`" * max(3, longest + 1)
    language = _LANGUAGE.sub("", language)[:32]
    lead = "" if not before or before.endswith("\n") else "\n"
    return f"{lead}{fence}{language}\n{code.rstrip(chr(10))}\n{fence}\n"


def _link(inner: str, url: str, *, escaped: bool) -> str:
    """``[label](<url>)``; brackets typed in the label are escaped (a forwarded text's already are)."""
    label = inner if escaped else inner.replace("[", "\\[").replace("]", "\\]")
    if not label.strip():
        return inner
    if not any(ch in url for ch in "()<> \n\\"):
        return f"[{label}]({url})"  # as a creator types it (so a link on its own line is a link button too)
    target = "".join(_URL_UNSAFE.get(ch, ch) for ch in url)
    return f"[{label}](<{target}>)"


def _quote(inner: str, before: str) -> str:
    lead = "" if not before or before.endswith("\n") else "\n"
    body = "\n".join(f"> {line}" if line else ">" for line in inner.strip("\n").split("\n"))
    return f"{lead}{body}\n\n"
