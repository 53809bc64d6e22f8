"""WeChat Pay v2 signing and notify verification (no network), plus the QR-code PNGs.

Published vectors: the signing example of WeChat Pay's documentation
(安全规范 / 签名算法), MD5 and HMAC-SHA256. The JSAPI parameters are checked
against wechatpy's own ``WeChatJSAPI.get_jsapi_params``.
"""

from __future__ import annotations

import logging
import struct
import zlib

import pytest
from fakes.wechat_pay import FakePay, FakeRefund, sign_params
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac

from bots.wechat import qr
from bots.wechat.pay import (
    NotifyRejected,
    PayConfig,
    RefundNotice,
    WeChatPayClient,
    WeChatPayError,
    truncate_body,
)

DOC_PARAMS = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}
DOC_KEY = "192006250b4c09247ec02edce69f6a2d"
DOC_MD5 = "9A0A8659F005D6984697E2CA0A9CF3B7"
DOC_HMAC = "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
KEY = "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4"


@pytest.fixture
def fake() -> FakePay:
    return FakePay(api_key=KEY)


@pytest.fixture
def client(fake: FakePay) -> WeChatPayClient:
    return WeChatPayClient(PayConfig(app_id=fake.app_id, mch_id=fake.mch_id, api_key=KEY))


# ================================================================ published vectors


def test_documented_md5_example() -> None:
    assert calculate_signature(DOC_PARAMS, DOC_KEY) == DOC_MD5
    assert sign_params(DOC_PARAMS, DOC_KEY) == DOC_MD5  # the fake's independent implementation agrees


def test_documented_hmac_sha256_example() -> None:
    assert calculate_signature_hmac(DOC_PARAMS, DOC_KEY) == DOC_HMAC
    assert sign_params(DOC_PARAMS, DOC_KEY, "HMAC-SHA256") == DOC_HMAC


def test_empty_fields_and_sign_are_not_signed() -> None:
    assert sign_params({**DOC_PARAMS, "attach": "", "sign": "X"}, DOC_KEY) == DOC_MD5


def test_jsapi_params_match_wechatpy() -> None:
    client = WeChatPayClient(PayConfig(app_id="wxd930ea5d5a258f4f", mch_id="10000100", api_key=DOC_KEY))
    ours = client.jsapi_params("wx2017033010242291fcfe0db70013231072", timestamp="1490840662", nonce_str="5K8264ILTK")
    theirs = WeChatPay("wxd930ea5d5a258f4f", DOC_KEY, "10000100").jsapi.get_jsapi_params(
        "wx2017033010242291fcfe0db70013231072", timestamp="1490840662", nonce_str="5K8264ILTK"
    )
    assert ours == theirs
    assert ours["package"] == "prepay_id=wx2017033010242291fcfe0db70013231072"
    assert ours["signType"] == "MD5"
    assert ours["paySign"] == sign_params({k: v for k, v in ours.items() if k != "paySign"}, DOC_KEY)


def test_jsapi_params_default_timestamp_and_nonce(client: WeChatPayClient) -> None:
    params = client.jsapi_params("wx123")
    assert params["timeStamp"].isdigit() and len(params["nonceStr"]) == 32
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}


# ================================================================ verify_notify


def test_accepts_a_good_notify(fake: FakePay, client: WeChatPayClient) -> None:
    notice = client.verify_notify(fake.notify_xml("T100", total_fee=1990, openid="oABC", transaction_id="4200001"))
    assert notice.out_trade_no == "T100"
    assert notice.total_fee == 1990 and isinstance(notice.total_fee, int)
    assert notice.transaction_id == "4200001"
    assert notice.openid == "oABC"
    assert notice.trade_type == "NATIVE"
    assert len(notice.time_end) == 14


def test_accepts_an_hmac_sha256_notify(fake: FakePay, client: WeChatPayClient) -> None:
    body = fake.notify_xml("T101", sign_type="HMAC-SHA256")
    assert b"HMAC-SHA256" in body
    assert client.verify_notify(body).out_trade_no == "T101"


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda f: f.notify_xml("T1", sign="0" * 32), "bad sign"),
        (lambda f: f.notify_xml("T1", drop_sign=True), "bad sign"),
        (lambda f: f.notify_xml("T1", key="x" * 32), "bad sign"),
        (lambda f: f.notify_xml("T1", total_fee=1, resign=False), "bad sign"),
        (lambda f: f.notify_xml("T1", out_trade_no="T2", resign=False), "bad sign"),
        (lambda f: f.notify_xml("T1", sign_type="HMAC-SHA256", key="x" * 32), "bad sign"),
        (lambda f: f.notify_xml("T1", sign_type="SHA1"), "bad sign"),
        (lambda f: f.notify_xml("T1", appid="wx1111111111111111"), "wrong merchant"),
        (lambda f: f.notify_xml("T1", mch_id="1900000999"), "wrong merchant"),
        (lambda f: f.notify_xml("T1", result_code="FAIL", err_code="NOTENOUGH"), "not success"),
        (lambda f: f.notify_xml("T1", return_code="FAIL"), "not success"),
        (lambda f: f.notify_xml("T1", total_fee="+100"), "bad total_fee"),
        (lambda f: f.notify_xml("T1", total_fee="1_000"), "bad total_fee"),
        (lambda f: f.notify_xml("T1", transaction_id=None), "missing field"),
    ],
    ids=[
        "wrong-sign",
        "no-sign",
        "other-key",
        "tampered-total_fee",
        "tampered-out_trade_no",
        "hmac-other-key",
        "unknown-sign_type",
        "wrong-appid",
        "wrong-mch_id",
        "result-FAIL",
        "return-FAIL",
        "plus-sign-fee",
        "underscore-fee",
        "no-transaction_id",
    ],
)
def test_rejects(fake: FakePay, client: WeChatPayClient, build, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotifyRejected) as caught:
        client.verify_notify(build(fake))
    assert caught.value.reason == reason


XXE = b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>'
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><a>&lol9;</a></xml>"""


@pytest.mark.parametrize(
    "body",
    [
        XXE,
        BILLION_LAUGHS,
        b"not xml at all",
        b"",
        b"<xml><return_code>SUCCESS</return_code>",
        b"\xff\xfe\x00<",
        b"<other><a>1</a></other>",
        b"<xml>" + b"<a>1</a>" * 10_000 + b"</xml>",
    ],
    ids=["xxe", "billion-laughs", "non-xml", "empty", "truncated", "binary", "wrong-root", "oversized"],
)
def test_rejects_bad_xml_before_anything_else(client: WeChatPayClient, body: bytes) -> None:
    with pytest.raises(NotifyRejected) as caught:
        client.verify_notify(body)
    assert caught.value.reason == "bad xml"


def test_rejects_repeated_or_nested_fields(fake: FakePay, client: WeChatPayClient) -> None:
    good = fake.notify_xml("T1")
    repeated = good.replace(b"</xml>", b"<total_fee>1</total_fee></xml>")
    nested = good.replace(b"</xml>", b"<extra><total_fee>1</total_fee></extra></xml>")
    for body in (repeated, nested):
        with pytest.raises(NotifyRejected) as caught:
            client.verify_notify(body)
        assert caught.value.reason == "bad xml"


def test_signature_is_checked_before_success_and_merchant(fake: FakePay, client: WeChatPayClient) -> None:
    """The fixed order: a forged notify says "bad sign" whatever else is wrong with it."""
    forged = fake.notify_xml("T1", appid="wx1111111111111111", result_code="FAIL", key="x" * 32)
    with pytest.raises(NotifyRejected, match="bad sign"):
        client.verify_notify(forged)
    failed_elsewhere = fake.notify_xml("T1", appid="wx1111111111111111", result_code="FAIL")
    with pytest.raises(NotifyRejected, match="not success"):
        client.verify_notify(failed_elsewhere)


def test_answer_bodies() -> None:
    assert WeChatPayClient.answer(True) == (
        "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
    )
    assert WeChatPayClient.answer(False, "bad sign") == (
        "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[bad sign]]></return_msg></xml>"
    )
    assert "]]>]]>" not in WeChatPayClient.answer(False, "x]]>y")


# ================================================================ refund notify


def _refund(fake: FakePay) -> FakeRefund:
    refund = FakeRefund(
        out_refund_no="R1",
        out_trade_no="T1",
        refund_id="50300000000000000000000000001",
        transaction_id="4200000000000000000000000001",
        refund_fee=500,
        total_fee=1990,
    )
    fake.refunds["R1"] = refund
    return refund


def test_parses_a_refund_notify(fake: FakePay, client: WeChatPayClient) -> None:
    _refund(fake)
    notice = client.parse_refund_notify(fake.refund_notify_xml("R1"))
    assert notice == RefundNotice(
        out_trade_no="T1",
        out_refund_no="R1",
        refund_id="50300000000000000000000000001",
        transaction_id="4200000000000000000000000001",
        refund_status="SUCCESS",
        refund_fee=500,
        total_fee=1990,
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"key": "x" * 32}, "bad req_info"),
        ({"req_info": "bm90IGVuY3J5cHRlZA=="}, "bad req_info"),
        ({"req_info": "%%%"}, "bad req_info"),
        ({"appid": "wx1111111111111111"}, "wrong merchant"),
        ({"mch_id": "1900000999"}, "wrong merchant"),
    ],
    ids=["other-key", "not-encrypted", "not-base64", "wrong-appid", "wrong-mch_id"],
)
def test_rejects_bad_refund_notifies(
    fake: FakePay, client: WeChatPayClient, kwargs: dict[str, str], reason: str
) -> None:
    _refund(fake)
    with pytest.raises(NotifyRejected) as caught:
        client.parse_refund_notify(fake.refund_notify_xml("R1", **kwargs))
    assert caught.value.reason == reason


@pytest.mark.parametrize("body", [XXE, BILLION_LAUGHS, b"", b"nope"], ids=["xxe", "billion-laughs", "empty", "non-xml"])
def test_refund_notify_bad_xml(client: WeChatPayClient, body: bytes) -> None:
    with pytest.raises(NotifyRejected, match="bad xml"):
        client.parse_refund_notify(body)


# ================================================================ secrets and small helpers


def test_api_key_stays_out_of_reprs_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    config = PayConfig(app_id="wx1", mch_id="1", api_key=KEY)
    assert KEY not in repr(config)
    assert KEY not in repr(WeChatPayClient(config))
    caplog.set_level(logging.DEBUG)
    calculate_signature({"a": "1"}, KEY)  # wechatpy logs the signed string, key included, at DEBUG
    assert KEY not in caplog.text
    assert KEY not in str(WeChatPayError("SIGNERROR", "answer signature mismatch"))


def test_body_is_cut_at_a_character_boundary() -> None:
    text = "课" * 50  # 150 bytes
    cut = truncate_body(text)
    assert cut == "课" * 42 and len(cut.encode()) == 126
    assert truncate_body("a" * 200) == "a" * 127
    assert truncate_body("Python 入门]]><x>\x00") == "Python 入门]] ><x>"


# ================================================================ QR codes


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """PNG chunks (type, payload), checking each CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + payload) == crc
        chunks.append((kind, payload))
        pos += 12 + length
    return chunks


def test_qr_png_is_a_valid_png_that_grows_with_scale() -> None:
    url = "weixin://wxpay/bizpayurl?pr=AbC1234"
    small, large = qr.png(url, scale=2), qr.png(url)
    sizes = []
    for image in (small, large):
        chunks = _chunks(image)
        assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
        width, height = struct.unpack(">II", chunks[0][1][:8])
        assert width == height
        zlib.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
        sizes.append(width)
    assert sizes[1] == sizes[0] * 4  # 8 px vs 2 px per module, border included
    assert sizes[0] % 2 == 0 and (sizes[0] // 2 - 4 - 21) % 4 == 0  # a full QR symbol (21 + 4k modules) + 2x2 border


@pytest.mark.parametrize("text", ["", "x" * 513])
def test_qr_rejects_empty_or_long_text(text: str) -> None:
    with pytest.raises(ValueError):
        qr.png(text)


def test_qr_rejects_bad_scale() -> None:
    with pytest.raises(ValueError):
        qr.png("x", scale=0)
    assert len(qr.png("x" * 512, scale=1)) > 0
