"""Neutral replies as WeChat messages: numbered options, 2048-byte splitting, Markdown to plain text."""

from __future__ import annotations

from bots.wechat.render import lesson_text, render, split_text
from core.catalog import MediaKind
from core.i18n import translator
from core.money import Money
from core.replies import Button, InvoiceReply, MediaReply, TextReply

zh = translator("zh")


def test_buttons_become_numbered_options_across_the_batch() -> None:
    out = render(
        [
            TextReply("目录", ((Button("课程 A", "c:a"), Button("课程 B", "c:b")),)),
            TextReply("更多", ((Button("帮助", "help"), Button("分享", url="https://example.com/s?a=1&b=2")),)),
        ],
        zh,
    )
    assert out.options == {"1": "c:a", "2": "c:b", "3": "help"}
    assert "回复 1：课程 A" in out.messages[0].text and "回复 3：帮助" in out.messages[1].text
    assert '<a href="https://example.com/s?a=1&amp;b=2">分享</a>' in out.messages[1].text


def test_hidden_actions_are_not_offered() -> None:
    out = render([TextReply("x", ((Button("买", "buy:a"), Button("看", "c:a")),))], zh, hide_actions=frozenset({"buy"}))
    assert out.options == {"1": "c:a"}


def test_long_chinese_text_is_split_within_2048_bytes_at_sentence_ends() -> None:
    sentence = "这是一个用于测试的很长的句子，里面有很多汉字。"
    text = sentence * 200
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(p.encode()) <= 2048 for p in pieces)
    assert all(p.endswith("。") for p in pieces)
    assert "".join(pieces) == text


def test_splitting_prefers_paragraphs_and_never_cuts_a_link() -> None:
    para = "第一段。" * 100
    link = '<a href="https://example.com/very/long/link">' + "链接文字" * 5 + "</a>"
    text = f"{para}\n\n{para}{link}{para}"
    pieces = split_text(text, 1200)
    assert all(len(p.encode()) <= 1200 for p in pieces)
    assert any(link in p for p in pieces)


def test_markdown_lesson_keeps_links_and_drops_marks() -> None:
    text = lesson_text("# 标题\n\n**加粗** 和 *斜体*，见 [文档](https://docs.python.org)。\n\n- 一\n- 二\n\n<b>raw</b>")
    assert "**" not in text and "*斜体*" not in text
    assert '<a href="https://docs.python.org">文档</a>' in text
    assert "• 一" in text
    assert "<b>raw</b>" in text  # raw HTML from an author is shown as typed, never interpreted


def test_media_kinds_and_invoices() -> None:
    out = render(
        [
            MediaReply(MediaKind.PHOTO, "/x.png", "a" * 64, caption="图"),
            MediaReply(MediaKind.DOCUMENT, "/x.pdf", "b" * 64, caption="讲义"),
            InvoiceReply("abcdefgh12", "课程", "说明", Money(9900, "CNY"), buttons=((Button("取消", "cancel:x"),),)),
        ],
        zh,
    )
    kinds = [m.kind for m in out.messages]
    assert kinds == ["image", "text", "text", "invoice", "text"]
    assert "讲义" in out.messages[2].text and "无法在微信中显示" in out.messages[2].text
    assert [m.source for m in out.messages] == [0, 0, 1, 2, 2]


def test_a_photo_with_buttons_is_the_image_then_its_caption_with_numbered_options() -> None:
    photo = MediaReply(
        MediaKind.PHOTO,
        "/sale.png",
        "c" * 64,
        caption="**春季特惠** 全场 8 折",
        buttons=((Button("打开课程", "c:python-101"), Button("官网", url="https://example.com")),),
        markdown=True,
    )
    out = render([photo, TextReply("选择受众", ((Button("所有人", "bq:a0"),),))], zh)
    assert [m.kind for m in out.messages] == ["image", "text", "text"]
    assert out.messages[0].media == photo
    caption = out.messages[1].text
    assert caption.startswith("春季特惠 全场 8 折") and "**" not in caption
    assert "回复 1：打开课程" in caption and '<a href="https://example.com">官网</a>' in caption
    assert out.options == {"1": "c:python-101", "2": "bq:a0"}  # numbered across the batch
    no_caption = render([MediaReply(MediaKind.PHOTO, "/p.png", "d" * 64, markdown=True)], zh)
    assert [m.kind for m in no_caption.messages] == ["image"]
