"""WeChat Pay in the conversation: pay links and QR codes out, verified notifies in.

* **Showing an invoice** (:meth:`PayDesk.present`): a Native-pay order
  (``<order>-N``) whose ``code_url`` is drawn as a QR code, for paying with
  another device, and a link to our H5 checkout page for paying right here.
* **The H5 page** (``GET /pay/wechat/<order>?s=<sig>``): the link is signed,
  so order codes can't be enumerated. The page learns the payer's openid
  through OAuth (snsapi_base), refuses a payer who is not the order's owner,
  creates a JSAPI order (``<order>-J``) and calls
  ``WeixinJSBridge.invoke('getBrandWCPayRequest')`` with a server-computed
  paySign. It says whether WeChat reported success, and never grants access:
  only the notify does.
* **The notify** (``POST /wechat/pay/notify``) is checked in this order: the
  sign, return_code and result_code, appid and mch_id (all in
  :meth:`WeChatPayClient.verify_notify`), that the order exists, that
  total_fee equals its amount in fen. A failure answers FAIL and changes
  nothing. Then, under a lock and the payments table's unique key, the core
  confirms the payment exactly once; a repeat answers SUCCESS and does
  nothing else. The learner hears of it by customer-service message, or a
  template notice when the window is closed.
* **Refunds** use ``out_refund_no = R<out_trade_no>``, the same on every
  retry, so WeChat refunds once; the refund notify is decrypted and applied.
* **Reconciliation**: pending orders are asked about (orderquery), so a lost
  notify still completes the purchase; expired ones are closed (closeorder).

A charge is recorded as ``<out_trade_no>/<transaction_id>``: unique per
charge, and enough to refund it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from bots.tasks import BackgroundTasks
from bots.wechat import qr
from bots.wechat.api import WeChatAPI, WeChatAPIError
from bots.wechat.config import PROVIDER, WeChatConfig
from bots.wechat.outbound import Invoicer
from bots.wechat.pay import NotifyRejected, OrderPaid, PaidNotice, WeChatPayClient, WeChatPayError
from core.catalog import Course, Plan
from core.channel import Capabilities
from core.clock import Clock
from core.contacts import Platform, platform_from_user_agent
from core.errors import GatewayError
from core.events import PaymentRefunded, PaymentSucceeded, Sender
from core.i18n import Translator, translator
from core.money import Money
from core.orders import ItemKind, Order, OrderStatus
from core.ports import KeyValueStore, UnitOfWorkFactory
from core.replies import InvoiceReply, Reply
from core.users import Ref
from handlers.dispatcher import Dispatcher

__all__ = ["PayDesk", "WeChatPayGateway", "split_charge"]

log = logging.getLogger(__name__)

MAX_NOTIFY_BYTES = 64 * 1024
NATIVE, JSAPI = "N", "J"

Deliver = Callable[[str, list[Reply], str | None], Awaitable[None]]


def split_charge(charge_id: str) -> tuple[str, str]:
    """``<out_trade_no>/<transaction_id>`` → its two parts (ValueError when it isn't one of ours)."""
    out_trade_no, sep, transaction_id = charge_id.partition("/")
    if not sep or not out_trade_no or not transaction_id:
        raise ValueError(f"not a WeChat Pay charge id: {charge_id!r}")
    return out_trade_no, transaction_id


def trade_no(order_code: str, kind: str) -> str:
    return f"{order_code}-{kind}"


def order_code_of(out_trade_no: str) -> str:
    return out_trade_no.rsplit("-", 1)[0]


class PayDesk(Invoicer):
    def __init__(
        self,
        config: WeChatConfig,
        *,
        pay: WeChatPayClient,
        api: WeChatAPI,
        dispatcher: Dispatcher,
        uow_factory: UnitOfWorkFactory,
        kv: KeyValueStore,
        clock: Clock,
        caps: Capabilities,
        deliver: Deliver,
        record_platform: Callable[[str, Platform], Awaitable[None]],
    ) -> None:
        assert config.public_base_url is not None
        self.config = config
        self.pay = pay
        self.api = api
        self.dispatcher = dispatcher
        self.uow_factory = uow_factory
        self.kv = kv
        self.clock = clock
        self.caps = caps
        self.deliver = deliver
        self.record_platform = record_platform
        self.base = config.public_base_url
        self._link_key = hashlib.sha256(b"ks-pay-link:" + config.app_secret.encode()).digest()
        self.tasks = BackgroundTasks("a WeChat Pay follow-up", log)

    # -- presenting an invoice ------------------------------------------------------------------

    def link(self, order_code: str) -> str:
        return f"{self.base}/pay/wechat/{order_code}?s={self._sig(order_code)}"

    def _sig(self, order_code: str) -> str:
        return hmac.new(self._link_key, order_code.encode(), hashlib.sha256).hexdigest()[:20]

    async def present(self, openid: str, invoice: InvoiceReply, t: Translator) -> tuple[str, bytes | None]:
        text = t(
            "wechat.invoice",
            title=invoice.title,
            description=invoice.description,
            link=html.escape(self.link(invoice.order_code), quote=True),
            pay=invoice.pay_label or t("btn.pay", price=t.money(invoice.price)),
        )
        png: bytes | None = None
        try:
            code_url = await self._native(invoice)
            png = await asyncio.to_thread(qr.png, code_url)
        except (WeChatPayError, ValueError) as exc:
            log.error("Native pay order for %s failed: %s", invoice.order_code, exc)
        return text, png

    async def _native(self, invoice: InvoiceReply) -> str:
        key = f"wechat:prepay:{trade_no(invoice.order_code, NATIVE)}"
        cached = await self.kv.get_state(key)
        if cached and isinstance(cached.get("code_url"), str):
            return str(cached["code_url"])
        order = await self._order(invoice.order_code)
        if order is None or order.price.currency != "CNY":
            raise ValueError("no payable CNY order")
        result = await self.pay.unified_order(
            out_trade_no=trade_no(order.code, NATIVE),
            body=invoice.title,
            total_fee=order.price.amount,
            trade_type="NATIVE",
            product_id=order.code,
            time_expire=order.expires_at,
        )
        ttl = max(60.0, (order.expires_at - self.clock.now()).total_seconds())
        await self.kv.set_state(key, {"code_url": result["code_url"]}, ttl)
        return result["code_url"]

    async def _order(self, code: str) -> Order | None:
        async with self.uow_factory() as uow:
            return await uow.orders.get_by_code(code)

    # -- the H5 checkout page -------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        code = request.match_info.get("order", "")
        t = translator("zh")  # until we know whose order it is
        sig = request.query.get("s", "")
        if not (4 <= len(code) <= 32 and code.isalnum()) or not hmac.compare_digest(sig, self._sig(code)):
            return _page(t, t("wechat.page.bad_link"), status=404)
        order = await self._order(code)
        if order is None:
            return _page(t, t("wechat.page.bad_link"), status=404)
        async with self.uow_factory() as uow:
            owner = await uow.users.get(order.user_id)
            refs = await uow.users.refs(order.user_id)
        if owner is not None:
            t = translator(owner.lang)
        owner_openids = {r.external_id for r in refs if r.channel == "wechat"}
        if order.status is OrderStatus.PAID:
            return _page(t, t("wechat.page.already_paid"))
        if order.status is not OrderStatus.PENDING or order.expires_at <= self.clock.now():
            return _page(t, t("wechat.page.expired"))
        platform = platform_from_user_agent(request.headers.get("User-Agent", ""))
        oauth_code = request.query.get("code")
        if not oauth_code:
            back = f"{self.base}/pay/wechat/{code}?s={sig}"
            query = urlencode(
                {
                    "appid": self.config.app_id,
                    "redirect_uri": back,
                    "response_type": "code",
                    "scope": "snsapi_base",
                    "state": "ks",
                }
            )
            raise web.HTTPFound(f"{self.config.oauth_url}?{query}#wechat_redirect")
        if len(oauth_code) > 128:
            return _page(t, t("wechat.page.bad_link"), status=400)
        try:
            openid = await self.api.oauth_openid(oauth_code)
        except WeChatAPIError as exc:
            log.warning("OAuth on the pay page failed: %s", exc.errcode)
            return _page(t, t("wechat.page.try_again"), status=400)
        await self.record_platform(openid, platform)
        if openid not in owner_openids:
            return _page(t, t("wechat.page.not_yours"), status=403)
        if platform is Platform.IOS and self.config.ios_block:
            return _page(t, t("ios.no_sale"))
        try:
            result = await self.pay.unified_order(
                out_trade_no=trade_no(order.code, JSAPI),
                body=await self._title(order),
                total_fee=order.price.amount,
                trade_type="JSAPI",
                openid=openid,
                client_ip=(request.remote or "127.0.0.1"),
                time_expire=order.expires_at,
            )
        except WeChatPayError as exc:
            log.error("JSAPI order for %s failed: %s", order.code, exc.code)
            return _page(t, t("wechat.page.try_again"), status=502)
        params = self.pay.jsapi_params(result["prepay_id"])
        return _checkout_page(t, await self._title(order), t.money(order.price), params)

    async def _title(self, order: Order) -> str:
        async with self.uow_factory() as uow:
            item: Course | Plan | None
            if order.item_kind is ItemKind.COURSE:
                item = await uow.catalog.get_course_by_id(order.item_id)
            else:
                item = await uow.catalog.get_plan_by_id(order.item_id)
        return item.title if item else order.code

    # -- notifies -------------------------------------------------------------------------------

    async def notify(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_NOTIFY_BYTES + 1)
        if len(body) > MAX_NOTIFY_BYTES:
            return _answer(False, "too large")
        try:
            notice = self.pay.verify_notify(body)
        except NotifyRejected as exc:
            log.warning("WeChat Pay notify rejected: %s", exc.reason)
            return _answer(False, exc.reason)
        ok, why = await self.settle(notice, source="notify")
        return _answer(ok, why)

    async def settle(self, notice: PaidNotice, *, source: str) -> tuple[bool, str]:
        """Apply a verified payment once. (False, why) means: answer FAIL, WeChat will try again."""
        code = order_code_of(notice.out_trade_no)
        order = await self._order(code)
        if order is None:
            log.error("WeChat Pay %s for an unknown order %s", source, notice.out_trade_no)
            return False, "unknown order"
        if order.price.currency != "CNY" or notice.total_fee != order.price.amount:
            log.error(
                "WeChat Pay %s amount mismatch for %s: paid %s fen, order is %s",
                source,
                code,
                notice.total_fee,
                order.price,
            )
            return False, "amount mismatch"
        charge_id = f"{notice.out_trade_no}/{notice.transaction_id}"
        lock_key = f"wechat:settle:{charge_id}"
        token = await self.kv.acquire_lock(lock_key, 30)
        if token is None:
            return False, "busy"  # a twin is applying it right now; WeChat retries, and then it's a duplicate
        try:
            async with self.uow_factory() as uow:
                if await uow.orders.get_payment(PROVIDER, charge_id) is not None:
                    return True, "OK"  # already applied: a retried notify is a no-op
                refs = await uow.users.refs(order.user_id)
            openid = next((r.external_id for r in refs if r.channel == "wechat"), notice.openid)
            event = PaymentSucceeded(
                Sender(Ref("wechat", openid), "zh"),
                PROVIDER,
                charge_id,
                code,
                Money(notice.total_fee, "CNY"),
            )
            replies = await self.dispatcher.dispatch(event, self.caps)
            async with self.uow_factory() as uow:
                applied = await uow.orders.get_payment(PROVIDER, charge_id) is not None
            if not applied:
                return False, "not applied"  # an internal error: nothing was committed, so let WeChat retry
        finally:
            await self.kv.release_lock(lock_key, token)
        self.tasks.spawn(self.deliver(openid, replies, "payment"))
        other = trade_no(code, JSAPI if notice.out_trade_no.endswith("-" + NATIVE) else NATIVE)
        self.tasks.spawn(self._close_quietly(other))
        return True, "OK"

    async def refund_notify(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_NOTIFY_BYTES + 1)
        if len(body) > MAX_NOTIFY_BYTES:
            return _answer(False, "too large")
        try:
            notice = self.pay.parse_refund_notify(body)
        except NotifyRejected as exc:
            log.warning("WeChat Pay refund notify rejected: %s", exc.reason)
            return _answer(False, exc.reason)
        if notice.refund_status != "SUCCESS":
            log.warning("refund %s of %s ended %s", notice.out_refund_no, notice.out_trade_no, notice.refund_status)
            return _answer(True)
        charge_id = f"{notice.out_trade_no}/{notice.transaction_id}"
        async with self.uow_factory() as uow:
            record = await uow.orders.get_payment(PROVIDER, charge_id)
            order = await uow.orders.get(record.order_id) if record and record.order_id else None
            refs = await uow.users.refs(order.user_id) if order else []
        if record is None or order is None:
            log.error("refund notify for an unknown charge %s", notice.out_trade_no)
            return _answer(True)  # nothing of ours to change; answering FAIL would only make WeChat repeat it
        openid = next((r.external_id for r in refs if r.channel == "wechat"), "")
        if not openid:
            return _answer(True)
        event = PaymentRefunded(
            Sender(Ref("wechat", openid), "zh"), PROVIDER, charge_id, order.code, Money(notice.refund_fee, "CNY")
        )
        replies = await self.dispatcher.dispatch(event, self.caps)
        self.tasks.spawn(self.deliver(openid, replies, None))
        return _answer(True)

    # -- reconciliation ----------------------------------------------------------------------------

    async def reconcile(self, *, limit: int = 200) -> int:
        """Ask WeChat about pending orders: settle the paid ones, close the expired ones. Returns orders changed."""
        async with self.uow_factory() as uow:
            orders = await uow.orders.pending_of(PROVIDER, limit)
        changed = 0
        now = self.clock.now()
        for order in orders:
            for kind in (NATIVE, JSAPI):
                try:
                    state = await self.pay.query(trade_no(order.code, kind))
                except WeChatPayError as exc:
                    log.warning("orderquery %s failed: %s", order.code, exc.code)
                    continue
                if state.state == "SUCCESS":
                    notice = PaidNotice(
                        state.out_trade_no, state.transaction_id, state.total_fee, state.openid, kind, ""
                    )
                    ok, _ = await self.settle(notice, source="orderquery")
                    changed += ok
            if order.expires_at <= now:
                for kind in (NATIVE, JSAPI):
                    await self._close_quietly(trade_no(order.code, kind))
        return changed

    async def _close_quietly(self, out_trade_no: str) -> None:
        try:
            await self.pay.close_order(out_trade_no)
        except OrderPaid:
            log.warning("%s was paid while being closed: the next reconciliation settles it", out_trade_no)
        except WeChatPayError as exc:
            if exc.code not in ("ORDERNOTEXIST", "ORDERCLOSED"):
                log.info("closeorder %s: %s", out_trade_no, exc.code)

    async def drain(self) -> None:
        await self.tasks.drain()


class WeChatPayGateway:
    """:class:`core.ports.PaymentGateway` for WeChat Pay: refunds (admins' /refund, automatic give-backs)."""

    channel = "wechat"

    def __init__(self, pay: WeChatPayClient, uow_factory: UnitOfWorkFactory) -> None:
        self.pay = pay
        self.uow_factory = uow_factory

    async def refund(self, ref: Ref, charge_id: str) -> None:
        try:
            out_trade_no, _ = split_charge(charge_id)
        except ValueError as exc:
            raise GatewayError(str(exc)) from None
        async with self.uow_factory() as uow:
            record = await uow.orders.get_payment(PROVIDER, charge_id)
        if record is None:
            raise GatewayError("no such WeChat Pay charge")
        try:
            await self.pay.refund(
                out_trade_no=out_trade_no,
                out_refund_no=f"R{out_trade_no}",  # the same on every retry: WeChat refunds once
                total_fee=record.total.amount,
                refund_fee=record.total.amount,
            )
        except WeChatPayError as exc:
            raise GatewayError(f"WeChat Pay refused the refund: {exc.code}") from None

    async def set_renewal(self, ref: Ref, charge_id: str, *, enabled: bool) -> None:
        raise GatewayError("WeChat Pay plans do not renew automatically")


def _answer(ok: bool, message: str = "OK") -> web.Response:
    return web.Response(text=WeChatPayClient.answer(ok, message), content_type="text/xml")


_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>body{{font-family:-apple-system,"PingFang SC",sans-serif;margin:0;padding:32px 20px;
text-align:center;color:#222}}
h1{{font-size:20px}}.price{{font-size:32px;margin:16px 0}}button{{font-size:18px;padding:12px 40px;border:0;
border-radius:8px;background:#07c160;color:#fff}}#status{{margin-top:20px;min-height:1.5em}}</style></head>
<body>{body}</body></html>"""


def _page(t: Translator, message: str, *, status: int = 200) -> web.Response:
    body = f"<h1>{html.escape(t('wechat.page.title'))}</h1><p>{html.escape(message)}</p>"
    text = _PAGE.format(lang=t.lang, title=html.escape(t("wechat.page.title")), body=body)
    return web.Response(text=text, status=status, content_type="text/html", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def _checkout_page(t: Translator, title: str, price: str, params: dict[str, str]) -> web.Response:
    messages = {
        "ok": t("wechat.page.paid"),
        "cancel": t("wechat.page.cancelled"),
        "fail": t("wechat.page.failed"),
        "nobridge": t("wechat.page.open_in_wechat"),
    }
    data = json.dumps(params).replace("</", "<\\/")
    labels = json.dumps(messages, ensure_ascii=False).replace("</", "<\\/")
    script = (
        "<script>var P=" + data + ",M=" + labels + ";"
        "function show(k){document.getElementById('status').textContent=M[k];}"
        "function pay(){if(typeof WeixinJSBridge==='undefined'){show('nobridge');return;}"
        "WeixinJSBridge.invoke('getBrandWCPayRequest',P,function(r){var m=r.err_msg||'';"
        "show(m==='get_brand_wcpay_request:ok'?'ok':(m==='get_brand_wcpay_request:cancel'?'cancel':'fail'));});}"
        "</script>"
    )
    body = (
        f"<h1>{html.escape(title)}</h1><div class='price'>{html.escape(price)}</div>"
        f"<button onclick='pay()'>{html.escape(t('wechat.page.pay_button'))}</button>"
        f"<p id='status'></p><p><small>{html.escape(t('wechat.page.note'))}</small></p>{script}"
    )
    text = _PAGE.format(lang=t.lang, title=html.escape(title), body=body)
    return web.Response(text=text, content_type="text/html", headers=_NO_STORE)
