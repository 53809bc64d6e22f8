"""An async WeChat Pay v2 (XML API) client: signing by wechatpy, HTTP by aiohttp.

Contract, and why:

* **Money is integer fen.** ``total_fee`` and ``refund_fee`` are ``int``
  everywhere (WeChat's unit is the fen, 1/100 yuan); anything else is a
  ``ValueError`` before a request is built, and amounts read back from
  WeChat are parsed as plain decimal digits (no ``int()`` leniency for
  ``"+1"``, ``" 1"`` or ``"1_0"``).
* **Requests** are signed with :func:`wechatpy.pay.utils.calculate_signature`
  (MD5 over the sorted non-empty fields plus ``key=<api_key>``), serialised
  with :func:`wechatpy.pay.utils.dict_to_xml` and posted with a fresh
  random ``nonce_str``. Network errors and 5xx answers are retried twice
  with a short backoff (every call here is idempotent at WeChat: orders by
  ``out_trade_no``, refunds by ``out_refund_no``), then reported as
  :class:`WeChatPayError` ``NETWORK`` / ``HTTP_5xx``.
* **Responses** are parsed with defusedxml (no DTD, no entities) and their
  ``sign`` verified (required on ``result_code`` SUCCESS, checked whenever
  present), then ``return_code`` FAIL → ``WeChatPayError("FAIL", return_msg)``
  and ``result_code`` FAIL → ``WeChatPayError(err_code, err_code_des)``.
* **A payment notify is verified in a fixed order** by :meth:`verify_notify`:
  safe parse → signature (constant-time compare) → ``return_code`` /
  ``result_code`` SUCCESS → our ``appid`` and ``mch_id``. Nothing from the
  body is trusted before its signature is, and a forged or replayed-to-the-
  wrong-merchant notify is refused with a short :class:`NotifyRejected`
  reason. Whether ``out_trade_no`` exists and the amount matches the order is
  the caller's check: it needs the database.
* **Refunds are idempotent through ``out_refund_no``**: the caller derives it
  from its own refund record and reuses it on every retry, so a retry after a
  timeout (when WeChat may already have refunded) returns the same
  ``refund_id`` instead of refunding twice. Refund calls use the merchant
  certificate (mutual TLS) when :attr:`PayConfig.cert_path` is set.
* **The API key is a secret**: it is never logged, never put in an exception
  or a ``repr``. (wechatpy's own debug log of the string it signs, which
  ends in ``key=<api_key>``, is filtered out when this module is imported.)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
import ssl
import string
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final
from xml.etree.ElementTree import Element, ParseError
from zoneinfo import ZoneInfo

import aiohttp
import defusedxml
from defusedxml.ElementTree import fromstring as _safe_fromstring
from wechatpy.crypto import RefundCrypto, WeChatRefundCrypto
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml

__all__ = [
    "NotifyRejected",
    "OrderPaid",
    "PaidNotice",
    "PayConfig",
    "RefundNotice",
    "TradeState",
    "WeChatPayClient",
    "WeChatPayError",
]

logger = logging.getLogger(__name__)

CHINA_TZ: Final = ZoneInfo("Asia/Shanghai")
#: WeChat's limit for ``body``, in UTF-8 bytes.
BODY_MAX_BYTES: Final = 127
#: a notify is a few hundred bytes; anything much larger is not one.
MAX_NOTIFY_BYTES: Final = 64 * 1024
TRADE_TYPES: Final = frozenset({"NATIVE", "JSAPI"})
_OUT_TRADE_NO_RE: Final = re.compile(r"^[A-Za-z0-9_\-|*]{1,32}$")
_OUT_REFUND_NO_RE: Final = re.compile(r"^[A-Za-z0-9_\-|*@]{1,64}$")
_FEE_RE: Final = re.compile(r"^[0-9]{1,12}$")
_NONCE_ALPHABET: Final = string.ascii_letters + string.digits
# characters XML 1.0 cannot carry (control characters except tab, newline, carriage return)
_XML_INVALID_RE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class _HideSignedString(logging.Filter):
    """Drop wechatpy's debug record of the string it signs: it ends in ``key=<api_key>``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Calculate Signature URL")


_wechatpy_sign_logger = logging.getLogger("wechatpy.pay.utils")
if not any(isinstance(f, _HideSignedString) for f in _wechatpy_sign_logger.filters):
    _wechatpy_sign_logger.addFilter(_HideSignedString())


# ================================================================ values


@dataclass(frozen=True, slots=True)
class PayConfig:
    """A merchant's WeChat Pay v2 settings. ``api_key`` is the 32-character v2 key: secret, kept out of ``repr``."""

    app_id: str
    mch_id: str
    api_key: str = field(repr=False)
    api_url: str = "https://api.mch.weixin.qq.com"
    notify_url: str = ""
    refund_notify_url: str = ""
    cert_path: str | None = None
    key_path: str | None = None


class WeChatPayError(Exception):
    """WeChat Pay refused a request or could not be reached.

    ``code`` is WeChat's ``err_code`` (``ORDERPAID``, ``ORDERNOTEXIST`` …),
    ``FAIL`` for a ``return_code`` FAIL, ``SIGNERROR`` for a response whose
    signature is wrong, ``BAD_RESPONSE`` for one that cannot be read,
    ``HTTP_<status>`` or ``NETWORK``.
    """

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


class OrderPaid(WeChatPayError):
    """``closeorder`` refused: the order was paid meanwhile (it must be fulfilled, not cancelled)."""


class NotifyRejected(Exception):
    """A notify to answer FAIL to. ``reason`` is short and holds no secret."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class PaidNotice:
    """A verified payment: from a notify, or from an orderquery in state SUCCESS."""

    out_trade_no: str
    transaction_id: str
    total_fee: int
    openid: str
    trade_type: str
    time_end: str


@dataclass(frozen=True, slots=True)
class TradeState:
    """An orderquery result. ``state`` is WeChat's ``trade_state``, or ``NOTEXIST`` for an unknown order.

    ``trade_type`` and ``time_end`` (additions to the original contract,
    defaulted) are filled for paid orders, so :meth:`paid_notice` can stand in
    for a lost notify.
    """

    out_trade_no: str
    state: str
    transaction_id: str = ""
    total_fee: int = 0
    openid: str = ""
    trade_type: str = ""
    time_end: str = ""

    def paid_notice(self) -> PaidNotice | None:
        """The payment as a :class:`PaidNotice` when the state is SUCCESS, else None."""
        if self.state != "SUCCESS":
            return None
        return PaidNotice(
            out_trade_no=self.out_trade_no,
            transaction_id=self.transaction_id,
            total_fee=self.total_fee,
            openid=self.openid,
            trade_type=self.trade_type,
            time_end=self.time_end,
        )


@dataclass(frozen=True, slots=True)
class RefundNotice:
    """A decrypted refund notify (``refund_status``: SUCCESS, CHANGE or REFUNDCLOSE)."""

    out_trade_no: str
    out_refund_no: str
    refund_id: str
    transaction_id: str
    refund_status: str
    refund_fee: int
    total_fee: int


# ================================================================ helpers


def _nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def _sign(params: dict[str, str], api_key: str, sign_type: str = "MD5") -> str:
    """WeChat Pay v2 signature of ``params`` (without ``sign``) by wechatpy."""
    if sign_type == "HMAC-SHA256":
        return str(calculate_signature_hmac(params, api_key))
    if sign_type == "MD5":
        return str(calculate_signature(params, api_key))
    raise ValueError("unsupported sign_type")


def _sign_ok(data: dict[str, str], api_key: str) -> bool:
    """Whether ``data['sign']`` is right for the other fields (MD5, or HMAC-SHA256 when ``sign_type`` says so)."""
    given = data.get("sign", "")
    sign_type = data.get("sign_type") or "MD5"
    if not given or sign_type not in ("MD5", "HMAC-SHA256"):
        return False
    expected = _sign({k: v for k, v in data.items() if k != "sign"}, api_key, sign_type)
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def _parse_xml(body: bytes | str, root: str = "xml") -> dict[str, str]:
    """Parse a flat ``<root><k>v</k>…</root>`` document safely (no DTD, no entities); ValueError if it is not one."""
    try:
        element: Element = _safe_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, defusedxml.DefusedXmlException, ValueError, TypeError) as exc:
        raise ValueError("not well-formed or not allowed XML") from exc
    if element.tag != root:
        raise ValueError("unexpected root element")
    data: dict[str, str] = {}
    for child in element:
        if len(child) or child.tag in data:
            raise ValueError("nested or repeated element")
        data[child.tag] = child.text or ""
    return data


def _fee(value: str, name: str) -> int:
    if not _FEE_RE.fullmatch(value):
        raise ValueError(f"bad {name}")
    return int(value)


def _check_value(value: str) -> str:
    if "]]>" in value or _XML_INVALID_RE.search(value):
        raise ValueError("value not representable in WeChat Pay XML")
    return value


def truncate_body(body: str, limit: int = BODY_MAX_BYTES) -> str:
    """``body`` made safe for WeChat: control characters and ``]]>`` removed, cut to ``limit`` UTF-8 bytes
    at a character boundary."""
    cleaned = _XML_INVALID_RE.sub("", body).replace("]]>", "]] >").strip()
    return cleaned.encode("utf-8")[:limit].decode("utf-8", "ignore")


def _check_fee(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer number of fen")
    return value


# ================================================================ client


class WeChatPayClient:
    """WeChat Pay v2 for one merchant: orders, queries, closing, refunds, notifies and JSAPI parameters."""

    #: pauses before the 2nd and 3rd attempt after a network error or a 5xx answer.
    RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5)

    def __init__(self, config: PayConfig, *, timeout: float = 10.0) -> None:
        self._config = config
        self._api_url = config.api_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        if config.cert_path:
            # fail at startup, not at the first refund, when the merchant certificate is unusable
            context = ssl.create_default_context()
            context.load_cert_chain(config.cert_path, config.key_path)
            self._ssl = context

    def __repr__(self) -> str:
        return f"WeChatPayClient(app_id={self._config.app_id!r}, mch_id={self._config.mch_id!r})"

    @property
    def config(self) -> PayConfig:
        """The merchant settings this client signs for."""
        return self._config

    async def close(self) -> None:
        """Close the HTTP session (a later call opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------ API calls

    async def unified_order(
        self,
        *,
        out_trade_no: str,
        body: str,
        total_fee: int,
        trade_type: str,
        client_ip: str = "127.0.0.1",
        openid: str | None = None,
        product_id: str | None = None,
        time_expire: datetime | None = None,
    ) -> dict[str, str]:
        """Place an order (``/pay/unifiedorder``); returns WeChat's verified answer without ``sign``.

        NATIVE needs ``product_id`` and the answer has ``code_url`` (for the QR
        code) and ``prepay_id``; JSAPI needs ``openid`` and the answer has
        ``prepay_id`` (for :meth:`jsapi_params`). Placing the same order again
        returns the same ``prepay_id``; different parameters under the same
        ``out_trade_no`` are refused (``INVALID_REQUEST``), a paid one is
        ``ORDERPAID``, a closed one ``ORDERCLOSED``.
        """
        _check_out_trade_no(out_trade_no)
        _check_fee(total_fee, "total_fee")
        if trade_type not in TRADE_TYPES:
            raise ValueError(f"unsupported trade_type {trade_type!r}")
        if trade_type == "NATIVE" and not product_id:
            raise ValueError("NATIVE orders need a product_id")
        if trade_type == "JSAPI" and not openid:
            raise ValueError("JSAPI orders need the payer's openid")
        if not self._config.notify_url:
            raise ValueError("PayConfig.notify_url is not set")
        description = truncate_body(body)
        if not description:
            raise ValueError("body is empty")
        params = {
            "body": description,
            "out_trade_no": out_trade_no,
            "total_fee": str(total_fee),
            "spbill_create_ip": client_ip,
            "notify_url": self._config.notify_url,
            "trade_type": trade_type,
        }
        if openid:
            params["openid"] = openid
        if product_id:
            params["product_id"] = product_id
        if time_expire is not None:
            if time_expire.tzinfo is None:
                raise ValueError("time_expire must be timezone-aware")
            params["time_expire"] = time_expire.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")
        data = await self._call("/pay/unifiedorder", params, out_trade_no=out_trade_no)
        if not data.get("prepay_id") or (trade_type == "NATIVE" and not data.get("code_url")):
            raise WeChatPayError("BAD_RESPONSE", "unifiedorder answer lacks prepay_id or code_url")
        return {k: v for k, v in data.items() if k != "sign"}

    async def query(self, out_trade_no: str) -> TradeState:
        """The order's state (``/pay/orderquery``); an order WeChat does not know is ``NOTEXIST``."""
        _check_out_trade_no(out_trade_no)
        try:
            data = await self._call("/pay/orderquery", {"out_trade_no": out_trade_no}, out_trade_no=out_trade_no)
        except WeChatPayError as exc:
            if exc.code == "ORDERNOTEXIST":
                return TradeState(out_trade_no=out_trade_no, state="NOTEXIST")
            raise
        state = data.get("trade_state", "")
        if not state:
            raise WeChatPayError("BAD_RESPONSE", "orderquery answer lacks trade_state")
        total = data.get("total_fee", "")
        try:
            total_fee = _fee(total, "total_fee") if total else 0
        except ValueError:
            raise WeChatPayError("BAD_RESPONSE", "orderquery answer has a bad total_fee") from None
        return TradeState(
            out_trade_no=data.get("out_trade_no") or out_trade_no,
            state=state,
            transaction_id=data.get("transaction_id", ""),
            total_fee=total_fee,
            openid=data.get("openid", ""),
            trade_type=data.get("trade_type", ""),
            time_end=data.get("time_end", ""),
        )

    async def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order (``/pay/closeorder``). Already closed is fine; paid meanwhile → :class:`OrderPaid`."""
        _check_out_trade_no(out_trade_no)
        try:
            await self._call("/pay/closeorder", {"out_trade_no": out_trade_no}, out_trade_no=out_trade_no)
        except WeChatPayError as exc:
            if exc.code == "ORDERCLOSED":
                return
            if exc.code == "ORDERPAID":
                raise OrderPaid(exc.code, exc.message) from None
            raise

    async def refund(
        self, *, out_trade_no: str, out_refund_no: str, total_fee: int, refund_fee: int, reason: str = ""
    ) -> str:
        """Ask for a refund (``/secapi/pay/refund``, mutual TLS when configured); returns WeChat's ``refund_id``.

        Reuse the same ``out_refund_no`` on every retry: WeChat then answers
        with the same refund instead of refunding again.
        """
        _check_out_trade_no(out_trade_no)
        if not _OUT_REFUND_NO_RE.fullmatch(out_refund_no):
            raise ValueError("out_refund_no must be 1-64 of A-Z a-z 0-9 _ - | * @")
        _check_fee(total_fee, "total_fee")
        _check_fee(refund_fee, "refund_fee")
        if refund_fee > total_fee:
            raise ValueError("refund_fee exceeds total_fee")
        params = {
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "total_fee": str(total_fee),
            "refund_fee": str(refund_fee),
        }
        if reason:
            params["refund_desc"] = truncate_body(reason, 80)
        if self._config.refund_notify_url:
            params["notify_url"] = self._config.refund_notify_url
        data = await self._call("/secapi/pay/refund", params, out_trade_no=out_trade_no, mutual_tls=True)
        refund_id = data.get("refund_id", "")
        if not refund_id:
            raise WeChatPayError("BAD_RESPONSE", "refund answer lacks refund_id")
        return refund_id

    # ------------------------------------------------------------ notifies

    def verify_notify(self, body: bytes) -> PaidNotice:
        """Verify a payment notify; raises :class:`NotifyRejected` (answer FAIL) when it must not be believed.

        Fixed order: safe parse ("bad xml") → signature ("bad sign") →
        SUCCESS codes ("not success") → our appid and mch_id ("wrong
        merchant") → fields ("missing field", "bad total_fee").
        """
        if not body or len(body) > MAX_NOTIFY_BYTES:
            raise NotifyRejected("bad xml")
        try:
            data = _parse_xml(body)
        except ValueError:
            raise NotifyRejected("bad xml") from None
        if not _sign_ok(data, self._config.api_key):
            raise NotifyRejected("bad sign")
        if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
            raise NotifyRejected("not success")
        if data.get("appid") != self._config.app_id or data.get("mch_id") != self._config.mch_id:
            raise NotifyRejected("wrong merchant")
        if not data.get("out_trade_no") or not data.get("transaction_id") or not data.get("total_fee"):
            raise NotifyRejected("missing field")
        try:
            total_fee = _fee(data["total_fee"], "total_fee")
        except ValueError:
            raise NotifyRejected("bad total_fee") from None
        return PaidNotice(
            out_trade_no=data["out_trade_no"],
            transaction_id=data["transaction_id"],
            total_fee=total_fee,
            openid=data.get("openid", ""),
            trade_type=data.get("trade_type", ""),
            time_end=data.get("time_end", ""),
        )

    def parse_refund_notify(self, body: bytes) -> RefundNotice:
        """Decrypt and check a refund notify; raises :class:`NotifyRejected` (answer FAIL) when it is not ours.

        Refund notifies carry no ``sign``: ``req_info`` is AES-256-ECB with
        key ``md5(api_key)`` (wechatpy's ``WeChatRefundCrypto`` key, decrypted
        by its ``RefundCrypto``), so only a holder of the key can produce one
        that decrypts to a well-formed ``<root>`` document.
        """
        if not body or len(body) > MAX_NOTIFY_BYTES:
            raise NotifyRejected("bad xml")
        try:
            data = _parse_xml(body)
        except ValueError:
            raise NotifyRejected("bad xml") from None
        if data.get("return_code") != "SUCCESS":
            raise NotifyRejected("not success")
        if data.get("appid") != self._config.app_id or data.get("mch_id") != self._config.mch_id:
            raise NotifyRejected("wrong merchant")
        req_info = data.get("req_info", "")
        if not req_info:
            raise NotifyRejected("missing field")
        try:
            key = WeChatRefundCrypto(self._config.api_key).key
            plain = RefundCrypto(key).decrypt(req_info)
            info = _parse_xml(plain, root="root")
        except Exception:  # bad base64, bad block size, garbage plaintext: all "not ours"
            raise NotifyRejected("bad req_info") from None
        needed = ("out_trade_no", "out_refund_no", "refund_id", "refund_status", "refund_fee", "total_fee")
        if any(not info.get(name) for name in needed):
            raise NotifyRejected("missing field")
        try:
            refund_fee = _fee(info["refund_fee"], "refund_fee")
            total_fee = _fee(info["total_fee"], "total_fee")
        except ValueError:
            raise NotifyRejected("bad fee") from None
        return RefundNotice(
            out_trade_no=info["out_trade_no"],
            out_refund_no=info["out_refund_no"],
            refund_id=info["refund_id"],
            transaction_id=info.get("transaction_id", ""),
            refund_status=info["refund_status"],
            refund_fee=refund_fee,
            total_fee=total_fee,
        )

    def jsapi_params(
        self, prepay_id: str, *, timestamp: str | None = None, nonce_str: str | None = None
    ) -> dict[str, str]:
        """Parameters for ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)``, signed as wechatpy's
        ``WeChatJSAPI.get_jsapi_params`` signs them (MD5 over appId, timeStamp, nonceStr, package, signType)."""
        if not prepay_id:
            raise ValueError("prepay_id is empty")
        data = {
            "appId": self._config.app_id,
            "timeStamp": timestamp or str(int(time.time())),
            "nonceStr": nonce_str or _nonce(),
            "package": f"prepay_id={prepay_id}",
            "signType": "MD5",
        }
        data["paySign"] = _sign(data, self._config.api_key)
        return data

    @staticmethod
    def answer(ok: bool, message: str = "OK") -> str:
        """The XML to answer a notify with: SUCCESS when handled (WeChat stops retrying), FAIL otherwise."""
        code = "SUCCESS" if ok else "FAIL"
        msg = _XML_INVALID_RE.sub("", message).replace("]]>", "]] >")
        return f"<xml><return_code><![CDATA[{code}]]></return_code><return_msg><![CDATA[{msg}]]></return_msg></xml>"

    # ------------------------------------------------------------ transport

    async def _call(
        self, path: str, params: dict[str, str], *, out_trade_no: str, mutual_tls: bool = False
    ) -> dict[str, str]:
        """Sign and POST ``params`` to ``path``; the verified answer, or :class:`WeChatPayError`."""
        request = {"appid": self._config.app_id, "mch_id": self._config.mch_id, "nonce_str": _nonce(), **params}
        for value in request.values():
            _check_value(value)
        payload = dict_to_xml(request, _sign(request, self._config.api_key)).encode("utf-8")
        raw = await self._post(path, payload, out_trade_no=out_trade_no, mutual_tls=mutual_tls)
        try:
            data = _parse_xml(raw)
        except ValueError:
            logger.warning("wechat pay %s %s: unreadable answer", path, out_trade_no)
            raise WeChatPayError("BAD_RESPONSE", "answer is not WeChat Pay XML") from None
        if ("sign" in data or data.get("result_code") == "SUCCESS") and not _sign_ok(data, self._config.api_key):
            logger.warning("wechat pay %s %s: answer signature mismatch", path, out_trade_no)
            raise WeChatPayError("SIGNERROR", "answer signature mismatch")
        if data.get("return_code") != "SUCCESS":
            message = data.get("return_msg", "")
            logger.warning("wechat pay %s %s: return_code FAIL %s", path, out_trade_no, message)
            raise WeChatPayError("FAIL", message)
        if data.get("result_code") != "SUCCESS":
            code = data.get("err_code") or "FAIL"
            logger.info("wechat pay %s %s: %s", path, out_trade_no, code)
            raise WeChatPayError(code, data.get("err_code_des", ""))
        logger.debug("wechat pay %s %s: SUCCESS", path, out_trade_no)
        return data

    async def _post(self, path: str, payload: bytes, *, out_trade_no: str, mutual_tls: bool) -> bytes:
        """POST with retries on network errors and 5xx; the answer's body."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        url = f"{self._api_url}{path}"
        ssl_arg: ssl.SSLContext | bool = self._ssl if (mutual_tls and self._ssl is not None) else True
        error = WeChatPayError("NETWORK", "not attempted")
        for attempt, delay in enumerate((0.0, *self.RETRY_DELAYS)):
            if delay:
                await asyncio.sleep(delay)
            try:
                async with self._session.post(
                    url, data=payload, headers={"Content-Type": "text/xml"}, ssl=ssl_arg
                ) as response:
                    body = await response.read()
                    if response.status == 200:
                        return body
                    error = WeChatPayError(f"HTTP_{response.status}", f"{path} answered HTTP {response.status}")
                    if response.status < 500:
                        raise error
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = WeChatPayError("NETWORK", f"{path}: {type(exc).__name__}")
            logger.warning("wechat pay %s %s: %s (attempt %d)", path, out_trade_no, error.code, attempt + 1)
        raise error


def _check_out_trade_no(out_trade_no: str) -> None:
    if not _OUT_TRADE_NO_RE.fullmatch(out_trade_no):
        raise ValueError("out_trade_no must be 1-32 of A-Z a-z 0-9 _ - | *")
