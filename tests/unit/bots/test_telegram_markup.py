"""Lesson Markdown → Telegram HTML, and splitting it into messages Telegram accepts.

Every output is checked by ``validate`` below, a strict re-implementation of Telegram's HTML rules written from the
Bot API documentation (not from the renderer), so a renderer bug that would make Telegram reject a lesson fails
here. Hypothesis feeds both the renderer and the splitter hostile random text.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bots.telegram.markup import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    caption_and_rest,
    escape,
    markdown_to_html,
    plain_to_html,
    split_html,
    visible_length,
)

# --------------------------------------------------------------------------- a strict Telegram HTML validator

#: tag → the Telegram entity it makes (tags of one kind may not nest in each other) and its allowed attributes.
TAGS: dict[str, tuple[str, frozenset[str]]] = {
    "b": ("bold", frozenset()),
    "strong": ("bold", frozenset()),
    "i": ("italic", frozenset()),
    "em": ("italic", frozenset()),
    "u": ("underline", frozenset()),
    "ins": ("underline", frozenset()),
    "s": ("strike", frozenset()),
    "strike": ("strike", frozenset()),
    "del": ("strike", frozenset()),
    "tg-spoiler": ("spoiler", frozenset()),
    "span": ("spoiler", frozenset({"class"})),
    "a": ("link", frozenset({"href"})),
    "code": ("code", frozenset({"class"})),
    "pre": ("pre", frozenset()),
    "blockquote": ("quote", frozenset({"expandable"})),
    "tg-emoji": ("emoji", frozenset({"emoji-id"})),
}
ENTITY = r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});"
TOKEN_RE = re.compile(
    rf"(?P<tag><(?P<close>/?)(?P<name>[a-z][a-z-]*)(?P<attrs>(?:\s+[a-z-]+(?:=\"[^\"<>]*\")?)*)>)"
    rf"|(?P<entity>{ENTITY})|(?P<stray>[<>&])|(?P<text>[^<>&]+)"
)
ATTR_RE = re.compile(r'\s+([a-z-]+)(?:="([^"<>]*)")?')


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Parsed:
    text: str = ""
    hrefs: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass
class _Open:
    name: str
    kind: str
    children: int = 0
    sealed: bool = False  # a <pre> whose <code> has closed: nothing more may follow


def _check_attrs(name: str, attrs: str) -> dict[str, str]:
    assert name in TAGS, f"unsupported tag <{name}>"
    found = {key: value or "" for key, value in ATTR_RE.findall(attrs)}
    assert set(found) <= TAGS[name][1], f"attributes {sorted(found)} not allowed on <{name}>"
    for value in found.values():
        assert re.fullmatch(rf"(?:[^&]|{ENTITY})*", value), f"bad & in attribute value {value!r}"
    if name == "a":
        assert "href" in found, "<a> without href"
    if name == "span":
        assert found.get("class") == "tg-spoiler", "span must be class=tg-spoiler"
    if name == "code" and "class" in found:
        assert re.fullmatch(r"language-[A-Za-z0-9_+-]{1,32}", found["class"]), found["class"]
    return {key: html_lib.unescape(value) for key, value in found.items()}


def _open_tag(stack: list[_Open], name: str, attrs: dict[str, str]) -> None:
    assert name in TAGS, f"unsupported tag <{name}>"
    kind = TAGS[name][0]
    if stack:
        stack[-1].children += 1
    parent = stack[-1] if stack else None
    if parent is not None and parent.kind in ("code", "pre"):
        assert parent.kind == "pre" and kind == "code" and parent.children == 1 and not parent.sealed, (
            f"<{name}> inside <{parent.name}>"
        )
    elif name == "code" and "class" in attrs:
        raise AssertionError("code with a language outside pre")
    assert kind not in {o.kind for o in stack}, f"<{name}> nested in another {kind} entity"
    if kind in ("code", "pre"):
        outer = {o.kind for o in stack} - {"quote", "pre"}
        assert not outer, f"<{name}> inside {sorted(outer)}: code/pre may only be inside a blockquote"
    stack.append(_Open(name, kind))


def validate(html: str) -> Parsed:
    """Asserts ``html`` is valid Telegram HTML; returns its visible text, link targets and tags."""
    parsed = Parsed()
    stack: list[_Open] = []
    pieces: list[str] = []
    for match in TOKEN_RE.finditer(html):
        assert match.group("stray") is None, f"unescaped {match.group('stray')!r} at {match.start()}: {html!r}"
        if match.group("tag") is None:
            if stack:
                assert not stack[-1].sealed, "text after </code> inside <pre>"
                stack[-1].children += 1
            pieces.append(html_lib.unescape(match.group(0)))
            continue
        name = match.group("name")
        if match.group("close"):
            assert stack and stack[-1].name == name, f"unexpected </{name}> in {html!r}"
            closed = stack.pop()
            if closed.kind == "code" and stack and stack[-1].kind == "pre":
                stack[-1].sealed = True
            continue
        attrs = _check_attrs(name, match.group("attrs"))
        _open_tag(stack, name, attrs)
        parsed.tags.append(name)
        if name == "a":
            parsed.hrefs.append(attrs["href"])
    assert not stack, f"unclosed {[o.name for o in stack]} in {html!r}"
    parsed.text = "".join(pieces)
    return parsed


def test_validator_rejects_what_telegram_rejects() -> None:
    """The validator itself must be able to fail, or every test built on it proves nothing."""
    bad = [
        "a < b",
        "a & b",
        "&nbsp;",
        "<br>",
        "<b>x",
        "<b><i>x</b></i>",
        "<a>x</a>",
        '<a href="x"><a href="y">z</a></a>',
        "<code><b>x</b></code>",
        "<pre><i>x</i></pre>",
        "<b><code>x</code></b>",
        "<blockquote><blockquote>x</blockquote></blockquote>",
        '<span class="x">y</span>',
        '<a href="x" onclick="y">z</a>',
        "<b><strong>x</strong></b>",
        '<code class="language-py">x</code>',
        '<code class="language-a b">x</code>',
        "<script>x</script>",
    ]
    for html in bad:
        with pytest.raises(AssertionError):
            validate(html)
    good = (
        '<b>b <i>i</i></b> <a href="https://x?a=1&amp;b=2">l</a> &lt;&#128512;'
        '<pre><code class="language-py">x</code></pre>'
    )
    assert validate(good).text == "b i l <😀x"
    assert validate("<blockquote>q <code>c</code><pre>p</pre></blockquote>").text == "q cp"


# --------------------------------------------------------------------------- markdown_to_html: exact output

CASES: list[tuple[str, str, str]] = [
    ("paragraphs", "one\n\ntwo", "one\n\ntwo"),
    ("soft break kept, no space added", "第一行\n第二行", "第一行\n第二行"),
    ("hard break spaces", "a  \nb", "a\nb"),
    ("hard break backslash", "a\\\nb", "a\nb"),
    ("h1", "# Title", "<b>Title</b>"),
    ("h6", "###### Small", "<b>Small</b>"),
    ("setext", "Title\n===", "<b>Title</b>"),
    ("heading then text", "## 第一章\n正文", "<b>第一章</b>\n\n正文"),
    ("bold in heading not nested", "# **big** deal", "<b>big deal</b>"),
    ("code in heading", "# Use `x`", "<b>Use </b><code>x</code>"),
    ("bold stars", "**b**", "<b>b</b>"),
    ("bold underscores", "__b__", "<b>b</b>"),
    ("italic star", "*i*", "<i>i</i>"),
    ("italic underscore", "_i_", "<i>i</i>"),
    ("bold italic", "***bi***", "<i><b>bi</b></i>"),
    ("snake case literal", "snake_case_name and __init__", "snake_case_name and <b>init</b>"),
    ("intra-word underscores", "foo_bar_baz", "foo_bar_baz"),
    ("strike", "~~gone~~", "<s>gone</s>"),
    ("spoiler", "||secret||", "<tg-spoiler>secret</tg-spoiler>"),
    ("spoiler with bold", "||a **b**||", "<tg-spoiler>a <b>b</b></tg-spoiler>"),
    ("single pipe literal", "a | b", "a | b"),
    ("inline code escaped", "`a<b> && **x**`", "<code>a&lt;b&gt; &amp;&amp; **x**</code>"),
    ("code in bold", "**bold `c` more**", "<b>bold </b><code>c</code><b> more</b>"),
    ("code is all the bold", "**`c`**", "<code>c</code>"),
    ("CJK bold after punctuation", "**注意：**这里很重要。", "<b>注意：</b>这里很重要。"),
    ("CJK bold quotes", "这是**“重点”**之后", "这是<b>“重点”</b>之后"),
    ("CJK italic", "中文*斜体*文字", "中文<i>斜体</i>文字"),
    (
        "fence with language",
        "```python\nif a < b:\n    pass\n```",
        '<pre><code class="language-python">if a &lt; b:\n    pass</code></pre>',
    ),
    ("fence without language", "```\nx & y\n```", "<pre>x &amp; y</pre>"),
    ("tilde fence", "~~~js\n1\n~~~", '<pre><code class="language-js">1</code></pre>'),
    ("fence c#", "```c#\nx\n```", '<pre><code class="language-csharp">x</code></pre>'),
    ("fence language sanitized", '```py"><b>\nx\n```', '<pre><code class="language-pyb">x</code></pre>'),
    ("fence language non-latin", "```中文\nx\n```", "<pre>x</pre>"),
    (
        "fence language too long",
        "```" + "a" * 40 + "\nx\n```",
        f'<pre><code class="language-{"a" * 32}">x</code></pre>',
    ),
    ("fence keeps markdown literal", "```\n**not bold** <i>\n```", "<pre>**not bold** &lt;i&gt;</pre>"),
    ("unclosed fence runs to the end", "```\ncode\n\nmore", "<pre>code\n\nmore</pre>"),
    ("empty fence dropped", "```\n```\n\nafter", "after"),
    ("indented text is prose", "    not code", "not code"),
    ("blockquote", "> quoted\n> lines", "<blockquote>quoted\nlines</blockquote>"),
    ("nested blockquote flattened", "> a\n> > b", "<blockquote>a\n\nb</blockquote>"),
    ("code in blockquote", "> ```\n> x\n> ```", "<blockquote><pre>x</pre></blockquote>"),
    ("bullets", "- a\n* b\n+ c", "• a\n\n• b\n\n• c"),
    ("bullet list", "- a\n- b", "• a\n• b"),
    ("nested list", "- a\n  - b\n- c", "• a\n  • b\n• c"),
    ("ordered keeps numbers", "3. three\n4. four", "3. three\n4. four"),
    ("ordered paren", "1) one", "1) one"),
    ("list with formatting", "- **b** `c`", "• <b>b</b> <code>c</code>"),
    ("link https", "[site](https://example.com/a?x=1&y=2)", '<a href="https://example.com/a?x=1&amp;y=2">site</a>'),
    ("link http", "[s](http://e.com)", '<a href="http://e.com">s</a>'),
    ("link tg", "[me](tg://resolve?domain=bot)", '<a href="tg://resolve?domain=bot">me</a>'),
    ("link mailto", "[mail](mailto:a@b.cn)", '<a href="mailto:a@b.cn">mail</a>'),
    ("href quotes encoded", '[q](https://e.com/"x")', '<a href="https://e.com/%22x%22">q</a>'),
    ("link with bold text", "[**b**](https://e.com)", '<a href="https://e.com"><b>b</b></a>'),
    ("code inside link is text", "[`x`](https://e.com)", '<a href="https://e.com">x</a>'),
    ("link inside bold", "**[a](https://e.com)**", '<b><a href="https://e.com">a</a></b>'),
    ("empty link text shows url", "[](https://e.com)", '<a href="https://e.com">https://e.com</a>'),
    ("non-ascii link", "[链接](https://e.com/路径)", '<a href="https://e.com/%E8%B7%AF%E5%BE%84">链接</a>'),
    ("javascript never a link", "[x](javascript:alert(1))", "[x](javascript:alert(1))"),
    ("ftp shown as text", "[file](ftp://e.com/f)", "file (ftp://e.com/f)"),
    ("relative shown as text", "[下一课](lesson-2.md)", "下一课 (lesson-2.md)"),
    ("relative with title", '[a](b "c")', 'a (b "c")'),
    ("autolink", "<https://e.com/x>", '<a href="https://e.com/x">https://e.com/x</a>'),
    ("email autolink", "<a@b.cn>", '<a href="mailto:a@b.cn">a@b.cn</a>'),
    ("image", "![diagram](https://e.com/d.png)", '<a href="https://e.com/d.png">diagram</a>'),
    ("image without alt", "![](https://e.com/d.png)", '<a href="https://e.com/d.png">https://e.com/d.png</a>'),
    ("image relative", "![pic](img/p.png)", "pic (img/p.png)"),
    ("image data url hidden", "![pic](data:image/png;base64,AAAA)", "pic"),
    ("image in link", "[![badge](https://e.com/b.svg)](https://e.com)", '<a href="https://e.com">badge</a>'),
    ("reference link", "[a][r]\n\n[r]: https://e.com", '<a href="https://e.com">a</a>'),
    ("hr", "a\n\n---\n\nb", "a\n\n———\n\nb"),
    ("hr stars", "***", "———"),
    ("backslash escapes", r"\*not\* \_x\_ \# \[a\]", "*not* _x_ # [a]"),
    ("backslash before letter kept", r"C:\path\to", r"C:\path\to"),
    (
        "raw html escaped",
        "<b>x</b> <script>alert(1)</script>",
        "&lt;b&gt;x&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;",
    ),
    ("html block escaped", "<div>\nhi\n</div>", "&lt;div&gt;\nhi\n&lt;/div&gt;"),
    ("entities literal", "&amp; &lt; &#65; &copy;", "&amp;amp; &amp;lt; &amp;#65; &amp;copy;"),
    ("comparison", "a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
    ("mixed hostile", "5 * 3 _x_ [x](javascript:alert(1))", "5 * 3 <i>x</i> [x](javascript:alert(1))"),
    ("unbalanced bold", "**open and never closed", "**open and never closed"),
    ("unbalanced mix", "**a *b** c*", "<i>a b c</i>"),  # CommonMark: em(em(a em(b)) c)
    ("crlf", "a\r\nb\r\n\r\nc", "a\nb\n\nc"),
    ("zero-width kept", "a\u200bb\u200dc", "a\u200bb\u200dc"),
    ("controls dropped", "a\x00b\x07c\x1b", "abc"),
    ("bom dropped", "\ufeffhi", "hi"),
    ("lone surrogate replaced", "a\ud800b", "a\ufffdb"),
    ("emoji", "学习 🚀 **加油** 👍🏽", "学习 🚀 <b>加油</b> 👍🏽"),
    ("trailing whitespace trimmed", "text   \n\n\n", "text"),
    ("empty", "", ""),
    ("whitespace only", "  \n\n \t", ""),
]


@pytest.mark.parametrize(("md", "expected"), [(md, exp) for _, md, exp in CASES], ids=[c[0] for c in CASES])
def test_markdown_construct(md: str, expected: str) -> None:
    html = markdown_to_html(md)
    assert html == expected
    validate(html)


def test_non_string_input_gives_empty_output() -> None:
    assert markdown_to_html(None) == ""  # type: ignore[arg-type]


HOSTILE = [
    "<script>alert('x')</script>",
    "a < b && c > d",
    "5 * 3 _x_ [x](javascript:alert(1))",
    "**unbalanced `code **bold` _x",
    "\\\\\\*\\",
    "&amp;&lt;&#x27;&#0;&#99999999;&",
    "[a](<javascript:x>) [b](vbscript:x) [c](file:///etc/passwd) [d](data:text/html,<b>)",
    '[x](https://e.com/"onmouseover="alert(1)) [y](https://e.com/<b>)',
    "[**[nested](https://a.com)**](https://b.com)",
    "[a `b` <https://c.com>](https://d.com)",
    "```\n<b>unclosed",
    "> > > > > deep\n> > > > > quote with ```code```",
    "- > quote in list\n  ```\n  code in list\n  ```",
    "~~~~~ ~~ ~ ||||| | |||x|| ***** ___ _",
    "# # ## ###### ####### heading",
    "\u200b\u200c\u200d\u2060\ufeff zero width \u202e rtl",
    "line\r\nwith\rcarriage\r\n\r\nreturns",
    ">" * 5000 + " very deep",
    "- " * 500 + "deep list",
    "[" * 3000 + "x" + "]" * 3000,
    "**" * 3000,
    "`" * 999 + "x",
    "😀" * 100 + "**😀**" + "||😀||",
    "[x](https://e.com/" + "a" * 5000 + ")",
]


@pytest.mark.parametrize("md", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_gives_valid_html(md: str) -> None:
    html = markdown_to_html(md)
    parsed = validate(html)
    for href in parsed.hrefs:
        assert href.split(":")[0].lower() in ("http", "https", "tg", "mailto")


def test_deep_nesting_falls_back_to_plain_text() -> None:
    md = ">" * 5000 + " very deep **x**"
    assert markdown_to_html(md) == escape(md)


# --------------------------------------------------------------------------- property: valid, nothing lost

LETTERS = "aZq9中文字é"
ALPHABET = LETTERS + "<>&*_`[]()~|#>-\\\n \t.!。！？;'\"/=+😀👍🏽"
# A fence may open inside block quotes and list items too ("> ~~~9": language "9").
FENCE_INFO_RE = re.compile(r"^(?:[ \t>]|[-*+] |\d+[.)] )*(?:`{3,}|~{3,})(.*)$", re.M)


def _alnum(text: str) -> list[str]:
    return [ch for ch in text if ch.isalnum()]


def _is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    rest = iter(haystack)
    return all(ch in rest for ch in needle)


markdownish = st.text(alphabet=ALPHABET, max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdownish)
@example("[a](b (c))")
@example("```aZ q\nx\n```")
@example("***a**b*c_d_e__f__")
@example(">~~~9")
@example("\t~~~9")
def test_any_text_renders_valid_html_and_keeps_every_letter(md: str) -> None:
    html = markdown_to_html(md)
    parsed = validate(html)
    # a fence's info string (language) is consumed; everything else the author typed must stay visible, in order
    expected = _alnum(FENCE_INFO_RE.sub("", md))
    assert _is_subsequence(expected, _alnum(parsed.text)), (md, html)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markdownish, st.integers(min_value=2, max_value=60))
def test_any_rendered_text_splits_into_valid_chunks(md: str, limit: int) -> None:
    html = markdown_to_html(md)
    assert_good_split(html, split_html(html, limit), limit)


# --------------------------------------------------------------------------- visible_length and escaping


def test_escape_and_plain_to_html() -> None:
    assert escape("<a href='x'>&amp;</a>") == "&lt;a href='x'&gt;&amp;amp;&lt;/a&gt;"
    assert plain_to_html("*bob* <3 & co") == "*bob* &lt;3 &amp; co"
    assert escape('"') == '"'


@pytest.mark.parametrize(
    ("html", "length"),
    [
        ("", 0),
        ("abc", 3),
        ("<b>ab</b>", 2),
        ("&amp;&lt;&gt;&quot;", 4),
        ("&#128512;", 2),
        ("&#x41;", 1),
        ("😀", 2),
        ("👍🏽", 4),
        ("中文", 2),
        ('<a href="https://e.com/long">x</a>', 1),
        ('<pre><code class="language-py">x\ny</code></pre>', 3),
    ],
)
def test_visible_length_counts_utf16_after_parsing(html: str, length: int) -> None:
    assert visible_length(html) == length


def test_visible_length_matches_independent_count() -> None:
    html = markdown_to_html("**你好** 😀 [link](https://e.com) & `a<b`\n\n> quote 👍🏽")
    assert visible_length(html) == utf16_len(validate(html).text)


# --------------------------------------------------------------------------- split_html


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_good_split(html: str, chunks: list[str], limit: int) -> list[str]:
    """Each chunk valid, non-blank and within the limit; together they show exactly the original text."""
    texts = []
    for chunk in chunks:
        text = validate(chunk).text
        assert text.strip(), f"blank chunk {chunk!r}"
        assert utf16_len(text) <= limit, (limit, chunk)
        assert visible_length(chunk) == utf16_len(text)
        texts.append(text)
    assert _squash("".join(texts)) == _squash(validate(html).text)
    return texts


def test_short_text_is_one_chunk() -> None:
    html = markdown_to_html("# Hi\n\nshort **lesson**")
    assert split_html(html) == [html]


def test_blank_input_gives_no_chunks() -> None:
    assert split_html("") == []
    assert split_html(" \n\n <b> </b>") == []


def test_paragraph_boundaries_preferred() -> None:
    paragraphs = [f"Paragraph {n}. " + "word " * 150 for n in range(12)]
    html = markdown_to_html("\n\n".join(paragraphs))
    chunks = split_html(html)
    texts = assert_good_split(html, chunks, TEXT_LIMIT)
    assert len(chunks) > 1
    for text in texts:
        assert text.startswith("Paragraph") and text.endswith("word"), text[-20:]


def test_long_chinese_paragraph_cut_at_sentence_end() -> None:
    sentence = "这是一个很长的中文句子，用来测试消息的切分是否发生在句号之后。"
    html = markdown_to_html(sentence * 400)
    chunks = split_html(html)
    texts = assert_good_split(html, chunks, TEXT_LIMIT)
    assert len(chunks) >= 3
    assert all(text.endswith("。") for text in texts)
    assert all(visible_length(chunk) > TEXT_LIMIT - len(sentence) for chunk in chunks[:-1])


def test_chinese_paragraphs_cut_between_paragraphs() -> None:
    paragraph = "第一句话。第二句话！第三句话？" * 100
    html = markdown_to_html("\n\n".join([paragraph] * 5))
    texts = assert_good_split(html, split_html(html), TEXT_LIMIT)
    assert all(text == paragraph or text == f"{paragraph}\n\n{paragraph}" for text in texts)


def test_line_breaks_before_sentences() -> None:
    lines = "\n".join(f"line {n} has one. And two." for n in range(300))
    texts = assert_good_split(lines, split_html(lines, 500), 500)
    assert all(re.fullmatch(r"line \d+ has one\. And two\.", t.splitlines()[-1]) for t in texts)


def test_huge_code_block_continues_as_code() -> None:
    code = "\n".join(f"value_{n} = compute({n}, weight=0.5) < limit & flag" for n in range(250))
    assert len(code) > 10_000
    html = markdown_to_html(f"```python\n{code}\n```")
    chunks = split_html(html)
    texts = assert_good_split(html, chunks, TEXT_LIMIT)
    assert len(chunks) == 4
    assert all(visible_length(chunk) > TEXT_LIMIT - 60 for chunk in chunks[:-1])  # full, cut at a line end
    for chunk, text in zip(chunks, texts, strict=True):
        assert chunk.startswith('<pre><code class="language-python">') and chunk.endswith("</code></pre>")
        assert text.startswith("value_") and text.endswith("& flag")  # whole lines


def test_single_huge_word_is_hard_cut_inside_bold() -> None:
    html = "<b>" + "x" * 5000 + "</b>"
    chunks = split_html(html)
    assert chunks == ["<b>" + "x" * 4096 + "</b>", "<b>" + "x" * 904 + "</b>"]


def test_hard_cut_never_splits_entity_or_surrogate_pair() -> None:
    html = "&amp;" * 3000
    chunks = split_html(html, 1000)
    assert chunks == ["&amp;" * 1000] * 3
    emoji = "a" + "😀" * 3000
    texts = assert_good_split(emoji, split_html(emoji), TEXT_LIMIT)
    assert [utf16_len(t) for t in texts] == [4095, 1906]


def test_emoji_sequence_not_torn_at_hard_cut() -> None:
    family = "👨\u200d👩\u200d👧"
    html = "a" * 4090 + family + "b" * 10
    texts = assert_good_split(html, split_html(html), TEXT_LIMIT)
    assert texts[0] == "a" * 4090 and texts[1].startswith(family)
    toned = "x" * 4094 + "👍🏽"
    assert split_html(toned) == ["x" * 4094, "👍🏽"]


def test_tags_reopened_across_cut() -> None:
    html = '<blockquote>quote <a href="https://e.com/?a=1&amp;b=2"><b>one two</b> three</a> four</blockquote>'
    chunks = split_html(html, 10)
    texts = assert_good_split(html, chunks, 10)
    assert chunks[1] == '<blockquote><a href="https://e.com/?a=1&amp;b=2"><b>two</b> three</a></blockquote>'
    assert texts == ["quote one", "two three", "four"]


def test_split_prefers_sentence_to_space() -> None:
    html = "First sentence is here. Second one follows and runs long"
    assert split_html(html, 40) == ["First sentence is here.", "Second one follows and runs long"]


def test_split_rejects_impossible_limit() -> None:
    with pytest.raises(ValueError):
        split_html("abc", 1)


def test_split_repairs_stray_specials() -> None:
    """Input that is not quite valid (a bare < or &) still comes out valid."""
    chunks = split_html("a < b & c > d", 5)
    assert chunks == ["a &lt; b", "&amp; c &gt;", "d"]


html_fragments = st.lists(
    st.sampled_from(
        [
            "word ",
            "词",
            "。",
            ". ",
            "\n",
            "\n\n",
            "&amp;",
            "&lt;",
            "😀",
            "👍🏽",
            "<b>bold text</b>",
            "<i>it <b>bi</b></i>",
            '<a href="https://e.com/?a&amp;b">link text</a>',
            "<code>x &lt; y</code>",
            '<pre><code class="language-py">a = 1\nb = 2\n</code></pre>',
            "<pre>plain\npre</pre>",
            "<blockquote>q <b>b</b>\n\nq2</blockquote>",
            "<tg-spoiler>s</tg-spoiler>",
            "<s>x</s><u>y</u>",
        ]
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(html_fragments, st.integers(min_value=2, max_value=80))
def test_split_any_valid_html(fragments: list[str], limit: int) -> None:
    html = "".join(fragments)
    validate(html)
    assert_good_split(html, split_html(html, limit), limit)


# --------------------------------------------------------------------------- caption_and_rest


def test_short_caption_has_no_rest() -> None:
    assert caption_and_rest("<b>hi</b> there") == ("<b>hi</b> there", "")
    assert caption_and_rest("") == ("", "")


def test_long_caption_cut_with_rest() -> None:
    paragraph = "Sentence number one is here. " * 20
    html = markdown_to_html("\n\n".join([f"**{paragraph.strip()}**"] * 4))
    caption, rest = caption_and_rest(html)
    assert visible_length(caption) <= CAPTION_LIMIT
    assert caption == f"<b>{paragraph.strip()}</b>"
    validate(caption)
    validate(rest)
    assert rest == "\n\n".join([caption] * 3)
    assert _squash(validate(caption).text + validate(rest).text) == _squash(validate(html).text)


def test_caption_cut_inside_formatting_reopens_in_rest() -> None:
    html = "<i>" + "word " * 400 + "</i>"
    caption, rest = caption_and_rest(html, 100)
    assert caption.startswith("<i>") and caption.endswith("</i>") and rest.startswith("<i>word")
    assert visible_length(caption) <= 100
    validate(caption)
    validate(rest)


@settings(max_examples=100, deadline=None)
@given(html_fragments, st.integers(min_value=2, max_value=50))
def test_caption_and_rest_cover_everything(fragments: list[str], limit: int) -> None:
    html = "".join(fragments)
    caption, rest = caption_and_rest(html, limit)
    assert utf16_len(validate(caption).text) <= limit
    assert _squash(validate(caption).text + validate(rest).text) == _squash(validate(html).text)
