"""Payments in the fake Bot API: invoices, invoice links, pre-checkout queries, successful payments,
Telegram Stars refunds, subscriptions and star transactions (a mixin of
:class:`fakes.telegram_api.FakeBotAPI`).

Guarantees: invoices are validated like Telegram (title 1-32, description
1-255, payload 1-128 bytes, a 3-letter currency, a non-empty list of positive
prices; Stars (``XTR``): no provider token and exactly one price, else
``STARS_INVOICE_INVALID``; ``subscription_period`` only on
``createInvoiceLink`` in ``XTR`` and equal to 2592000 (30 days), at most 10000
stars, else ``SUBSCRIPTION_PERIOD_INVALID``; other currencies need a provider
token, else ``PAYMENT_PROVIDER_INVALID``).  ``pay()`` plays the user's side:
a ``pre_checkout_query`` that must be answered once within
``pre_checkout_timeout`` seconds (real time, or the injected clock, whichever
passes first; later or second answers get Telegram's ``query is too old...``),
then a ``successful_payment`` with a new unique charge id.  Refunds of Stars
payments are checked against the user and refused twice
(``CHARGE_ALREADY_REFUNDED``).

Knowingly simpler: no shipping queries or tips flow; the descriptions of the
invoice field errors other than the ones named above are the fake's own
upper-case codes; a refund made by the bot does not produce a
``refunded_payment`` update (``refund_from_telegram`` does); amounts are not
checked against Telegram's per-currency minimums.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fakes.telegram_common import Upload, bad_request, get_bool, get_int, get_json, get_str

if TYPE_CHECKING:
    from fakes.telegram_api import FakeBotAPI as _Base
else:
    _Base = object

__all__ = ["SUBSCRIPTION_PERIOD", "PaymentsMixin"]

SUBSCRIPTION_PERIOD = 2_592_000  # 30 days, the only period Telegram accepts
MAX_SUBSCRIPTION_STARS = 10_000
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


class PaymentsMixin(_Base):
    def __init__(self) -> None:
        self.invoices: dict[str, dict[str, Any]] = {}  # "chat_id:message_id" -> invoice
        self.invoice_links: dict[str, dict[str, Any]] = {}  # link -> invoice
        self.payments: dict[str, dict[str, Any]] = {}  # charge id -> payment
        self.star_transactions: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}  # any charge id of the subscription -> the same record
        self.answered_pre_checkouts: list[dict[str, Any]] = []
        self._pre_checkouts: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- invoices

    def _invoice_from(self, p: dict[str, Any], *, link: bool) -> dict[str, Any]:
        title = get_str(p, "title") or ""
        if not 1 <= len(title) <= 32:
            raise bad_request("INVOICE_TITLE_INVALID")
        description = get_str(p, "description") or ""
        if not 1 <= len(description) <= 255:
            raise bad_request("INVOICE_DESCRIPTION_INVALID")
        payload = get_str(p, "payload") or ""
        if not 1 <= len(payload.encode("utf-8")) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        currency = get_str(p, "currency") or ""
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise bad_request("CURRENCY_INVALID")
        prices = get_json(p, "prices", what="prices")
        if not isinstance(prices, list) or not prices or not all(isinstance(x, dict) for x in prices):
            raise bad_request("can't parse prices JSON object")
        for price in prices:
            if not isinstance(price.get("label"), str) or not price["label"].strip():
                raise bad_request("LABEL_INVALID")
            amount = price.get("amount")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        total = sum(price["amount"] for price in prices)
        provider_token = get_str(p, "provider_token") or ""
        if currency == "XTR":
            if provider_token or len(prices) != 1 or p.get("max_tip_amount") or p.get("suggested_tip_amounts"):
                raise bad_request("STARS_INVOICE_INVALID")
        elif not provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        period = get_int(p, "subscription_period", error="SUBSCRIPTION_PERIOD_INVALID")
        if period is not None and (not link or currency != "XTR" or period != SUBSCRIPTION_PERIOD):
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
        if period is not None and total > MAX_SUBSCRIPTION_STARS:
            raise bad_request("SUBSCRIPTION_PRICE_INVALID")
        return {
            "title": title,
            "description": description,
            "payload": payload,
            "currency": currency,
            "prices": [{"label": x["label"], "amount": x["amount"]} for x in prices],
            "total_amount": total,
            "provider_token": provider_token,
            "start_parameter": get_str(p, "start_parameter") or "",
            "subscription_period": period,
        }

    def _m_sendinvoice(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat = self._target_chat(p)
        invoice = self._invoice_from(p, link=False)
        markup = self._markup(p, invoice=True) or {
            "inline_keyboard": [[{"text": f"Pay {invoice['total_amount']} {invoice['currency']}", "pay": True}]]
        }
        public = {k: invoice[k] for k in ("title", "description", "start_parameter", "currency", "total_amount")}
        message = self._new_message(chat, p, {"invoice": public, "reply_markup": markup})
        key = f"{chat['id']}:{message['message_id']}"
        self.invoices[key] = {**invoice, "key": key, "chat_id": chat["id"], "message_id": message["message_id"]}
        self._record(message, "sendInvoice", rec)
        return message

    def _m_createinvoicelink(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> str:
        invoice = self._invoice_from(p, link=True)
        link = f"https://t.me/$FAKE{self._new_id()}"
        self.invoice_links[link] = {**invoice, "key": link, "link": link}
        return link

    def _find_invoice(self, invoice: dict[str, Any] | str) -> dict[str, Any]:
        if isinstance(invoice, str):
            found = self.invoice_links.get(invoice) or self.invoices.get(invoice)
        elif "link" in invoice or "key" in invoice:
            found = self.invoice_links.get(invoice.get("link", "")) or self.invoices.get(invoice.get("key", ""))
        else:
            found = self.invoices.get(f"{invoice['chat']['id']}:{invoice['message_id']}")
        if found is None:
            raise ValueError(f"no invoice sent or created by the bot matches {invoice!r}")
        return found

    # ---------------------------------------------------------------- the user pays

    async def pay(self, user_id: int, invoice: dict[str, Any] | str, *, wait_answer: float = 10.0) -> dict[str, Any]:
        """The user pays an invoice message or link: pre_checkout_query, then (if accepted) successful_payment.

        Returns ``{"ok", "error_message", "charge_id", "update", "latency"}`` (plus ``"timed_out": True`` when
        the bot did not answer in time).
        """
        found = self._find_invoice(invoice)
        user = self._user(user_id)
        self.started.add(user_id)
        query_id = self._new_id()
        answered: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pre_checkouts[query_id] = {
            "future": answered,
            "created": time.monotonic(),
            "created_at": self._now(),
            "answered": False,
            "user_id": user_id,
        }
        query = {
            "id": query_id,
            "from": user,
            "currency": found["currency"],
            "total_amount": found["total_amount"],
            "invoice_payload": found["payload"],
        }
        started = time.monotonic()
        await self._inject({"pre_checkout_query": query})
        try:
            wait = max(min(wait_answer, self.pre_checkout_timeout) - (time.monotonic() - started), 0.0)
            answer = await asyncio.wait_for(asyncio.shield(answered), wait)
        except TimeoutError:
            latency = time.monotonic() - started
            return {
                "ok": False,
                "error_message": None,
                "charge_id": None,
                "update": None,
                "latency": latency,
                "timed_out": True,
            }
        if not answer["ok"]:
            return {
                "ok": False,
                "error_message": answer["error_message"],
                "charge_id": None,
                "update": None,
                "latency": answer["latency"],
            }
        charge_id, update = await self._deliver_payment(user_id, found, None)
        return {
            "ok": True,
            "error_message": None,
            "charge_id": charge_id,
            "update": update,
            "latency": answer["latency"],
        }

    def _m_answerprecheckoutquery(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        query_id = get_str(p, "pre_checkout_query_id", required=True, empty_error=_QUERY_TOO_OLD) or ""
        query = self._pre_checkouts.get(query_id)
        if query is None or query["answered"]:
            raise bad_request(_QUERY_TOO_OLD)
        latency = time.monotonic() - query["created"]
        clock_latency = (self._now() - query["created_at"]).total_seconds()
        if max(latency, clock_latency) > self.pre_checkout_timeout:
            query["answered"] = True
            raise bad_request(_QUERY_TOO_OLD)
        if p.get("ok") is None:
            raise bad_request("ok is empty")
        ok = get_bool(p, "ok")
        error_message = get_str(p, "error_message")
        if not ok and not error_message:
            raise bad_request("ERROR_MESSAGE_EMPTY")
        query["answered"] = True
        answer = {"id": query_id, "ok": ok, "error_message": None if ok else error_message, "latency": latency}
        self.answered_pre_checkouts.append(answer)
        if not query["future"].done():
            query["future"].set_result(answer)
        return True

    async def _deliver_payment(
        self, user_id: int, invoice: dict[str, Any], subscription: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any]]:
        charge_id = f"stxFAKE{self._new_id()}"
        now = self._now().replace(microsecond=0)  # Telegram's dates are whole seconds
        payment: dict[str, Any] = {
            "currency": invoice["currency"],
            "total_amount": invoice["total_amount"],
            "invoice_payload": invoice["payload"],
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": f"{user_id}_{self._new_id()}",
        }
        period = invoice.get("subscription_period")
        if period:
            if subscription is None:
                expires = now + timedelta(seconds=period)
                subscription = {
                    "user_id": user_id,
                    "payload": invoice["payload"],
                    "expires": expires,
                    "canceled": False,
                    "period": period,
                    "amount": invoice["total_amount"],
                    "invoice": invoice,
                    "charge_ids": [],
                }
            else:
                subscription["expires"] = expires = subscription["expires"] + timedelta(seconds=period)
            subscription["charge_ids"].append(charge_id)
            self.subscriptions[charge_id] = subscription
            payment.update(
                subscription_expiration_date=int(expires.timestamp()),
                is_recurring=True,
                is_first_recurring=len(subscription["charge_ids"]) == 1,
            )
        self.payments[charge_id] = {
            "user_id": user_id,
            "currency": invoice["currency"],
            "amount": invoice["total_amount"],
            "payload": invoice["payload"],
            "date": int(now.timestamp()),
            "refunded": False,
            "invoice": invoice,
        }
        if invoice["currency"] == "XTR":
            source: dict[str, Any] = {
                "type": "user",
                "transaction_type": "invoice_payment",
                "user": self._user(user_id),
                "invoice_payload": invoice["payload"],
            }
            if period:
                source["subscription_period"] = period
            self.star_transactions.append(
                {"id": charge_id, "amount": invoice["total_amount"], "date": int(now.timestamp()), "source": source}
            )
        message = {
            "message_id": self._next_message_id(user_id),
            "from": self._user(user_id),
            "chat": self._private_chat(user_id),
            "date": int(now.timestamp()),
            "successful_payment": payment,
        }
        self._messages[(user_id, message["message_id"])] = message
        return charge_id, await self._inject({"message": message})

    async def renew(self, user_id: int, charge_id: str) -> dict[str, Any]:
        """A subscription renewal: a new successful_payment (new charge id, same payload, period extended)."""
        subscription = self.subscriptions.get(charge_id)
        if subscription is None or subscription["user_id"] != user_id:
            raise ValueError(f"no subscription of user {user_id} with charge {charge_id!r}")
        if subscription["canceled"]:
            raise ValueError(f"the subscription {charge_id!r} was cancelled; Telegram would not renew it")
        if self.payments[subscription["charge_ids"][-1]]["refunded"]:
            raise ValueError(f"the last payment of subscription {charge_id!r} was refunded; it ended")
        _, update = await self._deliver_payment(user_id, subscription["invoice"], subscription)
        return update

    async def refund_from_telegram(self, user_id: int, charge_id: str) -> dict[str, Any]:
        """Telegram refunds a payment on its own (e.g. a dispute): a refunded_payment message update."""
        payment = self.payments.get(charge_id)
        if payment is None or payment["user_id"] != user_id or payment["refunded"]:
            raise ValueError(f"no refundable payment {charge_id!r} of user {user_id}")
        self._refund(charge_id, payment, by="telegram")
        refunded = {
            "currency": payment["currency"],
            "total_amount": payment["amount"],
            "invoice_payload": payment["payload"],
            "telegram_payment_charge_id": charge_id,
        }
        message = {
            "message_id": self._next_message_id(user_id),
            "from": self._user(user_id),
            "chat": self._private_chat(user_id),
            "date": self._now_ts(),
            "refunded_payment": refunded,
        }
        self._messages[(user_id, message["message_id"])] = message
        return await self._inject({"message": message})

    def _refund(self, charge_id: str, payment: dict[str, Any], *, by: str) -> None:
        payment["refunded"] = True
        now = self._now_ts()
        self.refunds.append(
            {"user_id": payment["user_id"], "charge_id": charge_id, "amount": payment["amount"], "by": by, "date": now}
        )
        if payment["currency"] == "XTR":
            receiver = {
                "type": "user",
                "transaction_type": "invoice_payment",
                "user": self._user(payment["user_id"]),
                "invoice_payload": payment["payload"],
            }
            self.star_transactions.append(
                {"id": charge_id, "amount": payment["amount"], "date": now, "receiver": receiver}
            )

    # ---------------------------------------------------------------- the bot's payment methods

    def _charge_of(self, p: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        user_id = get_int(p, "user_id", required=True, error="USER_ID_INVALID")
        charge_id = get_str(p, "telegram_payment_charge_id", required=True, empty_error="CHARGE_ID_EMPTY") or ""
        payment = self.payments.get(charge_id)
        if payment is None or payment["user_id"] != user_id or payment["currency"] != "XTR":
            raise bad_request("CHARGE_NOT_FOUND")
        return charge_id, payment

    def _m_refundstarpayment(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        charge_id, payment = self._charge_of(p)
        if payment["refunded"]:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        self._refund(charge_id, payment, by="bot")
        return True

    def _m_edituserstarsubscription(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        charge_id, _ = self._charge_of(p)
        subscription = self.subscriptions.get(charge_id)
        if subscription is None:
            raise bad_request("SUBSCRIPTION_NOT_FOUND")
        if p.get("is_canceled") is None:
            raise bad_request("is_canceled is empty")
        subscription["canceled"] = get_bool(p, "is_canceled")
        return True

    def _m_getstartransactions(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        offset = get_int(p, "offset") or 0
        limit = get_int(p, "limit")
        limit = 100 if limit is None else limit
        if offset < 0:
            raise bad_request("OFFSET_INVALID")
        if not 1 <= limit <= 100:
            raise bad_request("LIMIT_INVALID")
        return {"transactions": self.star_transactions[offset : offset + limit]}
