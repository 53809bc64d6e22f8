"""The fake's Telegram text parsers: HTML (fakes.telegram_html) and MarkdownV2 / Markdown (fakes.telegram_markdown).

They exist so that rendering bugs fail tests the way Telegram would fail them in production.
"""

from __future__ import annotations

import pytest
from fakes.telegram_html import EntityParseError, parse_html, strip_text, utf16_len
from fakes.telegram_markdown import parse_markdown, parse_markdown_v2

# ---------------------------------------------------------------- HTML: what Telegram accepts


def test_plain_text_and_escapes() -> None:
    text, entities = parse_html("Tom &amp; Jerry &lt;3 &gt; &quot;x&quot; &#65;&#x42;")
    assert text == 'Tom & Jerry <3 > "x" AB'
    assert entities == []


def test_entities_have_utf16_offsets() -> None:
    text, entities = parse_html("😀 <b>bold</b> <i>it</i>")
    assert text == "😀 bold it"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 4},  # the emoji counts 2 UTF-16 units
        {"type": "italic", "offset": 8, "length": 2},
    ]


def test_every_supported_tag() -> None:
    html = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike><del>d</del>"
        '<span class="tg-spoiler">p</span><tg-spoiler>q</tg-spoiler><a href="https://example.com/?a=1&amp;b=2">l</a>'
        "<code>c</code><pre>p</pre><blockquote>q</blockquote><blockquote expandable>x</blockquote>"
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    text, entities = parse_html(html)
    assert text == "bsieunskdpqlcpqx👍"
    types = [e["type"] for e in entities]
    assert types == [
        "bold",
        "bold",
        "italic",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "text_link",
        "code",
        "pre",
        "blockquote",
        "expandable_blockquote",
        "custom_emoji",
    ]
    link = next(e for e in entities if e["type"] == "text_link")
    assert link["url"] == "https://example.com/?a=1&b=2"
    emoji = next(e for e in entities if e["type"] == "custom_emoji")
    assert emoji == {"type": "custom_emoji", "offset": 16, "length": 2, "custom_emoji_id": "5368324170671202286"}


def test_pre_with_language_code_becomes_one_pre_entity() -> None:
    text, entities = parse_html('<pre><code class="language-python">print(1)</code></pre>')
    assert text == "print(1)"
    assert entities == [{"type": "pre", "offset": 0, "length": 8, "language": "python"}]


def test_nesting_and_case_insensitive_tags_and_quotes() -> None:
    text, entities = parse_html("<B>bold <I>both</I></B> <a href='tg://user?id=1'>me</a>")
    assert text == "bold both me"
    assert {"type": "italic", "offset": 5, "length": 4} in entities
    assert {"type": "bold", "offset": 0, "length": 9} in entities
    assert {"type": "text_link", "offset": 10, "length": 2, "url": "tg://user?id=1"} in entities


def test_empty_tags_make_no_entity() -> None:
    assert parse_html("a<b></b>c") == ("ac", [])


def test_strip_text_trims_like_telegram_and_shifts_entities() -> None:
    text, entities = parse_html("\n  <b>Title</b>\n\nbody  \n")
    assert strip_text(text, entities) == ("Title\n\nbody", [{"type": "bold", "offset": 0, "length": 5}])


def test_utf16_len() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2
    assert utf16_len("中文") == 2


# ---------------------------------------------------------------- HTML: what Telegram rejects


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("Hi <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 3'),
        ("中 <br>", 'Unsupported start tag "br" at byte offset 4'),  # byte offsets count UTF-8 bytes
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x <", "Unclosed start tag at byte offset 2"),
        ("<a href=https://x.com>x</a>", "Unexpected end of name token at byte offset 13"),
        ('<a href="https://x.com>x</a>', "Unclosed start tag at byte offset 0"),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b =x>y</b>", 'Empty attribute name in the tag "b" at byte offset 0'),
    ],
)
def test_telegram_errors(html: str, message: str) -> None:
    with pytest.raises(EntityParseError) as error:
        parse_html(html)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("html", "fragment"),
    [
        ("Tom & Jerry", "Can't find end of the entity starting at byte offset 4"),
        ("AT&T", "Can't find end of the entity starting at byte offset 2"),
        ("&lt without semicolon", "Can't find end of the entity starting at byte offset 0"),
        ("a &nbsp; b", 'Unknown entity "&nbsp;" at byte offset 2'),
        ("1 > 0", 'Character ">" must be escaped as "&gt;" at byte offset 2'),
        ("<a>no href</a>", 'Tag "a" must have a non-empty attribute "href"'),
        ('<a href="javascript:alert(1)">x</a>', "Wrong URL"),
        ('<a href="https://a.com"><a href="https://b.com">x</a></a>', "Nested links are not allowed"),
        ("<code><b>x</b></code>", 'Tag "b" is not allowed inside "code"'),
        ("<pre><b>x</b></pre>", 'Only one tag "code" is allowed inside "pre"'),
        ("<pre><code>a</code><code>b</code></pre>", 'Only one tag "code" is allowed inside "pre"'),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "Nested blockquotes are not allowed"),
        ("<tg-emoji>x</tg-emoji>", 'Tag "tg-emoji" must have a numeric attribute "emoji-id"'),
    ],
)
def test_strict_errors(html: str, fragment: str) -> None:
    with pytest.raises(EntityParseError) as error:
        parse_html(html)
    assert fragment in str(error.value)


def test_non_strict_mode_follows_tdlib_for_stray_ampersand_and_gt() -> None:
    assert parse_html("AT&T &nbsp; 1 > 0 &lt", strict=False) == ("AT&T &nbsp; 1 > 0 <", [])


# ---------------------------------------------------------------- MarkdownV2


def test_markdown_v2_entities_and_escapes() -> None:
    text, entities = parse_markdown_v2(r"*bold* _it_ __u__ ~s~ ||sp|| `c` [link](https://x.com/a\)b) 1\.5\!")
    assert text == "bold it u s sp c link 1.5!"
    assert [e["type"] for e in entities] == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "text_link",
    ]
    assert entities[-1]["url"] == "https://x.com/a)b"


def test_markdown_v2_pre_with_language_and_blockquote() -> None:
    text, entities = parse_markdown_v2("```python\nprint(1)\n```\n>quoted\n>more\nafter")
    assert text == "print(1)\n\nquoted\nmore\nafter"
    assert {"type": "pre", "offset": 0, "length": 9, "language": "python"} in entities
    assert {"type": "blockquote", "offset": 10, "length": 11} in entities


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Price: 10.5", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("Hello!", "Character '!' is reserved and must be escaped with the preceding '\\'"),
        ("a-b", "Character '-' is reserved and must be escaped with the preceding '\\'"),
        ("(x)", "Character '(' is reserved and must be escaped with the preceding '\\'"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("ok _it", "Can't find end of Italic entity at byte offset 3"),
        ("[x](https://x.com", "Can't find end of a URL at byte offset 4"),
    ],
)
def test_markdown_v2_errors(text: str, message: str) -> None:
    with pytest.raises(EntityParseError) as error:
        parse_markdown_v2(text)
    assert str(error.value) == message


def test_markdown_v2_code_only_reserves_backtick() -> None:
    assert parse_markdown_v2("`a.b-c!`") == ("a.b-c!", [{"type": "code", "offset": 0, "length": 6}])


def test_legacy_markdown() -> None:
    text, entities = parse_markdown("*b* _i_ `c` [l](https://x.com) 1.5!")
    assert text == "b i c l 1.5!"
    assert [e["type"] for e in entities] == ["bold", "italic", "code", "text_link"]
    with pytest.raises(EntityParseError, match="Can't find end of the entity starting at byte offset 0"):
        parse_markdown("*open")
