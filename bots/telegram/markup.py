"""Lesson Markdown → Telegram HTML, and splitting HTML into messages Telegram accepts.

Telegram's HTML parse mode is a tiny dialect: a handful of tags (b, i, u, s, tg-spoiler, a, code, pre,
blockquote, tg-emoji), four named entities (``&lt; &gt; &amp; &quot;``) plus numeric ones, and a few nesting rules
(nothing inside code/pre, links never nest, blockquotes never nest, code/pre only inside a blockquote). A message is
rejected whole when any of that is broken, and it is limited to 4096 characters (1024 for a caption) *after* the
tags and entities are parsed, counted in UTF-16 code units. Course creators write arbitrary Markdown, so the
renderer here is built so that its output is valid whatever the input, and the splitter cuts long output into
pieces that are each valid and within the limit.

Markdown is parsed with markdown-it-py (CommonMark, plus ``~~strike~~`` and ``||spoiler||``) and the token tree is
rendered by hand, so only tags Telegram knows are ever emitted. Deliberate departures from CommonMark, each so that
the author's text reaches the learner unchanged:

* raw HTML and HTML entities typed in the text are shown literally (escaped), never interpreted;
* a single line break inside a paragraph is kept as a line break (chat text is not reflowed, Chinese gets no spaces);
* indented code blocks are off, so prose indented by four spaces stays prose;
* emphasis delimiters next to CJK text work (``**注意：**这里`` is bold), following the "CJK-friendly" amendment;
* links are real links only for http, https, tg and mailto; any other target is shown as text after the link text.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.rules_inline.state_inline import Delimiter, StateInline
from markdown_it.tree import SyntaxTreeNode

__all__ = [
    "CAPTION_LIMIT",
    "TEXT_LIMIT",
    "caption_and_rest",
    "escape",
    "markdown_to_html",
    "plain_to_html",
    "split_html",
    "visible_length",
]

#: Telegram's limit for a message text, in UTF-16 code units after entity parsing.
TEXT_LIMIT = 4096
#: Telegram's limit for a media caption, in UTF-16 code units after entity parsing.
CAPTION_LIMIT = 1024

HR_LINE = "———"
BULLET = "•"
_LINK_SCHEMES = ("http", "https", "tg", "mailto")
_LANGUAGE_RE = re.compile(r"[A-Za-z0-9_+-]{1,32}")
_LANGUAGE_DROP_RE = re.compile(r"[^A-Za-z0-9_+-]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMPTY_PAIR_RE = re.compile(r"<(b|i|s|u|tg-spoiler)></\1>")


# --------------------------------------------------------------------------- escaping


def escape(text: str) -> str:
    """Plain text → HTML-safe text: ``&``, ``<`` and ``>`` become entities (the only characters Telegram reserves
    outside attribute values)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain_to_html(text: str) -> str:
    """UI text that is not Markdown (button captions, prompts, user names) → HTML. Only escapes: no formatting is
    interpreted, so a user named ``*bob*`` stays ``*bob*``."""
    return escape(text)


def _escape_attr(value: str) -> str:
    """Attribute value (always written double-quoted) → safe text: also escapes the quote."""
    return escape(value).replace('"', "&quot;")


# --------------------------------------------------------------------------- Markdown parsing


_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x33FF),  # CJK symbols and punctuation, kana, bopomofo, compatibility
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half- and full-width forms
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def _is_punct(ch: str) -> bool:
    return isMdAsciiPunct(ord(ch)) or isPunctChar(ch)


@dataclass(frozen=True)
class _Run:
    """A run of delimiter characters and whether it may open and/or close a span."""

    can_open: bool
    can_close: bool
    length: int


def _scan_delims(state: StateInline, start: int, can_split_word: bool) -> _Run:
    """CommonMark's flanking rules with the CJK-friendly amendment.

    CommonMark refuses to close ``**注意：**这里`` because the run follows punctuation and precedes a letter; Chinese
    is written without spaces, so that rule would leave literal asterisks in most Chinese lessons. Here a CJK
    character on the far side counts like whitespace would for that one test, as proposed by the
    markdown-cjk-friendly specification.
    """
    src, maximum, marker = state.src, state.posMax, state.src[start]
    last = src[start - 1] if start > 0 else " "
    pos = start
    while pos < maximum and src[pos] == marker:
        pos += 1
    following = src[pos] if pos < maximum else " "
    last_punct, next_punct = _is_punct(last), _is_punct(following)
    last_space, next_space = isWhiteSpace(ord(last)), isWhiteSpace(ord(following))
    left = not next_space and (not next_punct or last_space or last_punct or _is_cjk(last))
    right = not last_space and (not last_punct or next_space or next_punct or _is_cjk(following))
    if can_split_word:
        return _Run(left, right, pos - start)
    return _Run(left and (not right or last_punct), right and (not left or next_punct), pos - start)


def _emphasis_rule(state: StateInline, silent: bool) -> bool:
    """``*`` and ``_`` runs (same as markdown-it's rule, with the CJK-friendly scan)."""
    marker = state.src[state.pos]
    if silent or marker not in "*_":
        return False
    run = _scan_delims(state, state.pos, marker == "*")
    for _ in range(run.length):
        token = state.push("text", "", 0)
        token.content = marker
        state.delimiters.append(
            Delimiter(
                marker=ord(marker),
                length=run.length,
                token=len(state.tokens) - 1,
                end=-1,
                open=run.can_open,
                close=run.can_close,
            )
        )
    state.pos += run.length
    return True


def _pair_rule(marker: str) -> Callable[[StateInline, bool], bool]:
    """A rule for a doubled marker such as ``~~`` or ``||`` (markdown-it's strikethrough, generalised)."""

    def rule(state: StateInline, silent: bool) -> bool:
        if silent or state.src[state.pos] != marker:
            return False
        run = _scan_delims(state, state.pos, True)
        length = run.length
        if length < 2:
            return False
        if length % 2:
            state.push("text", "", 0).content = marker
            length -= 1
        for _ in range(length // 2):
            state.push("text", "", 0).content = marker * 2
            state.delimiters.append(
                Delimiter(
                    marker=ord(marker),
                    length=0,
                    token=len(state.tokens) - 1,
                    end=-1,
                    open=run.can_open,
                    close=run.can_close,
                )
            )
        state.pos += run.length
        return True

    return rule


def _pair_post_process(marker: str, name: str, tag: str) -> Callable[[StateInline], None]:
    """Turns matched ``marker`` delimiters into ``{name}_open``/``{name}_close`` tokens."""

    def convert(state: StateInline, delimiters: list[Delimiter]) -> None:
        lone: list[int] = []
        for opener in delimiters:
            if opener.marker != ord(marker) or opener.end == -1:
                continue
            closer = delimiters[opener.end]
            for index, kind in ((opener.token, "open"), (closer.token, "close")):
                token = state.tokens[index]
                token.type, token.tag, token.markup, token.content = f"{name}_{kind}", tag, marker * 2, ""
                token.nesting = 1 if kind == "open" else -1
            previous = state.tokens[closer.token - 1]
            if previous.type == "text" and previous.content == marker:
                lone.append(closer.token - 1)
        # An odd run ("~~~") leaves one marker in front: move it after the closing tags.
        while lone:
            i = lone.pop()
            j = i + 1
            while j < len(state.tokens) and state.tokens[j].type == f"{name}_close":
                j += 1
            j -= 1
            if i != j:
                state.tokens[i], state.tokens[j] = state.tokens[j], state.tokens[i]

    def post_process(state: StateInline) -> None:
        convert(state, state.delimiters)
        for meta in state.tokens_meta:
            if meta and "delimiters" in meta:
                convert(state, meta["delimiters"])

    return post_process


_TERMINATOR_RE = re.compile(r"[\n!#$%&*+\-:<=>@\[\\\]^_`{}~|]")


def _text_rule(state: StateInline, silent: bool) -> bool:
    """markdown-it's plain-text rule, with ``|`` added to the characters it stops at (for ``||spoiler||``)."""
    found = _TERMINATOR_RE.search(state.src, state.pos, state.posMax)
    end = found.start() if found else state.posMax
    if end == state.pos:
        return False
    if not silent:
        state.pending += state.src[state.pos : end]
    state.pos = end
    return True


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    """The shared parser: CommonMark without raw HTML, entities or indented code; with strike and spoiler.

    ``maxNesting`` is high because markdown-it silently drops everything past that depth; a document nested deeper
    than Python's recursion allows falls back to plain escaped text instead (see :func:`markdown_to_html`).
    """
    md = MarkdownIt("commonmark", {"html": False, "maxNesting": 10_000})
    md.disable(["entity", "code", "html_block", "html_inline"])
    md.enable("strikethrough")
    md.inline.ruler.at("text", _text_rule)
    md.inline.ruler.at("emphasis", _emphasis_rule)
    md.inline.ruler.at("strikethrough", _pair_rule("~"))
    md.inline.ruler.after("strikethrough", "spoiler", _pair_rule("|"))
    md.inline.ruler2.at("strikethrough", _pair_post_process("~", "s", "s"))
    md.inline.ruler2.after("strikethrough", "spoiler", _pair_post_process("|", "spoiler", "tg-spoiler"))
    return md


# --------------------------------------------------------------------------- rendering


_INLINE_TAGS = {"strong": "b", "em": "i", "s": "s", "spoiler": "tg-spoiler"}


@dataclass
class _Inline:
    """Inline rendering state: the output so far and the formatting tags currently open (outermost first)."""

    out: list[str] = field(default_factory=list)
    open_tags: list[str] = field(default_factory=list)
    in_link: bool = False


def _link_target(href: str) -> str | None:
    """``href`` if Telegram may link to it (http, https, tg, mailto), else None."""
    scheme, colon, rest = href.partition(":")
    if colon and scheme.lower() in _LINK_SCHEMES and rest.strip("/"):
        return href
    return None


def _display_url(href: str) -> str:
    """A URL as a person reads it: percent-escapes and punycode decoded; data: URLs (long, unreadable) hidden."""
    if href[:5].lower() == "data:":
        return ""
    try:
        return _parser().normalizeLinkText(href)
    except Exception:  # a malformed URL is still shown, just not prettified
        return href


def _plain_text(node: SyntaxTreeNode) -> str:
    """The text of an inline subtree without any formatting (image alt text, text of a link inside a link)."""
    if node.type in ("text", "code_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return "\n"
    return "".join(_plain_text(child) for child in node.children)


def _render_inline(nodes: Sequence[SyntaxTreeNode], state: _Inline) -> None:
    for node in nodes:
        kind = node.type
        if kind == "text":
            state.out.append(escape(node.content))
        elif kind in ("softbreak", "hardbreak"):
            state.out.append("\n")
        elif kind in _INLINE_TAGS:
            _render_format(_INLINE_TAGS[kind], node, state)
        elif kind == "code_inline":
            _render_code(node.content, state)
        elif kind == "link":
            _render_link(node, state)
        elif kind == "image":
            _render_image(node, state)
        else:  # anything unexpected is shown as its text, never as markup
            state.out.append(escape(node.content if not node.children else _plain_text(node)))


def _render_format(tag: str, node: SyntaxTreeNode, state: _Inline) -> None:
    """A formatting span; skipped when the same tag is already open (Telegram does not nest an entity in itself)."""
    if tag in state.open_tags:
        _render_inline(node.children, state)
        return
    state.out.append(f"<{tag}>")
    state.open_tags.append(tag)
    _render_inline(node.children, state)
    state.open_tags.pop()
    state.out.append(f"</{tag}>")


def _render_code(content: str, state: _Inline) -> None:
    """Inline code. Telegram allows code only at the top level (or in a blockquote): open formatting is closed
    around it and reopened after; inside a link it is plain text."""
    if state.in_link:
        state.out.append(escape(content))
        return
    state.out.extend(f"</{tag}>" for tag in reversed(state.open_tags))
    state.out.append(f"<code>{escape(content)}</code>")
    state.out.extend(f"<{tag}>" for tag in state.open_tags)


def _render_link(node: SyntaxTreeNode, state: _Inline) -> None:
    href = str(node.attrs.get("href", ""))
    target = _link_target(href)
    if state.in_link or target is None:
        before = len(state.out)
        _render_inline(node.children, state)
        if node.markup != "autolink" and not state.in_link:
            has_text = bool("".join(state.out[before:]).strip())
            state.out.append(escape(_url_text(href, str(node.attrs.get("title", "")), has_text)))
        return
    state.out.append(f'<a href="{_escape_attr(target)}">')
    state.in_link = True
    before = len(state.out)
    _render_inline(node.children, state)
    if not "".join(state.out[before:]).strip():  # [](url): the URL itself is the text
        state.out.append(escape(_display_url(target)))
    state.in_link = False
    state.out.append("</a>")


def _url_text(href: str, title: str, after_text: bool) -> str:
    """A target Telegram cannot link to, as text: `` (url "title")`` after the link text, so nothing the author
    wrote is lost (bare when there is no link text)."""
    shown = _display_url(href)
    if title:
        shown = f'{shown} "{title}"'.strip()
    if not shown:
        return ""
    return f" ({shown})" if after_text else shown


def _render_image(node: SyntaxTreeNode, state: _Inline) -> None:
    """Images cannot be inlined in a message: a link to the image titled with its alt text."""
    alt = _plain_text(node)
    src = str(node.attrs.get("src", ""))
    target = _link_target(src)
    if state.in_link or target is None:
        shown = "" if state.in_link else _url_text(src, str(node.attrs.get("title", "")), bool(alt.strip()))
        state.out.append(escape(alt + shown))
        return
    label = alt if alt.strip() else _display_url(target)
    state.out.append(f'<a href="{_escape_attr(target)}">{escape(label)}</a>')


def _inline_html(node: SyntaxTreeNode, open_tags: list[str] | None = None) -> str:
    state = _Inline(open_tags=list(open_tags or []))
    _render_inline(node.children, state)
    return "".join(state.out)


@dataclass(frozen=True)
class _Block:
    """Block rendering context: inside a blockquote (Telegram cannot nest them) and list depth (for indent)."""

    in_quote: bool = False
    depth: int = 0


def _render_blocks(nodes: Sequence[SyntaxTreeNode], ctx: _Block, separator: str) -> str:
    parts = (_render_block(node, ctx) for node in nodes)
    return separator.join(part for part in parts if part.strip())


def _render_block(node: SyntaxTreeNode, ctx: _Block) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline_html(node.children[0]) if node.children else ""
    if kind == "heading":
        inner = _inline_html(node.children[0], ["b"]) if node.children else ""
        return f"<b>{inner}</b>" if inner.strip() else ""
    if kind in ("fence", "code_block"):
        return _render_fence(node)
    if kind == "blockquote":
        return _render_quote(node, ctx)
    if kind in ("bullet_list", "ordered_list"):
        return "\n".join(_render_item(item, ctx) for item in node.children)
    if kind == "hr":
        return HR_LINE
    if kind == "inline":
        return _inline_html(node)
    return escape(node.content) if node.content else _render_blocks(node.children, ctx, "\n\n")


def _render_fence(node: SyntaxTreeNode) -> str:
    code = node.content[:-1] if node.content.endswith("\n") else node.content
    if not code.strip():
        return ""
    language = _code_language(node.info)
    if language:
        return f'<pre><code class="language-{language}">{escape(code)}</code></pre>'
    return f"<pre>{escape(code)}</pre>"


def _code_language(info: str) -> str:
    """The fence's language as Telegram takes it: the first word, only ``[A-Za-z0-9_+-]``, at most 32 characters.
    ``c#`` becomes ``csharp`` (the usual highlighter name); an empty result means no language."""
    words = info.split()
    if not words:
        return ""
    word = words[0].lower().replace("#", "sharp")
    word = _LANGUAGE_DROP_RE.sub("", word)[:32]
    return word if _LANGUAGE_RE.fullmatch(word) else ""


def _render_quote(node: SyntaxTreeNode, ctx: _Block) -> str:
    inner = _render_blocks(node.children, _Block(in_quote=True, depth=ctx.depth), "\n\n")
    if ctx.in_quote or not inner.strip():
        return inner
    return f"<blockquote>{inner}</blockquote>"


def _render_item(item: SyntaxTreeNode, ctx: _Block) -> str:
    ordered = item.parent is not None and item.parent.type == "ordered_list"
    marker = f"{item.info}{item.markup}" if ordered else BULLET
    body = _render_blocks(item.children, _Block(in_quote=ctx.in_quote, depth=ctx.depth + 1), "\n")
    return f"{'  ' * ctx.depth}{marker} {body}".rstrip()


def _sanitize(md: str) -> str:
    """Text Telegram would refuse or mangle: lone surrogates (not UTF-8), control characters, ``\\r``, a BOM."""
    text = md.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text).removeprefix("\ufeff")


def _clean(html: str) -> str:
    """Drops formatting pairs left empty (``**`code`**`` closes bold around the code), trims trailing space."""
    previous = None
    while previous != html:
        previous, html = html, _EMPTY_PAIR_RE.sub("", html)
    return html.rstrip()


def markdown_to_html(md: str) -> str:
    """Convert lesson Markdown to Telegram HTML. Never raises; output always valid for Telegram.

    Blocks are separated by a blank line. If the Markdown cannot be rendered (pathologically deep nesting exhausts
    the recursion limit), the whole text is returned escaped, unformatted, rather than failing the send.

    The result is cached (a pure function of the text): a broadcast renders one text for every recipient, and
    parsing it each time cost ~0.2 ms of the ~1 ms a paid send may take.
    """
    if not isinstance(md, str):
        return ""
    return _markdown_to_html(md)


@lru_cache(maxsize=256)
def _markdown_to_html(md: str) -> str:
    text = _sanitize(md)
    try:
        tree = SyntaxTreeNode(_parser().parse(text))
        return _clean(_render_blocks(tree.children, _Block(), "\n\n"))
    except Exception:  # includes RecursionError
        return escape(text).rstrip()


# --------------------------------------------------------------------------- Telegram HTML as a sequence of units


_TAG_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s=>/\"']+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_ENTITY_RE = re.compile(r"&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);?")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_RAW_SPECIALS = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


@dataclass
class _Doc:
    """Telegram HTML split into visible units and the tags between them.

    ``raw[i]`` is how visible character ``text[i]`` is written (``a``, ``&amp;``, ``&#128512;``); ``cum[i]`` is the
    UTF-16 length of the units before ``i``. ``tags[i]`` are the tags written just before unit ``i``
    (``tags[len(text)]``: after the last), each ``(name, raw)``, a closing tag named ``/name``. Units never split an
    entity or a surrogate pair, so any cut between units is safe.
    """

    text: str = ""
    raw: list[str] = field(default_factory=list)
    cum: list[int] = field(default_factory=lambda: [0])
    tags: dict[int, list[tuple[str, str]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.raw)


def _decode_entity(match: re.Match[str]) -> str:
    """The character an entity stands for, as Telegram decodes it; '' if Telegram reads it as a literal ``&``."""
    body = match.group(1)
    if body[0] != "#":
        return _NAMED_ENTITIES.get(body, "")
    value = int(body[2:], 16) if body[1] == "x" else int(body[1:])
    if 0 < value < 0x10FFFF and len(match.group(0).rstrip(";")) < 10:
        return chr(value)
    return ""


def _next_unit(html: str, i: int) -> tuple[str, str, int]:
    """The visible character at ``html[i]`` (not a tag): ``(raw, character, characters consumed)``."""
    ch = html[i]
    if ch == "&" and (entity := _ENTITY_RE.match(html, i)) and (decoded := _decode_entity(entity)):
        return entity.group(0), decoded, entity.end() - i
    return _RAW_SPECIALS.get(ch, ch), ch, 1


def _parse_html(html: str) -> _Doc:
    """Tokenizes Telegram HTML. Lenient: a stray ``<``, ``>`` or ``&`` becomes an escaped literal character."""
    chars: list[str] = []
    doc = _Doc()
    i, size = 0, len(html)
    while i < size:
        if html[i] == "<" and (tag := _TAG_RE.match(html, i)):
            name = ("/" if tag.group(1) else "") + tag.group(2).lower()
            doc.tags.setdefault(len(chars), []).append((name, tag.group(0)))
            i = tag.end()
            continue
        raw, visible, consumed = _next_unit(html, i)
        chars.append(visible)
        doc.raw.append(raw)
        doc.cum.append(doc.cum[-1] + (2 if ord(visible) > 0xFFFF else 1))
        i += consumed
    doc.text = "".join(chars)
    return doc


def visible_length(html: str) -> int:
    """Length Telegram counts: text after entity parsing, in UTF-16 code units (a non-BMP emoji counts 2)."""
    return _parse_html(html).cum[-1]


# --------------------------------------------------------------------------- choosing where to cut


_SENTENCE_ENDS = ".!?。！？；"
_CJK_SENTENCE_ENDS = "。！？；"
_CLOSERS = "\"')]}”’」』）】》〉"
_NO_CUT_BEFORE_RANGES: tuple[tuple[int, int], ...] = (
    (0x200D, 0x200D),  # zero-width joiner
    (0x20E3, 0x20E3),  # combining enclosing keycap
    (0xFE00, 0xFE0F),  # variation selectors
    (0x1F3FB, 0x1F3FF),  # skin-tone modifiers
    (0xE0020, 0xE007F),  # tag characters (flag sequences)
)


def _gap(text: str, k: int, start: int) -> str:
    """The whitespace around the gap before unit ``k`` (chunk ends trim it, so any ``k`` in it cuts alike)."""
    left, right = k, k
    while left > start and text[left - 1].isspace():
        left -= 1
    while right < len(text) and text[right].isspace():
        right += 1
    return text[left:right]


def _is_paragraph_cut(text: str, k: int, start: int) -> bool:
    return "\n" in text[k - 1 : k + 1] and _gap(text, k, start).count("\n") >= 2


def _is_line_cut(text: str, k: int, start: int) -> bool:
    return "\n" in text[k - 1 : k + 1]


def _is_sentence_cut(text: str, k: int, start: int) -> bool:
    following = text[k] if k < len(text) else " "
    if following in _CLOSERS or following in _SENTENCE_ENDS:
        return False
    j = k - 1
    while j > start and text[j] in _CLOSERS:
        j -= 1
    if text[j] in _CJK_SENTENCE_ENDS:
        return True
    return text[j] in _SENTENCE_ENDS and following.isspace()


def _is_space_cut(text: str, k: int, start: int) -> bool:
    return text[k - 1].isspace() or (k < len(text) and text[k].isspace())


def _is_grapheme_cut(text: str, k: int, start: int) -> bool:
    """False where a cut would tear a user-perceived character (emoji sequence, combining mark) apart."""
    code = ord(text[k])
    if text[k - 1] == "\u200d" or unicodedata.combining(text[k]):
        return False
    return not any(low <= code <= high for low, high in _NO_CUT_BEFORE_RANGES)


_PREFERENCES: tuple[Callable[[str, int, int], bool], ...] = (
    _is_paragraph_cut,
    _is_line_cut,
    _is_sentence_cut,
    _is_space_cut,
)


def _choose_cut(doc: _Doc, start: int, limit: int) -> int:
    """Where the chunk starting at unit ``start`` ends: the largest index ``k`` with units ``start..k-1`` within
    ``limit``, moved back to the best boundary (paragraph, line, sentence, space) that still leaves the chunk at
    least a quarter of the limit long, else a hard cut that keeps emoji sequences whole."""
    end = bisect.bisect_right(doc.cum, doc.cum[start] + limit) - 1
    if end >= len(doc):
        return len(doc)
    floor = bisect.bisect_left(doc.cum, doc.cum[start] + limit // 4)
    floor = max(floor, start + 1)
    for is_cut in _PREFERENCES:
        for k in range(end, floor - 1, -1):
            if is_cut(doc.text, k, start):
                return k
    for k in range(end, start, -1):
        if _is_grapheme_cut(doc.text, k, start):
            return k
    return end


# --------------------------------------------------------------------------- building chunks


@dataclass
class _Stack:
    """The tags open at a position, replayed forward through the document (chunks are built in order)."""

    doc: _Doc
    position: int = -1
    open: list[tuple[str, str]] = field(default_factory=list)

    def advance(self, to: int) -> list[str]:
        """Passes the tags written before units ``position+1 .. to``, returning them as written."""
        passed: list[str] = []
        for position in range(self.position + 1, to + 1):
            for name, raw in self.doc.tags.get(position, ()):
                passed.append(raw)
                self._apply(name, raw)
        self.position = max(self.position, to)
        return passed

    def _apply(self, name: str, raw: str) -> None:
        if not name.startswith("/"):
            self.open.append((name, raw))
            return
        names = [open_name for open_name, _ in self.open]
        if name[1:] in names:  # tolerant of a stray end tag: pop up to the matching start tag, if any
            del self.open[len(names) - 1 - names[::-1].index(name[1:]) :]


def _chunk(doc: _Doc, stack: _Stack, start: int, stop: int) -> str:
    """Units ``start..stop-1`` as HTML: the tags open at ``start`` reopened, the ones open at the end closed."""
    stack.advance(start)
    parts = [raw for _, raw in stack.open]
    for index in range(start, stop):
        if index > start:
            parts.extend(stack.advance(index))
        parts.append(doc.raw[index])
    parts.extend(f"</{name}>" for name, _ in reversed(stack.open))
    return "".join(parts)


def _skip_space(doc: _Doc, index: int) -> int:
    while index < len(doc) and doc.text[index].isspace():
        index += 1
    return index


def _trim_end(doc: _Doc, start: int, stop: int) -> int:
    while stop > start and doc.text[stop - 1].isspace():
        stop -= 1
    return stop


def _check_limit(limit: int) -> None:
    if limit < 2:
        raise ValueError("limit must be at least 2 (a character outside the BMP counts 2)")


_ANY_TAG_RE = re.compile(r"<[^>]*>")


def _short_enough(html: str, limit: int) -> list[str] | None:
    """The common case, without parsing: markup only ever shrinks when Telegram parses it, so HTML
    whose raw UTF-16 length is within ``limit`` is one message as it is (None: take the slow path)."""
    text = html.strip()
    if len(text) * 2 > limit and len(text.encode("utf-16-le")) // 2 > limit:
        return None
    if "<" in text and not _ANY_TAG_RE.sub("", text).strip():
        return None  # only tags: let the full parser decide what is visible
    return [text] if text else []


def split_html(html: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split valid Telegram HTML into chunks each of visible_length <= limit, each itself valid HTML:
    prefer paragraph boundaries (blank line), then line breaks, then sentence ends (. ! ? 。！？；), then spaces,
    then a hard cut (never inside an entity like &amp; or a surrogate pair); tags open at a cut are closed at the end of
    the chunk and re-opened at the start of the next (pre/code blocks continue as pre/code). No chunk is empty or
    whitespace-only.

    Whitespace at a cut (and around the whole text) is dropped: Telegram trims it from a message anyway. A boundary
    is only taken if the chunk stays at least a quarter of ``limit`` long, so a short first paragraph is not sent
    alone. Empty or whitespace-only input gives ``[]``. Raises ValueError if ``limit`` < 2.
    """
    _check_limit(limit)
    short = _short_enough(html, limit)
    if short is not None:
        return short
    doc = _parse_html(html)
    stack = _Stack(doc)
    chunks: list[str] = []
    start = _skip_space(doc, 0)
    while start < len(doc):
        cut = _choose_cut(doc, start, limit)
        stop = _trim_end(doc, start, cut)
        chunks.append(_chunk(doc, stack, start, stop))
        start = _skip_space(doc, cut)
    return chunks


def caption_and_rest(html: str, limit: int = CAPTION_LIMIT) -> tuple[str, str]:
    """For media with a long caption: the first part (<= limit visible) for the caption, the rest ('' if none) to
    send as following text message(s).

    The cut is chosen as in :func:`split_html`; the rest is one valid HTML string of any length, for the caller to
    pass through :func:`split_html`. Raises ValueError if ``limit`` < 2.
    """
    _check_limit(limit)
    doc = _parse_html(html)
    stack = _Stack(doc)
    start = _skip_space(doc, 0)
    if start >= len(doc):
        return "", ""
    cut = _choose_cut(doc, start, limit)
    caption = _chunk(doc, stack, start, _trim_end(doc, start, cut))
    rest_start = _skip_space(doc, cut)
    if rest_start >= len(doc):
        return caption, ""
    return caption, _chunk(doc, stack, rest_start, _trim_end(doc, rest_start, len(doc)))
