"""Telegram entities → our Markdown: what a recipient sees after our own renderer (``markdown_to_html``) must be
the formatting the sender saw, with every character of the text kept."""

from __future__ import annotations

import pytest
from telegram import MessageEntity as E

from bots.telegram.entities import escape_markdown, to_markdown
from bots.telegram.markup import markdown_to_html
from bots.wechat.render import lesson_text


def rendered(text: str, entities: list[E], *, escape: bool = True) -> str:
    return markdown_to_html(to_markdown(text, entities, escape=escape))


@pytest.mark.parametrize(
    ("text", "entities", "html"),
    [
        ("Spring sale: 20% off", [E("bold", 0, 11)], "<b>Spring sale</b>: 20% off"),
        ("an italic word", [E("italic", 3, 6)], "an <i>italic</i> word"),
        ("gone now", [E("strikethrough", 0, 4)], "<s>gone</s> now"),
        ("the end is secret", [E("spoiler", 11, 6)], "the end is <tg-spoiler>secret</tg-spoiler>"),
        ("run pip install x", [E("code", 4, 13)], "run <code>pip install x</code>"),
        ("a `tick` inside", [E("code", 2, 6)], "a <code>`tick`</code> inside"),
        (
            "Try:\nprint(1)\nDone",
            [E("pre", 5, 9, language="python")],
            'Try:\n\n<pre><code class="language-python">print(1)</code></pre>\n\nDone',
        ),
        (
            "read the docs please",
            [E("text_link", 9, 4, url="https://example.com/a_(b)")],
            'read the <a href="https://example.com/a_(b)">docs</a> please',
        ),
        ("bold and italic", [E("bold", 0, 15), E("italic", 9, 6)], "<b>bold and <i>italic</i></b>"),
        ("both rest", [E("italic", 0, 9), E("bold", 0, 4)], "<i><b>both</b> rest</i>"),
        ("ab", [E("bold", 0, 1), E("italic", 1, 1)], "<b>a</b><i>b</i>"),
        ("a quote\nafter", [E("blockquote", 0, 7)], "<blockquote>a quote</blockquote>\n\nafter"),
    ],
    ids=[
        "bold",
        "italic",
        "strike",
        "spoiler",
        "code",
        "code-with-backticks",
        "pre",
        "text-link",
        "nested",
        "same-start",
        "adjacent",
        "blockquote",
    ],
)
def test_formatting_arrives_as_the_sender_saw_it(text: str, entities: list[E], html: str) -> None:
    assert rendered(text, entities) == html


def test_offsets_count_utf16_units_like_telegram() -> None:
    # 😀 is two UTF-16 units: "bold" starts at 3, not 2
    assert rendered("😀 bold 中文 ok", [E("bold", 3, 4), E("italic", 8, 2)]) == "😀 <b>bold</b> <i>中文</i> ok"


def test_spaces_and_punctuation_at_a_span_edge_never_leave_stray_asterisks() -> None:
    assert rendered("Hello world", [E("bold", 0, 6)]) == "<b>Hello</b> world"  # clients often include the space
    assert rendered("Note:here", [E("bold", 0, 5)]) == "<b>Note</b>:here"
    assert rendered("x(y)z", [E("italic", 1, 3)]) == "x(<i>y</i>)z"
    assert rendered("注意：这里", [E("bold", 0, 3)]) == "<b>注意：</b>这里"
    assert rendered("line one\nline two", [E("bold", 0, 17)]) == "<b>line one</b>\n<b>line two</b>"


def test_unknown_entities_are_dropped_and_their_text_kept() -> None:
    text = "underlined @someone #tag https://example.com/x_y $USD"
    entities = [
        E("underline", 0, 10),
        E("mention", 11, 8),
        E("hashtag", 20, 4),
        E("url", 25, 23),
        E("cashtag", 49, 4),
        E("custom_emoji", 0, 1, custom_emoji_id="5368324170671202286"),
    ]
    assert rendered(text, entities) == text


def test_forwarded_text_is_escaped_so_it_reads_exactly_as_it_did() -> None:
    text = "# 1. not a heading\n- not a list\n> not a quote\n2*3*4 = 24, snake_case, [x](y), <b>, ~~no~~, ||no||"
    html = rendered(text, [], escape=True)
    assert html == text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert lesson_text(to_markdown(text, [], escape=True)) == text  # and on WeChat


def test_the_senders_own_text_keeps_what_they_typed_as_markdown() -> None:
    text = "**Sale** today and bold\n[Open the course](course:python-basics)"
    markdown = to_markdown(text, [E("bold", 19, 4)], escape=False)
    assert markdown == "**Sale** today and **bold**\n[Open the course](course:python-basics)"  # button lines intact


def test_a_link_the_app_made_from_a_typed_button_line_is_still_a_button_line() -> None:
    """Telegram Desktop turns a typed ``[Site](https://example.com)`` into a text link: it must come back as typed."""
    text = "News\nSite"
    assert to_markdown(text, [E("text_link", 5, 4, url="https://example.com")], escape=False) == (
        "News\n[Site](https://example.com)"
    )


def test_a_link_label_with_brackets_stays_one_link() -> None:
    assert rendered("see [1] here", [E("text_link", 4, 3, url="https://e.com")], escape=False) == (
        'see <a href="https://e.com">[1]</a> here'
    )


def test_overlapping_entities_are_cut_to_fit_never_lost() -> None:
    assert rendered("abcdef", [E("bold", 0, 4), E("italic", 2, 4)]) == "<b>ab<i>cd</i></b>ef"


def test_no_entities_and_no_text() -> None:
    assert to_markdown("", None, escape=True) == ""
    assert to_markdown("plain", None, escape=False) == "plain"
    assert escape_markdown("a_b", line_start=False) == "a\\_b"
