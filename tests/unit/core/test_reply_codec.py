"""The reply codec (core.reply_codec): replies become JSON-safe data and come back equal;
anything the codec did not write is refused with a ValueError saying where."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.catalog import MediaKind
from core.money import CURRENCY_EXPONENTS, Money
from core.replies import Button, CheckoutAnswer, InvoiceReply, MediaReply, Reply, TextReply
from core.reply_codec import decode, encode

LESSON = TextReply(
    "## 第一课：变量\n\n欢迎来到《Python 入门》！变量是一个*名字*。",
    buttons=(
        (Button("✅ 完成", action="done:42"), Button("下一课 ▶", action="n:python-101")),
        (Button("加入社群", url="https://t.me/+AbCdEf"),),
    ),
    markdown=True,
    protect=True,
)
PLAIN = TextReply("Hello")
PHOTO = MediaReply(MediaKind.PHOTO, "media/ab/abcd.jpg", "ab" * 32, caption="封面 cover", protect=True)
VOICE = MediaReply(MediaKind.VOICE, "media/cd/cdef.ogg", "cd" * 32)
INVOICE_CNY = InvoiceReply(
    order_code="K7Q2M9X4PA",
    title="Python 入门",
    description="十二节课，终身有效",
    price=Money(9900, "CNY"),
    pay_label="支付 ¥99.00",
    buttons=((Button("取消", action="x:K7Q2M9X4PA"),),),
    prompt="点击链接完成支付：",
)
INVOICE_STARS = InvoiceReply("S1", "Club", "Monthly membership", Money(150, "XTR"), subscription_days=30)
BROADCAST_PHOTO = MediaReply(
    MediaKind.PHOTO,
    "media/ef/ef01.jpg",
    "ef" * 32,
    caption="**春季特惠** 全场 8 折",
    buttons=((Button("打开课程", action="c:python-101"), Button("官网", url="https://example.com")),),
    markdown=True,
)


@pytest.mark.parametrize(
    "replies",
    [
        [],
        [PLAIN],
        [LESSON],
        [PHOTO, VOICE],
        [INVOICE_CNY],
        [INVOICE_STARS],
        [LESSON, PHOTO, INVOICE_CNY, PLAIN, INVOICE_STARS],
        [BROADCAST_PHOTO],
    ],
    ids=["empty", "plain", "lesson", "media", "invoice-cny", "invoice-stars", "mixed", "photo-with-buttons"],
)
def test_round_trip_through_json(replies: list[Reply]) -> None:
    data = encode(replies)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    assert decode(json.loads(text)) == replies


def test_the_encoding_is_plain_readable_json() -> None:
    assert encode([INVOICE_STARS, PHOTO]) == [
        {
            "type": "invoice",
            "order_code": "S1",
            "title": "Club",
            "description": "Monthly membership",
            "price": {"amount": 150, "currency": "XTR"},
            "pay_label": "",
            "buttons": [],
            "subscription_days": 30,
            "prompt": "",
        },
        {
            "type": "media",
            "kind": "photo",
            "path": "media/ab/abcd.jpg",
            "sha256": "ab" * 32,
            "caption": "封面 cover",
            "protect": True,
        },
    ]
    assert encode([LESSON])[0]["buttons"][1] == [{"label": "加入社群", "action": "", "url": "https://t.me/+AbCdEf"}]


def test_a_photo_with_buttons_and_a_markdown_caption_keeps_them() -> None:
    (data,) = encode([BROADCAST_PHOTO])
    assert data["markdown"] is True
    assert data["buttons"] == [
        [
            {"label": "打开课程", "action": "c:python-101", "url": ""},
            {"label": "官网", "action": "", "url": "https://example.com"},
        ]
    ]
    (back,) = decode(encode([BROADCAST_PHOTO]))
    assert isinstance(back, MediaReply) and back.buttons[0][0].action == "c:python-101" and back.markdown
    assert isinstance(back.buttons, tuple) and all(isinstance(row, tuple) for row in back.buttons)


def test_media_without_buttons_encodes_as_before_they_existed() -> None:
    """Older code reads what newer code writes for plain media (no new keys appear)."""
    assert set(encode([PHOTO])[0]) == {"type", "kind", "path", "sha256", "caption", "protect"}


def test_a_bad_media_button_row_is_refused() -> None:
    data = encode([BROADCAST_PHOTO])
    data[0]["buttons"] = [{"label": "x"}]
    with pytest.raises(ValueError, match=r"reply\[0\]\.buttons\[0\]: expected a list of buttons"):
        decode(data)
    data[0]["buttons"], data[0]["markdown"] = [], "yes"
    with pytest.raises(ValueError, match=r"reply\[0\]\.markdown: expected true or false"):
        decode(data)


def test_decoded_buttons_are_tuples_like_the_originals() -> None:
    (reply,) = decode(encode([LESSON]))
    assert isinstance(reply, TextReply)
    assert isinstance(reply.buttons, tuple) and all(isinstance(row, tuple) for row in reply.buttons)
    assert reply.buttons[1][0].is_link


def test_keys_with_defaults_may_be_missing() -> None:
    """A payload written before a field existed still decodes, with the field's default."""
    assert decode([{"type": "text", "text": "hi"}]) == [TextReply("hi")]
    assert decode([{"type": "media", "kind": "video", "path": "v.mp4", "sha256": "00"}]) == [
        MediaReply(MediaKind.VIDEO, "v.mp4", "00")
    ]
    assert decode(
        [
            {
                "type": "invoice",
                "order_code": "A",
                "title": "T",
                "description": "",
                "price": {"amount": 1, "currency": "USD"},
            }
        ]
    ) == [InvoiceReply("A", "T", "", Money(1, "USD"))]
    assert decode([{"type": "text", "text": "x", "buttons": [[{"label": "go"}]]}]) == [
        TextReply("x", buttons=((Button("go"),),))
    ]


def test_a_checkout_answer_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="CheckoutAnswer"):
        encode([PLAIN, CheckoutAnswer(ok=True)])


def test_encode_refuses_what_would_not_decode() -> None:
    with pytest.raises(ValueError, match=r"reply\[0\]\.text: expected a string"):
        encode([TextReply(None)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"reply\[0\]\.text: not valid Unicode"):
        encode([TextReply("lone \ud800 surrogate")])
    with pytest.raises(ValueError, match="not a reply"):
        encode(["hello"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="sequence of replies"):
        encode("hello")  # type: ignore[arg-type]


def _good() -> list[dict[str, Any]]:
    return encode([LESSON, PHOTO, INVOICE_CNY])


def _with(index: int, **changes: Any) -> list[dict[str, Any]]:
    data = _good()
    data[index].update(changes)
    return data


def _without(index: int, key: str) -> list[dict[str, Any]]:
    data = _good()
    del data[index][key]
    return data


MALFORMED: dict[str, tuple[object, str]] = {
    "not a list": ({"type": "text", "text": "hi"}, r"replies: expected a list, got dict"),
    "a JSON string": ('[{"type": "text", "text": "hi"}]', r"expected a list, got str"),
    "None": (None, r"expected a list, got NoneType"),
    "item not an object": (["hi"], r"reply\[0\]: expected an object, got str"),
    "no type": ([{"text": "hi"}], r"reply\[0\]: missing key 'type'"),
    "unknown type": ([{"type": "sticker", "file": "x"}], r"reply\[0\]\.type: unknown reply type 'sticker'"),
    "type not a string": ([{"type": 1, "text": "hi"}], r"unknown reply type 1"),
    "checkout answer": ([{"type": "checkout", "ok": True}], r"unknown reply type 'checkout'"),
    "text is a number": (_with(0, text=42), r"reply\[0\]\.text: expected a string, got int"),
    "text is null": (_with(0, text=None), r"reply\[0\]\.text: expected a string, got NoneType"),
    "missing text": (_without(0, "text"), r"reply\[0\]: missing keys \['text'\]"),
    "extra key": (_with(0, colour="red"), r"reply\[0\]: unexpected keys \['colour'\]"),
    "markdown as int": (_with(0, markdown=1), r"reply\[0\]\.markdown: expected true or false, got int"),
    "protect as string": (_with(1, protect="yes"), r"reply\[1\]\.protect: expected true or false"),
    "buttons not a list": (_with(0, buttons="ok"), r"reply\[0\]\.buttons: expected a list of button rows"),
    "button row not a list": (_with(0, buttons=[{"label": "x"}]), r"reply\[0\]\.buttons\[0\]: expected a list"),
    "button not an object": (_with(0, buttons=[["x"]]), r"reply\[0\]\.buttons\[0\]\[0\]: expected an object"),
    "button without label": (_with(0, buttons=[[{"action": "a"}]]), r"buttons\[0\]\[0\]: missing keys \['label'\]"),
    "button with junk": (_with(0, buttons=[[{"label": "a", "x": 1}]]), r"buttons\[0\]\[0\]: unexpected keys"),
    "button url null": (_with(0, buttons=[[{"label": "a", "url": None}]]), r"buttons\[0\]\[0\]\.url: expected a str"),
    "unknown media kind": (_with(1, kind="sticker"), r"reply\[1\]\.kind: unknown media kind 'sticker'"),
    "media kind by name": (_with(1, kind="PHOTO"), r"unknown media kind 'PHOTO'"),
    "media kind not a string": (_with(1, kind=0), r"reply\[1\]\.kind: expected a string"),
    "bad currency": (_with(2, price={"amount": 9900, "currency": "RMB"}), r"reply\[2\]\.price: unsupported currency"),
    "lower-case currency": (_with(2, price={"amount": 1, "currency": "cny"}), r"unsupported currency 'cny'"),
    "float amount": (_with(2, price={"amount": 99.0, "currency": "CNY"}), r"price\.amount: expected an integer"),
    "string amount": (_with(2, price={"amount": "9900", "currency": "CNY"}), r"price\.amount: expected an integer"),
    "bool amount": (_with(2, price={"amount": True, "currency": "CNY"}), r"price\.amount: expected an integer"),
    "price as string": (_with(2, price="99.00 CNY"), r"reply\[2\]\.price: expected an object"),
    "price with junk": (_with(2, price={"amount": 1, "currency": "CNY", "fx": 7}), r"price: unexpected keys \['fx'\]"),
    "price without currency": (_with(2, price={"amount": 1}), r"price: missing keys \['currency'\]"),
    "subscription days as string": (_with(2, subscription_days="30"), r"subscription_days: expected an integer"),
    "subscription days as bool": (_with(2, subscription_days=True), r"subscription_days: expected an integer"),
    "media without sha256": (_without(1, "sha256"), r"reply\[1\]: missing keys \['sha256'\]"),
}


@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_data_is_refused_with_where(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode(data)


def test_a_tuple_is_not_json_and_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a list"):
        decode(tuple(_good()))


# --- property: decode(encode(x)) == x for every reply the codec accepts --------------------

texts = st.text(max_size=40)
buttons = st.builds(
    Button, label=texts, action=st.text(max_size=12), url=st.sampled_from(["", "https://example.com/x"])
)
rows = st.lists(st.lists(buttons, max_size=3).map(tuple), max_size=3).map(tuple)
money = st.builds(
    Money,
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
replies = st.one_of(
    st.builds(TextReply, text=texts, buttons=rows, markdown=st.booleans(), protect=st.booleans()),
    st.builds(
        MediaReply,
        kind=st.sampled_from(MediaKind),
        path=texts,
        sha256=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        caption=texts,
        protect=st.booleans(),
    ),
    st.builds(
        InvoiceReply,
        order_code=st.text(min_size=1, max_size=24),
        title=texts,
        description=texts,
        price=money,
        pay_label=texts,
        buttons=rows,
        subscription_days=st.none() | st.integers(min_value=1, max_value=3650),
        prompt=texts,
    ),
)


@given(st.lists(replies, max_size=6))
def test_any_replies_round_trip_through_json(items: list[Reply]) -> None:
    assert decode(json.loads(json.dumps(encode(items), ensure_ascii=False))) == items
