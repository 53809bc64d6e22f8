"""The inbound gate: signatures (WeChat's and wechatpy's published vectors), freshness, safe XML, safe mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from wechatpy.crypto import WeChatCrypto

from bots.wechat.inbound import Rejected, Verifier, parse, safe_xml

# Tencent's WXBizMsgCrypt sample, also used by wechatpy's own crypto tests.
SAMPLE_TOKEN = "spamtest"
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APPID = "wx2c2769f8efd9abc2"
SAMPLE_TS, SAMPLE_NONCE = "1409735669", "1320562132"
SAMPLE_MSG_SIGN = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2Ld"
    "JF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5"
    "VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXg"
    "CSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9"
    "GhglF2PE="
)


def _sha1(*parts: str) -> str:
    import hashlib

    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def test_wechatpy_check_signature_vector() -> None:
    # wechatpy's check_signature test: token "test", timestamp 1410685589, nonce "test".
    v = Verifier("test", "wx0123456789abcdef")
    now = datetime.fromtimestamp(1410685589, UTC)
    q = {"signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "timestamp": "1410685589", "nonce": "test"}
    v.check(q, now)
    with pytest.raises(Rejected) as err:
        v.check({**q, "signature": "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"}, now)
    assert err.value.status == 403


def test_official_safe_mode_sample_decrypts() -> None:
    v = Verifier(SAMPLE_TOKEN, SAMPLE_APPID, SAMPLE_KEY)
    now = datetime.fromtimestamp(int(SAMPLE_TS), UTC)
    q = {
        "signature": _sha1(SAMPLE_TOKEN, SAMPLE_TS, SAMPLE_NONCE),
        "timestamp": SAMPLE_TS,
        "nonce": SAMPLE_NONCE,
        "encrypt_type": "aes",
        "msg_signature": SAMPLE_MSG_SIGN,
    }
    body = f"<xml><ToUserName>gh_10f6c3c3ac5a</ToUserName><Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt></xml>"
    xml, encrypted = v.open(q, body.encode(), now)
    assert encrypted and "<xml>" in xml
    with pytest.raises(Rejected):
        v.open({**q, "msg_signature": "0" * 40}, body.encode(), now)


def test_stale_and_future_timestamps_are_refused() -> None:
    v = Verifier("tok123", "wx0123456789abcdef")
    now = datetime(2026, 3, 2, tzinfo=UTC)
    for skew in (timedelta(minutes=6), -timedelta(minutes=6)):
        ts = str(int((now - skew).timestamp()))
        with pytest.raises(Rejected) as err:
            v.check({"signature": _sha1("tok123", ts, "n"), "timestamp": ts, "nonce": "n"}, now)
        assert err.value.reason == "stale timestamp"
    ts = str(int((now - timedelta(minutes=4)).timestamp()))
    v.check({"signature": _sha1("tok123", ts, "n"), "timestamp": ts, "nonce": "n"}, now)


def test_a_bad_signature_is_refused_before_the_body_is_looked_at() -> None:
    v = Verifier("tok123", "wx0123456789abcdef")
    now = datetime(2026, 3, 2, tzinfo=UTC)
    ts = str(int(now.timestamp()))
    with pytest.raises(Rejected) as err:
        v.open({"signature": "0" * 40, "timestamp": ts, "nonce": "n"}, b"<<< not xml at all", now)
    assert err.value.status == 403  # a parse error would have been 400


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><c>&b;</c></xml>',
        b"<xml><a>unclosed</xml>",
        b"<notxml/>",
    ],
    ids=["xxe", "entity-expansion", "malformed", "wrong-root"],
)
def test_unsafe_or_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(Rejected) as err:
        safe_xml(body)
    assert err.value.status == 400


def test_safe_mode_round_trip_with_wechatpy_and_a_sealed_reply() -> None:
    appid, token, key = "wx0123456789abcdef", "tok123", SAMPLE_KEY
    v = Verifier(token, appid, key)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    ts = str(int(now.timestamp()))
    inner = (
        "<xml><ToUserName>gh</ToUserName><FromUserName>oUser_0000000001</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>text</MsgType><Content>你好</Content><MsgId>42</MsgId></xml>"
    )
    envelope = WeChatCrypto(token, key, appid).encrypt_message(inner, "n", ts)
    encrypt = safe_xml(envelope.encode())["Encrypt"]
    q = {"signature": _sha1(token, ts, "n"), "timestamp": ts, "nonce": "n", "encrypt_type": "aes"}
    q["msg_signature"] = _sha1(token, ts, "n", encrypt)
    xml, encrypted = v.open(q, envelope.encode(), now)
    msg = parse(xml)
    assert encrypted and msg.content == "你好" and msg.source == "oUser_0000000001"
    # A message encrypted for another app id is refused.
    other = WeChatCrypto(token, key, "wxffffffffffffffff").encrypt_message(inner, "n", ts)
    enc2 = safe_xml(other.encode())["Encrypt"]
    with pytest.raises(Rejected):
        v.open({**q, "msg_signature": _sha1(token, ts, "n", enc2)}, other.encode(), now)
    sealed = v.seal("<xml><Content>hi</Content></xml>", "n", ts)
    fields = safe_xml(sealed.encode())
    plain = WeChatCrypto(token, key, appid).decrypt_message(sealed, fields["MsgSignature"], ts, "n")
    assert "hi" in plain


def test_a_malformed_aes_key_fails_at_start_up() -> None:
    with pytest.raises((ValueError, AssertionError)):
        Verifier("tok123", "wx0123456789abcdef", "short")
