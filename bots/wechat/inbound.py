"""Inbound WeChat requests: verify first, then parse safely, then turn into neutral events.

Order matters, and is the contract of this module:

1. The query string's ``signature`` (sha1 of token, timestamp, nonce) is
   checked in constant time, and the timestamp must be within 5 minutes of
   our clock. Nothing of the body has been looked at yet: XML from a
   request that fails verification is never parsed.
2. The body is parsed by defusedxml with DTDs forbidden, so external
   entities (XXE) and entity expansion (billion laughs) are refused before
   any entity is resolved.
3. In safe mode (``encrypt_type=aes``) the ``msg_signature`` over the
   ``Encrypt`` element is checked in constant time, and only then is it
   decrypted (wechatpy's ``PrpCrypto``, which also checks the app id).
4. The verified plaintext is parsed into wechatpy's message objects.

Any failure raises :class:`Rejected` with the HTTP status to answer.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.parser import parse_message
from wechatpy.utils import WeChatSigner

__all__ = ["MAX_SKEW_SECONDS", "Rejected", "Verifier", "safe_xml"]

MAX_SKEW_SECONDS = 300


class Rejected(Exception):
    """A request we refuse: ``status`` is the HTTP answer, ``reason`` a short log line (no secrets)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def safe_xml(body: bytes | str) -> dict[str, Any]:
    """The children of a flat ``<xml>`` document as a dict; DTDs (and so every entity trick) are refused."""
    try:
        root: Element = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Rejected(400, f"unsafe xml: {type(exc).__name__}") from None
    except SafeET.ParseError:
        raise Rejected(400, "malformed xml") from None
    if root.tag != "xml":
        raise Rejected(400, "not a WeChat xml document")
    out: dict[str, Any] = {}
    for child in root:
        out[child.tag] = {c.tag: c.text or "" for c in child} if len(child) else (child.text or "")
    return out


def _sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


@dataclass(frozen=True)
class Verifier:
    token: str
    app_id: str
    aes_key: str | None = None  # EncodingAESKey (43 chars): safe mode

    def __post_init__(self) -> None:
        if self.aes_key is not None:
            WeChatCrypto(self.token, self.aes_key, self.app_id)  # raises on a malformed key, at start-up

    def check(self, query: Mapping[str, str], now: datetime) -> None:
        """The request signature and its freshness: the first gate of every request."""
        signature, timestamp, nonce = query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")
        if not (signature and timestamp and nonce) or not timestamp.isdigit() or len(timestamp) > 12:
            raise Rejected(403, "missing or malformed signature parameters")
        if not hmac.compare_digest(_sign(self.token, timestamp, nonce).encode(), signature.lower().encode()):
            raise Rejected(403, "bad signature")
        if abs(now.timestamp() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise Rejected(403, "stale timestamp")

    def echo(self, query: Mapping[str, str], now: datetime) -> str:
        """``GET /wechat``: URL verification answers the ``echostr`` once the signature checks out."""
        self.check(query, now)
        echostr = query.get("echostr", "")
        if not echostr or len(echostr) > 512:
            raise Rejected(400, "missing echostr")
        return echostr

    def open(self, query: Mapping[str, str], body: bytes, now: datetime) -> tuple[str, bool]:
        """Verify and decrypt a ``POST /wechat`` body: the plaintext XML, and whether it came encrypted."""
        self.check(query, now)
        envelope = safe_xml(body)
        encrypted = query.get("encrypt_type", "raw").lower() == "aes"
        if not encrypted:
            return body.decode("utf-8", errors="strict"), False
        if self.aes_key is None:
            raise Rejected(403, "encrypted message but WECHAT_AES_KEY is not set")
        encrypt = envelope.get("Encrypt")
        msg_signature = query.get("msg_signature", "")
        if not isinstance(encrypt, str) or not encrypt or not msg_signature:
            raise Rejected(403, "safe mode without Encrypt or msg_signature")
        expected = _sign(self.token, query.get("timestamp", ""), query.get("nonce", ""), encrypt)
        if not hmac.compare_digest(expected.encode(), msg_signature.lower().encode()):
            raise Rejected(403, "bad msg_signature")
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        try:
            plain = PrpCrypto(crypto.key).decrypt(encrypt, self.app_id)
        except InvalidAppIdException:
            raise Rejected(403, "message for another app id") from None
        except Exception:
            raise Rejected(400, "undecryptable message") from None
        text = plain.decode("utf-8") if isinstance(plain, bytes) else str(plain)
        safe_xml(text.encode("utf-8"))  # the inner document gets the same scrutiny
        return text, True

    def seal(self, reply_xml: str, nonce: str, timestamp: str) -> str:
        """Encrypt a passive reply for safe mode."""
        assert self.aes_key is not None
        return str(WeChatCrypto(self.token, self.aes_key, self.app_id).encrypt_message(reply_xml, nonce, timestamp))


def parse(xml: str) -> Any:
    """wechatpy's message object for verified, already-defused XML."""
    try:
        return parse_message(xml)
    except Exception:
        raise Rejected(400, "not a WeChat message") from None
