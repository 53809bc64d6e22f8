"""A fake WeChat Pay v2 (XML API) server on aiohttp, for the real :class:`bots.wechat.pay.WeChatPayClient`.

It signs and verifies independently of the client (its own MD5 / HMAC-SHA256
code, not wechatpy's), so a client that signs wrongly fails here as it would
at WeChat. Tests drive the payer's side (``pay``, ``deliver_notify``), build
notifies (``notify_xml``, ``refund_notify_xml``) and inject faults
(``fail_next``, ``http_error_next``).

What it guarantees, like WeChat:

* ``POST /pay/unifiedorder``, ``/pay/orderquery``, ``/pay/closeorder``,
  ``/secapi/pay/refund`` with an XML body; a body that is not XML, a missing
  or wrong ``sign`` (MD5, or HMAC-SHA256 when ``sign_type`` says so), a
  missing required field, or an ``appid`` / ``mch_id`` that is not this
  merchant's → ``return_code`` FAIL with WeChat's ``return_msg``;
* business errors → ``return_code`` SUCCESS, ``result_code`` FAIL,
  ``err_code`` / ``err_code_des``; every ``return_code`` SUCCESS answer is
  signed with the merchant key;
* orders are idempotent by ``out_trade_no`` (same parameters → same
  ``prepay_id``; different ones → ``INVALID_REQUEST`` 商户订单号重复; paid →
  ``ORDERPAID``; closed → ``ORDERCLOSED``), ``body`` ≤ 127 UTF-8 bytes,
  NATIVE needs ``product_id``, JSAPI ``openid``, ``time_expire`` (China
  time) must be at least a minute ahead of the clock and an expired order
  cannot be paid;
* refunds need a paid order, the order's ``total_fee``, and no more than what
  is left to refund; they are idempotent by ``out_refund_no`` (same request →
  same ``refund_id``, nothing refunded twice);
* payment notifies are signed like WeChat's; refund notifies carry
  ``req_info`` encrypted with AES-256-ECB, key ``md5(api_key)`` (wechatpy's
  ``RefundCrypto``).

Knowingly simpler: no mutual TLS (refunds come over plain HTTP), no sandbox,
no ``transaction_id`` lookups, no 5-minute minimum before ``closeorder``,
refunds stay PROCESSING until ``refund_notify_xml`` settles them, and
``notify_url`` is not retried by the fake (``deliver_notify`` posts once).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import aiohttp
import defusedxml
from aiohttp import web
from defusedxml.ElementTree import fromstring
from fakes.serving import serve_local
from wechatpy.crypto import RefundCrypto

__all__ = ["FakeOrder", "FakePay", "FakeRefund", "parse_xml", "sign_params", "to_xml"]

CHINA = ZoneInfo("Asia/Shanghai")
PATHS = ("/pay/unifiedorder", "/pay/orderquery", "/pay/closeorder", "/secapi/pay/refund")
_ALNUM = string.ascii_letters + string.digits
_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "已关闭",
    "USERPAYING": "用户支付中",
    "PAYERROR": "支付失败",
}


@dataclass
class FakeOrder:
    """An order as WeChat keeps it."""

    out_trade_no: str
    total_fee: int
    trade_type: str
    body: str
    notify_url: str
    prepay_id: str
    code_url: str
    openid: str = ""
    product_id: str = ""
    time_expire: datetime | None = None
    state: str = "NOTPAY"
    transaction_id: str = ""
    time_end: str = ""
    refunded: int = 0


@dataclass
class FakeRefund:
    """A refund as WeChat keeps it (``status`` PROCESSING until a refund notify settles it)."""

    out_refund_no: str
    out_trade_no: str
    refund_id: str
    transaction_id: str
    refund_fee: int
    total_fee: int
    reason: str = ""
    notify_url: str = ""
    status: str = "PROCESSING"
    success_time: str = ""
    requests: int = 1


@dataclass
class _Fault:
    suffix: str
    times: int
    err_code: str = ""
    err_code_des: str = ""
    status: int = 0
    processed: bool = False


@dataclass
class _Refusal(Exception):
    """A business error: result_code FAIL."""

    err_code: str
    err_code_des: str
    extra: dict[str, str] = field(default_factory=dict)


class _Malformed(Exception):
    """A protocol error: return_code FAIL with ``return_msg``."""


def sign_params(params: dict[str, Any], api_key: str, sign_type: str = "MD5") -> str:
    """WeChat Pay v2 signature, implemented independently of wechatpy: sorted non-empty ``k=v`` joined by ``&``,
    then ``&key=<api_key>``, MD5 (or HMAC-SHA256 keyed by the api key), upper-case hex."""
    pairs = [f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] not in ("", None)]
    text = "&".join([*pairs, f"key={api_key}"]).encode("utf-8")
    if sign_type == "HMAC-SHA256":
        return hmac.new(api_key.encode(), text, hashlib.sha256).hexdigest().upper()
    return hashlib.md5(text).hexdigest().upper()


def to_xml(fields: dict[str, Any], root: str = "xml") -> bytes:
    """``<root><k><![CDATA[v]]></k>…</root>`` (numbers bare), as WeChat writes it."""
    parts = [f"<{root}>"]
    for key, value in fields.items():
        text = str(value)
        if isinstance(value, int) or text.isdigit():
            parts.append(f"<{key}>{text}</{key}>")
        elif "]]>" in text:
            parts.append(f"<{key}>{escape(text)}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{text}]]></{key}>")
    parts.append(f"</{root}>")
    return "".join(parts).encode("utf-8")


def parse_xml(body: bytes) -> dict[str, str]:
    """A flat XML document as a dict, parsed safely; ValueError if it is not one."""
    try:
        root = fromstring(body, forbid_dtd=True)
    except (ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
        raise ValueError("bad xml") from exc
    return {child.tag: child.text or "" for child in root}


class FakePay:
    """An in-memory WeChat Pay merchant account behind an aiohttp app."""

    def __init__(
        self,
        *,
        app_id: str = "wx0123456789abcdef",
        mch_id: str = "1900000109",
        api_key: str = "k" * 32,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app_id = app_id
        self.mch_id = mch_id
        self.api_key = api_key
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.base_url = ""
        self.port = 0
        #: every request that reached a route: (path, parsed fields), including refused ones.
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.orders: dict[str, FakeOrder] = {}
        #: by out_refund_no
        self.refunds: dict[str, FakeRefund] = {}
        #: (url, body, status, answer) of every notify delivered
        self.deliveries: list[tuple[str, bytes, int, str]] = []
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # ================================================================ lifecycle

    def install(self, app: web.Application) -> None:
        """Add the WeChat Pay routes to ``app`` (before it starts)."""
        for path in PATHS:
            app.router.add_post(path, self._handle)

    async def start(self) -> str:
        """Serve on 127.0.0.1 on a free port; returns (and sets) ``base_url``, the client's ``api_url``."""
        app = web.Application()
        self.install(app)
        self._runner, self.port = await serve_local(app)
        self.base_url = f"http://127.0.0.1:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop the standalone server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ================================================================ fault injection

    def fail_next(self, path_suffix: str, err_code: str, times: int = 1, err_code_des: str = "") -> None:
        """The next ``times`` calls whose path ends with ``path_suffix`` answer result_code FAIL ``err_code``
        (signed, after the request's own checks; nothing is changed)."""
        self._faults.append(_Fault(path_suffix, times, err_code=err_code, err_code_des=err_code_des or err_code))

    def http_error_next(self, path_suffix: str, status: int = 502, times: int = 1, *, processed: bool = False) -> None:
        """The next ``times`` calls whose path ends with ``path_suffix`` answer HTTP ``status``. With
        ``processed`` the request is carried out first and only its answer is lost (a timeout after WeChat
        acted: what idempotency keys are for)."""
        self._faults.append(_Fault(path_suffix, times, status=status, processed=processed))

    def _take_fault(self, path: str, *, http: bool) -> _Fault | None:
        for fault in self._faults:
            if path.endswith(fault.suffix) and bool(fault.status) == http and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ================================================================ the payer's side

    def pay(self, out_trade_no: str, openid: str | None = None, *, transaction_id: str | None = None) -> bytes:
        """The payer pays: the order becomes SUCCESS; returns the signed notify WeChat would POST to notify_url."""
        order = self.orders.get(out_trade_no)
        if order is None:
            raise KeyError(f"no order {out_trade_no!r}")
        if order.state not in ("NOTPAY", "USERPAYING"):
            raise ValueError(f"order {out_trade_no!r} is {order.state}, it cannot be paid")
        if order.time_expire is not None and self.clock() >= order.time_expire:
            raise ValueError(f"order {out_trade_no!r} expired")
        order.openid = openid or order.openid or f"oUpF8u{secrets.token_hex(11)}"
        order.transaction_id = transaction_id or f"4200{self.clock().astimezone(CHINA):%Y%m%d}{next(self._ids):016d}"
        order.time_end = self._china_now()
        order.state = "SUCCESS"
        return self.notify_xml(out_trade_no)

    async def deliver_notify(self, body: bytes, url: str | None = None) -> str:
        """POST a notify (payment or refund) to ``url`` or, by default, the order's (or refund's) notify_url;
        returns the answer's text."""
        target = url or self._notify_url_for(body)
        if not target:
            raise ValueError("no notify_url for this notify; pass url=")
        async with (
            aiohttp.ClientSession() as session,
            session.post(target, data=body, headers={"Content-Type": "text/xml"}) as response,
        ):
            text = await response.text()
            self.deliveries.append((target, body, response.status, text))
            return text

    def _notify_url_for(self, body: bytes) -> str:
        data = parse_xml(body)
        if data.get("out_trade_no") in self.orders:
            return self.orders[data["out_trade_no"]].notify_url
        if data.get("req_info"):
            info = parse_xml(self._crypto().decrypt(data["req_info"]))
            refund = self.refunds.get(info.get("out_refund_no", ""))
            if refund is not None:
                return refund.notify_url
        return ""

    # ================================================================ notify builders

    def notify_xml(
        self,
        out_trade_no: str | None = None,
        /,
        *,
        resign: bool = True,
        sign: str | None = None,
        drop_sign: bool = False,
        sign_type: str = "MD5",
        key: str | None = None,
        **overrides: str | int | None,
    ) -> bytes:
        """A payment notify for ``out_trade_no`` (its current data when the fake knows it, plausible paid data
        otherwise), signed with this merchant's key.

        * correct: ``notify_xml("T1")``;
        * a field tampered with after signing: ``notify_xml("T1", total_fee=1, resign=False)``;
        * another merchant, signed correctly: ``notify_xml("T1", appid="wxother")`` / ``mch_id=...``;
        * a failed payment: ``notify_xml("T1", result_code="FAIL", err_code="NOTENOUGH")``;
        * signed with another key: ``key="x" * 32``; an explicit ``sign="..."``; no sign: ``drop_sign=True``;
        * HMAC-SHA256: ``sign_type="HMAC-SHA256"`` (adds the ``sign_type`` field).

        An override of ``None`` removes the field; ``out_trade_no`` can be overridden too (it is positional-only).
        """
        fields = self._notify_fields(out_trade_no)
        if sign_type != "MD5":
            fields["sign_type"] = sign_type

        def apply(target: dict[str, Any]) -> None:
            for name, value in overrides.items():
                if value is None:
                    target.pop(name, None)
                else:
                    target[name] = value

        if resign:
            apply(fields)
        signature = sign_params(fields, key or self.api_key, sign_type)
        if not resign:
            apply(fields)
        if not drop_sign:
            fields["sign"] = sign if sign is not None else signature
        return to_xml(fields)

    def _notify_fields(self, out_trade_no: str | None) -> dict[str, Any]:
        order = self.orders.get(out_trade_no or "")
        number = out_trade_no or f"T{next(self._ids):08d}"
        fields: dict[str, Any] = {
            "appid": self.app_id,
            "bank_type": "CMB_CREDIT",
            "cash_fee": order.total_fee if order else 100,
            "fee_type": "CNY",
            "is_subscribe": "Y",
            "mch_id": self.mch_id,
            "nonce_str": self._nonce(),
            "openid": (order.openid if order else "") or "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "out_trade_no": number,
            "result_code": "SUCCESS",
            "return_code": "SUCCESS",
            "time_end": (order.time_end if order else "") or self._china_now(),
            "total_fee": order.total_fee if order else 100,
            "trade_type": order.trade_type if order else "NATIVE",
            "transaction_id": (order.transaction_id if order else "") or f"4200000{next(self._ids):021d}",
        }
        return fields

    def refund_notify_xml(
        self,
        out_refund_no: str,
        *,
        refund_status: str = "SUCCESS",
        appid: str | None = None,
        mch_id: str | None = None,
        key: str | None = None,
        req_info: str | None = None,
    ) -> bytes:
        """The encrypted refund notify for a refund the fake made; settles it as ``refund_status``.

        ``appid`` / ``mch_id`` override the outer fields, ``key`` encrypts with another api key,
        ``req_info`` replaces the ciphertext outright.
        """
        refund = self.refunds[out_refund_no]
        refund.status = refund_status
        refund.success_time = (
            f"{self.clock().astimezone(CHINA):%Y-%m-%d %H:%M:%S}" if refund_status == "SUCCESS" else ""
        )
        inner = {
            "out_refund_no": refund.out_refund_no,
            "out_trade_no": refund.out_trade_no,
            "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS",
            "refund_fee": refund.refund_fee,
            "refund_id": refund.refund_id,
            "refund_recv_accout": "支付用户零钱",
            "refund_request_source": "API",
            "refund_status": refund_status,
            "settlement_refund_fee": refund.refund_fee,
            "settlement_total_fee": refund.total_fee,
            "success_time": refund.success_time,
            "total_fee": refund.total_fee,
            "transaction_id": refund.transaction_id,
        }
        if req_info is None:
            req_info = self._crypto(key).encrypt(to_xml(inner, root="root")).decode("ascii")
        outer = {
            "return_code": "SUCCESS",
            "appid": appid or self.app_id,
            "mch_id": mch_id or self.mch_id,
            "nonce_str": self._nonce(),
            "req_info": req_info,
        }
        return to_xml(outer)

    def _crypto(self, key: str | None = None) -> RefundCrypto:
        return RefundCrypto(hashlib.md5((key or self.api_key).encode()).hexdigest().encode())

    # ================================================================ the API

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        raw = await request.read()
        try:
            params = parse_xml(raw)
        except ValueError:
            self.calls.append((path, {}))
            return self._answer_fail("XML格式错误")
        self.calls.append((path, params))
        fault = self._take_fault(path, http=True)
        if fault is not None and not fault.processed:
            return web.Response(status=fault.status, text="Bad Gateway")
        answer = self._process(path, params)
        if fault is not None:  # processed, but the answer is lost
            return web.Response(status=fault.status, text="Bad Gateway")
        return answer

    def _process(self, path: str, params: dict[str, str]) -> web.Response:
        try:
            self._check_envelope(params)
            business = self._take_fault(path, http=False)
            if business is not None:
                raise _Refusal(business.err_code, business.err_code_des)
            handlers = {
                "/pay/unifiedorder": self._unifiedorder,
                "/pay/orderquery": self._orderquery,
                "/pay/closeorder": self._closeorder,
                "/secapi/pay/refund": self._refund,
            }
            handler = next(h for suffix, h in handlers.items() if path.endswith(suffix))
            result: dict[str, Any] = {"result_code": "SUCCESS", **handler(params)}
        except _Malformed as exc:
            return self._answer_fail(str(exc))
        except _Refusal as exc:
            result = {"result_code": "FAIL", "err_code": exc.err_code, "err_code_des": exc.err_code_des, **exc.extra}
        return self._answer(result)

    def _check_envelope(self, params: dict[str, str]) -> None:
        for name in ("appid", "mch_id", "nonce_str", "sign"):
            if not params.get(name):
                raise _Malformed(f"缺少参数{name}")
        sign_type = params.get("sign_type") or "MD5"
        if sign_type not in ("MD5", "HMAC-SHA256"):
            raise _Malformed("sign_type参数错误")
        expected = sign_params(params, self.api_key, sign_type)
        if not hmac.compare_digest(expected.encode(), params["sign"].encode()):
            raise _Malformed("签名错误")
        if params["mch_id"] != self.mch_id:
            raise _Malformed("mch_id参数错误")
        if params["appid"] != self.app_id:
            raise _Malformed("appid和mch_id不匹配")

    @staticmethod
    def _require(params: dict[str, str], *names: str) -> None:
        for name in names:
            if not params.get(name):
                raise _Malformed(f"缺少参数{name}")

    @staticmethod
    def _fee(params: dict[str, str], name: str) -> int:
        value = params.get(name, "")
        if not value.isascii() or not value.isdigit() or int(value) <= 0:
            raise _Malformed(f"{name}参数格式错误")
        return int(value)

    def _unifiedorder(self, params: dict[str, str]) -> dict[str, Any]:
        self._require(params, "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type")
        total_fee = self._fee(params, "total_fee")
        if len(params["body"].encode("utf-8")) > 127:
            raise _Malformed("body参数长度有误")
        if len(params["out_trade_no"]) > 32:
            raise _Malformed("out_trade_no参数长度有误")
        trade_type = params["trade_type"]
        if trade_type not in ("NATIVE", "JSAPI", "APP", "MWEB"):
            raise _Malformed("trade_type参数格式错误")
        if trade_type == "NATIVE" and not params.get("product_id"):
            raise _Refusal("PARAM_ERROR", "trade_type=NATIVE时，product_id为必填参数")
        if trade_type == "JSAPI" and not params.get("openid"):
            raise _Refusal("PARAM_ERROR", "trade_type=JSAPI时，openid为必填参数")
        time_expire = None
        if params.get("time_expire"):
            try:
                local = datetime.strptime(params["time_expire"], "%Y%m%d%H%M%S")
            except ValueError:
                raise _Malformed("time_expire参数格式错误") from None
            time_expire = local.replace(tzinfo=CHINA)
            if time_expire - self.clock() < timedelta(minutes=1):
                raise _Refusal("PARAM_ERROR", "time_expire时间过短，刷卡至少1分钟，其他5分钟")
        number = params["out_trade_no"]
        order = self.orders.get(number)
        if order is not None:
            if order.state in ("SUCCESS", "REFUND"):
                raise _Refusal("ORDERPAID", "该订单已支付")
            if order.state == "CLOSED":
                raise _Refusal("ORDERCLOSED", "该订单已关")
            same = (order.total_fee, order.trade_type, order.body, order.openid, order.product_id) == (
                total_fee,
                trade_type,
                params["body"],
                params.get("openid", ""),
                params.get("product_id", ""),
            )
            if not same:
                raise _Refusal("INVALID_REQUEST", "201 商户订单号重复")
        else:
            now = self.clock().astimezone(CHINA)
            order = FakeOrder(
                out_trade_no=number,
                total_fee=total_fee,
                trade_type=trade_type,
                body=params["body"],
                notify_url=params["notify_url"],
                prepay_id=f"wx{now:%d%H%M%S}{secrets.token_hex(12)}",
                code_url=f"weixin://wxpay/bizpayurl?pr={''.join(secrets.choice(_ALNUM) for _ in range(7))}",
                openid=params.get("openid", ""),
                product_id=params.get("product_id", ""),
                time_expire=time_expire,
            )
            self.orders[number] = order
        result = {"trade_type": trade_type, "prepay_id": order.prepay_id}
        if trade_type == "NATIVE":
            result["code_url"] = order.code_url
        return result

    def _orderquery(self, params: dict[str, str]) -> dict[str, Any]:
        order = self._order(params)
        result: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "trade_state": order.state,
            "trade_state_desc": _STATE_DESC.get(order.state, order.state),
        }
        if order.state in ("SUCCESS", "REFUND"):
            result.update(
                {
                    "openid": order.openid,
                    "is_subscribe": "Y",
                    "trade_type": order.trade_type,
                    "bank_type": "CMB_CREDIT",
                    "total_fee": order.total_fee,
                    "cash_fee": order.total_fee,
                    "fee_type": "CNY",
                    "transaction_id": order.transaction_id,
                    "time_end": order.time_end,
                }
            )
        return result

    def _closeorder(self, params: dict[str, str]) -> dict[str, Any]:
        order = self._order(params)
        if order.state in ("SUCCESS", "REFUND"):
            raise _Refusal("ORDERPAID", "订单已支付，不能发起关单")
        if order.state == "CLOSED":
            raise _Refusal("ORDERCLOSED", "订单已关闭，无法重复关闭")
        order.state = "CLOSED"
        return {}

    def _refund(self, params: dict[str, str]) -> dict[str, Any]:
        self._require(params, "out_trade_no", "out_refund_no", "total_fee", "refund_fee")
        total_fee = self._fee(params, "total_fee")
        refund_fee = self._fee(params, "refund_fee")
        order = self._order(params)
        number = params["out_refund_no"]
        existing = self.refunds.get(number)
        if existing is not None:
            if (existing.out_trade_no, existing.refund_fee, existing.total_fee) != (
                order.out_trade_no,
                refund_fee,
                total_fee,
            ):
                raise _Refusal("INVALID_REQUEST", "同一笔退款单号的退款金额或订单不一致")
            existing.requests += 1
            return self._refund_result(existing)
        if order.state not in ("SUCCESS", "REFUND"):
            raise _Refusal("TRADE_STATE_ERROR", "订单状态错误")
        if total_fee != order.total_fee:
            raise _Refusal("INVALID_REQUEST", "订单金额与原订单不一致")
        if refund_fee > order.total_fee - order.refunded:
            raise _Refusal("INVALID_REQUEST", "退款金额大于可退金额")
        refund = FakeRefund(
            out_refund_no=number,
            out_trade_no=order.out_trade_no,
            refund_id=f"5030{next(self._ids):025d}",
            transaction_id=order.transaction_id,
            refund_fee=refund_fee,
            total_fee=total_fee,
            reason=params.get("refund_desc", ""),
            notify_url=params.get("notify_url", ""),
        )
        self.refunds[number] = refund
        order.refunded += refund_fee
        order.state = "REFUND"
        return self._refund_result(refund)

    @staticmethod
    def _refund_result(refund: FakeRefund) -> dict[str, Any]:
        return {
            "transaction_id": refund.transaction_id,
            "out_trade_no": refund.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_fee": refund.refund_fee,
            "total_fee": refund.total_fee,
            "cash_fee": refund.total_fee,
        }

    def _order(self, params: dict[str, str]) -> FakeOrder:
        self._require(params, "out_trade_no")
        order = self.orders.get(params["out_trade_no"])
        if order is None:
            raise _Refusal("ORDERNOTEXIST", "订单不存在")
        return order

    # ================================================================ answers

    def _answer(self, result: dict[str, Any]) -> web.Response:
        fields: dict[str, Any] = {
            "return_code": "SUCCESS",
            "return_msg": "OK",
            "appid": self.app_id,
            "mch_id": self.mch_id,
            "nonce_str": self._nonce(),
            **result,
        }
        fields["sign"] = sign_params(fields, self.api_key)
        return web.Response(body=to_xml(fields), content_type="text/xml", charset="utf-8")

    @staticmethod
    def _answer_fail(message: str) -> web.Response:
        return web.Response(
            body=to_xml({"return_code": "FAIL", "return_msg": message}), content_type="text/xml", charset="utf-8"
        )

    def _nonce(self) -> str:
        return "".join(secrets.choice(_ALNUM) for _ in range(32))

    def _china_now(self) -> str:
        return f"{self.clock().astimezone(CHINA):%Y%m%d%H%M%S}"
