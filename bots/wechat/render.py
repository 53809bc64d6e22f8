"""Neutral replies → WeChat messages.

WeChat's conversation has no inline buttons, a text limit of 2048 bytes
(UTF-8) and plain text with ``<a href>`` links as its only markup. So:

* buttons become numbered options ("回复 1 查看课程"); :class:`Rendered`
  carries the number → action map, which the channel keeps per user so that a
  reply with that number presses the button (link buttons become links);
* lesson Markdown is rendered to plain text (bold and italics drop their
  marks, lists keep bullets, links stay tappable);
* long text is split at paragraphs, then lines, then sentence ends
  (including 。！？), never inside a link, each piece within 2048 bytes;
* media become image/voice/video messages, followed by the caption as text
  with the media's buttons as numbered options (a broadcast's photo); kinds
  WeChat can't send in a conversation (documents, long audio) become their
  caption and a note.

Invoices are left to the channel (:class:`Out` ``kind="invoice"``): showing
one means creating the payment first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bots.telegram.markup import markdown_to_html
from core.catalog import MediaKind
from core.i18n import Translator
from core.replies import Button, InvoiceReply, MediaReply, Reply, TextReply

__all__ = ["TEXT_BYTES", "Out", "Rendered", "lesson_text", "render", "split_text"]

TEXT_BYTES = 2048  # WeChat's limit for one text message, in UTF-8 bytes
MAX_OPTIONS = 30

_TAG = re.compile(r"<(/?)([a-z-]+)([^>]*)>")
_HREF = re.compile(r'\bhref="([^"]*)"')
_ANCHOR = re.compile(r"<a href=\"[^\"]*\">.*?</a>", re.S)
_SENTENCE_END = re.compile(r"(?<=[。！？；.!?;])\s*")
_WECHAT_KIND = {
    MediaKind.PHOTO: "image",
    MediaKind.ANIMATION: "image",
    MediaKind.VOICE: "voice",
    MediaKind.VIDEO: "video",
}


@dataclass(frozen=True, slots=True)
class Out:
    """One WeChat message to send: text, a media file to upload/send, or an invoice to turn into a payment."""

    kind: str  # "text" | "image" | "voice" | "video" | "invoice"
    source: int = 0  # index of the neutral reply this message comes from (what to defer if it can't go out)
    text: str = ""
    media: MediaReply | None = None
    invoice: InvoiceReply | None = None


@dataclass(slots=True)
class Rendered:
    messages: list[Out] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)  # "1" → button action


def _byte_len(text: str) -> int:
    return len(text.encode("utf-8"))


def lesson_text(markdown: str) -> str:
    """Lesson Markdown as WeChat text: formatting marks dropped, links kept as ``<a href>``."""
    telegram_html = markdown_to_html(markdown)

    def tag(m: re.Match[str]) -> str:
        closing, name, attrs = m.group(1), m.group(2), m.group(3)
        if name == "a":
            if closing:
                return "</a>"
            href = _HREF.search(attrs)
            return f'<a href="{href.group(1)}">' if href else ""
        return ""

    text = _TAG.sub(tag, telegram_html)
    # Entities come back as characters, except inside link targets (already attribute-escaped).
    parts = re.split(r'(<a href="[^"]*">|</a>)', text)
    return "".join(p if p.startswith(("<a ", "</a")) else html.unescape(p) for p in parts).strip()


def _cut(text: str, limit: int) -> int:
    """Where to cut ``text`` so the head is within ``limit`` bytes: the best boundary, never inside a link."""
    # The longest prefix (in characters) that fits.
    fit, size = 0, 0
    for ch in text:
        size += _byte_len(ch)
        if size > limit:
            break
        fit += 1
    guarded = [(m.start(), m.end()) for m in _ANCHOR.finditer(text, 0, len(text)) if m.start() < fit]

    def ok(k: int) -> bool:
        return 0 < k <= fit and not any(a < k < b for a, b in guarded)

    window = text[:fit]
    for pattern in ("\n\n", "\n"):
        k = window.rfind(pattern)
        while k > 0:
            if ok(k) and k > fit // 3:
                return k
            k = window.rfind(pattern, 0, k)
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if ok(m.end()) and m.end() > fit // 3]
    if ends:
        return ends[-1]
    k = window.rfind(" ")
    if ok(k) and k > fit // 3:
        return k
    k = fit
    while k > 0 and not ok(k):
        k -= 1
    return k or fit


def split_text(text: str, limit: int = TEXT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at the most natural boundary."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if _byte_len(rest) <= limit:
            pieces.append(rest)
            break
        k = _cut(rest, limit)
        head = rest[:k].rstrip()
        if head:
            pieces.append(head)
        rest = rest[k:].lstrip()
    return pieces


def _option_lines(
    rows: Sequence[Sequence[Button]], t: Translator, options: dict[str, str], *, hide_actions: frozenset[str]
) -> list[str]:
    lines: list[str] = []
    for row in rows:
        for button in row:
            if button.is_link:
                lines.append(f'<a href="{html.escape(button.url, quote=True)}">{button.label}</a>')
                continue
            if button.action.split(":", 1)[0] in hide_actions or len(options) >= MAX_OPTIONS:
                continue
            n = str(len(options) + 1)
            options[n] = button.action
            lines.append(t("wechat.option", n=n, label=button.label))
    return lines


def render(
    replies: Sequence[Reply], t: Translator, *, hide_actions: frozenset[str] = frozenset(), limit: int = TEXT_BYTES
) -> Rendered:
    """Turn one batch of replies into WeChat messages; options are numbered across the whole batch."""
    out = Rendered()
    for source, reply in enumerate(replies):
        if isinstance(reply, TextReply):
            body = lesson_text(reply.text) if reply.markdown else reply.text.strip()
            options = _option_lines(reply.buttons, t, out.options, hide_actions=hide_actions)
            _append_text(out, body, options, limit, source)
        elif isinstance(reply, MediaReply):
            kind = _WECHAT_KIND.get(reply.kind)
            caption = lesson_text(reply.caption) if reply.markdown else reply.caption.strip()
            options = _option_lines(reply.buttons, t, out.options, hide_actions=hide_actions)
            if kind is None:
                note = t("wechat.media_unsupported")
                _append_text(out, "\n".join(p for p in (caption, note) if p), options, limit, source)
                continue
            out.messages.append(Out(kind, source, media=reply))
            text = caption if kind != "video" else ""  # a video carries its caption as its description
            if text or options:
                _append_text(out, text, options, limit, source)
        elif isinstance(reply, InvoiceReply):
            out.messages.append(Out("invoice", source, invoice=reply))
            options = _option_lines(reply.buttons, t, out.options, hide_actions=hide_actions)
            if options:
                _append_text(out, "", options, limit, source)
        # CheckoutAnswer has no WeChat counterpart (WeChat Pay has no pre-checkout step).
    return out


def _append_text(out: Rendered, body: str, options: list[str], limit: int, source: int) -> None:
    hint = "\n".join(options)
    pieces = split_text(body, limit) if body else []
    if hint:
        if pieces and _byte_len(pieces[-1] + "\n\n" + hint) <= limit:
            pieces[-1] = pieces[-1] + "\n\n" + hint
        else:
            pieces.extend(split_text(hint, limit))
    out.messages.extend(Out("text", source, text=p) for p in pieces)
