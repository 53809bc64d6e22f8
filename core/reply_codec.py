"""Replies as JSON-safe data, and back: how a message waits in the outbox.

WeChat may only send customer-service messages within 48 hours of the user's
last message (at most five per inbound message), so what cannot go out now is
stored and delivered when the user writes again; the delivery engine stores
replies for every channel the same way. :func:`encode` turns neutral replies
into plain dicts (strings, ints, bools, lists, None); :func:`decode` is its
strict inverse: anything it did not write (a wrong type, an unknown reply
type or media kind, an unsupported currency, an unexpected key) raises
:class:`ValueError` naming where, so a corrupt row is refused, never guessed.
Keys with a default may be missing (payloads written before a field existed);
a media reply's ``buttons`` and ``markdown`` are only written when set, so
media without them encodes exactly as it did before they existed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from core.catalog import MediaKind
from core.money import Money
from core.replies import Button, CheckoutAnswer, InvoiceReply, MediaReply, Reply, TextReply

__all__ = ["decode", "encode"]

Rows = tuple[tuple[Button, ...], ...]


# --- checks shared by both directions ------------------------------------------------------


def _type_name(value: object) -> str:
    return type(value).__name__


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {_type_name(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: not valid Unicode text ({exc.reason})") from None
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {_type_name(value)}")
    return value


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected an integer, got {_type_name(value)}")
    return value


def _opt_int(value: object, where: str) -> int | None:
    return None if value is None else _int(value, where)


# --- encode --------------------------------------------------------------------------------


def _encode_button(button: object, where: str) -> dict[str, Any]:
    if not isinstance(button, Button):
        raise ValueError(f"{where}: expected a Button, got {_type_name(button)}")
    return {
        "label": _str(button.label, f"{where}.label"),
        "action": _str(button.action, f"{where}.action"),
        "url": _str(button.url, f"{where}.url"),
    }


def _encode_rows(rows: object, where: str) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, tuple):
        raise ValueError(f"{where}: expected a tuple of button rows, got {_type_name(rows)}")
    out: list[list[dict[str, Any]]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, tuple):
            raise ValueError(f"{where}[{i}]: expected a tuple of buttons, got {_type_name(row)}")
        out.append([_encode_button(b, f"{where}[{i}][{j}]") for j, b in enumerate(row)])
    return out


def _encode_money(money: object, where: str) -> dict[str, Any]:
    if not isinstance(money, Money):
        raise ValueError(f"{where}: expected Money, got {_type_name(money)}")
    return {"amount": _int(money.amount, f"{where}.amount"), "currency": _str(money.currency, f"{where}.currency")}


def _encode_one(reply: object, where: str) -> dict[str, Any]:
    if isinstance(reply, TextReply):
        return {
            "type": "text",
            "text": _str(reply.text, f"{where}.text"),
            "buttons": _encode_rows(reply.buttons, f"{where}.buttons"),
            "markdown": _bool(reply.markdown, f"{where}.markdown"),
            "protect": _bool(reply.protect, f"{where}.protect"),
        }
    if isinstance(reply, MediaReply):
        if not isinstance(reply.kind, MediaKind):
            raise ValueError(f"{where}.kind: expected a MediaKind, got {_type_name(reply.kind)}")
        media: dict[str, Any] = {
            "type": "media",
            "kind": reply.kind.value,
            "path": _str(reply.path, f"{where}.path"),
            "sha256": _str(reply.sha256, f"{where}.sha256"),
            "caption": _str(reply.caption, f"{where}.caption"),
            "protect": _bool(reply.protect, f"{where}.protect"),
        }
        # Written only when set: media without buttons encodes exactly as before these fields existed,
        # so a process still running older code can read everything but a broadcast photo with buttons.
        buttons = _encode_rows(reply.buttons, f"{where}.buttons")
        if buttons:
            media["buttons"] = buttons
        if _bool(reply.markdown, f"{where}.markdown"):
            media["markdown"] = True
        return media
    if isinstance(reply, InvoiceReply):
        return {
            "type": "invoice",
            "order_code": _str(reply.order_code, f"{where}.order_code"),
            "title": _str(reply.title, f"{where}.title"),
            "description": _str(reply.description, f"{where}.description"),
            "price": _encode_money(reply.price, f"{where}.price"),
            "pay_label": _str(reply.pay_label, f"{where}.pay_label"),
            "buttons": _encode_rows(reply.buttons, f"{where}.buttons"),
            "subscription_days": _opt_int(reply.subscription_days, f"{where}.subscription_days"),
            "prompt": _str(reply.prompt, f"{where}.prompt"),
        }
    if isinstance(reply, CheckoutAnswer):
        raise ValueError(f"{where}: a CheckoutAnswer answers a pre-checkout query at once; it cannot be deferred")
    raise ValueError(f"{where}: not a reply: {_type_name(reply)}")


def encode(replies: Sequence[Reply]) -> list[dict[str, Any]]:
    """JSON-safe dicts for ``replies``; the result always :func:`decode`\\ s back to equal replies.

    Raises :class:`ValueError` for a :class:`CheckoutAnswer` (it is not a message) or a malformed reply.
    """
    if isinstance(replies, (str, bytes)) or not isinstance(replies, Sequence):
        raise ValueError(f"replies: expected a sequence of replies, got {_type_name(replies)}")
    return [_encode_one(r, f"reply[{i}]") for i, r in enumerate(replies)]


# --- decode --------------------------------------------------------------------------------


def _fields(data: object, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {_type_name(data)}")
    keys = set(data)
    if unknown := keys - required - optional:
        raise ValueError(f"{where}: unexpected keys {sorted(map(str, unknown))}")
    if missing := required - keys:
        raise ValueError(f"{where}: missing keys {sorted(missing)}")
    return data


def _decode_button(data: object, where: str) -> Button:
    d = _fields(data, where, {"label"}, {"action", "url"})
    return Button(
        label=_str(d["label"], f"{where}.label"),
        action=_str(d.get("action", ""), f"{where}.action"),
        url=_str(d.get("url", ""), f"{where}.url"),
    )


def _decode_rows(data: object, where: str) -> Rows:
    if not isinstance(data, list):
        raise ValueError(f"{where}: expected a list of button rows, got {_type_name(data)}")
    rows: list[tuple[Button, ...]] = []
    for i, row in enumerate(data):
        if not isinstance(row, list):
            raise ValueError(f"{where}[{i}]: expected a list of buttons, got {_type_name(row)}")
        rows.append(tuple(_decode_button(b, f"{where}[{i}][{j}]") for j, b in enumerate(row)))
    return tuple(rows)


def _decode_money(data: object, where: str) -> Money:
    d = _fields(data, where, {"amount", "currency"}, set())
    amount, currency = _int(d["amount"], f"{where}.amount"), _str(d["currency"], f"{where}.currency")
    try:
        return Money(amount, currency)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _decode_kind(data: object, where: str) -> MediaKind:
    value = _str(data, where)
    try:
        return MediaKind(value)
    except ValueError:
        known = ", ".join(k.value for k in MediaKind)
        raise ValueError(f"{where}: unknown media kind {value!r} (known: {known})") from None


def _decode_text(d: dict[str, Any], where: str) -> TextReply:
    return TextReply(
        text=_str(d["text"], f"{where}.text"),
        buttons=_decode_rows(d.get("buttons", []), f"{where}.buttons"),
        markdown=_bool(d.get("markdown", False), f"{where}.markdown"),
        protect=_bool(d.get("protect", False), f"{where}.protect"),
    )


def _decode_media(d: dict[str, Any], where: str) -> MediaReply:
    return MediaReply(
        kind=_decode_kind(d["kind"], f"{where}.kind"),
        path=_str(d["path"], f"{where}.path"),
        sha256=_str(d["sha256"], f"{where}.sha256"),
        caption=_str(d.get("caption", ""), f"{where}.caption"),
        protect=_bool(d.get("protect", False), f"{where}.protect"),
        buttons=_decode_rows(d.get("buttons", []), f"{where}.buttons"),
        markdown=_bool(d.get("markdown", False), f"{where}.markdown"),
    )


def _decode_invoice(d: dict[str, Any], where: str) -> InvoiceReply:
    return InvoiceReply(
        order_code=_str(d["order_code"], f"{where}.order_code"),
        title=_str(d["title"], f"{where}.title"),
        description=_str(d["description"], f"{where}.description"),
        price=_decode_money(d["price"], f"{where}.price"),
        pay_label=_str(d.get("pay_label", ""), f"{where}.pay_label"),
        buttons=_decode_rows(d.get("buttons", []), f"{where}.buttons"),
        subscription_days=_opt_int(d.get("subscription_days"), f"{where}.subscription_days"),
        prompt=_str(d.get("prompt", ""), f"{where}.prompt"),
    )


#: type tag -> (required keys, optional keys, decoder); "type" itself is required everywhere.
_KINDS: dict[str, tuple[set[str], set[str], Callable[[dict[str, Any], str], Reply]]] = {
    "text": ({"text"}, {"buttons", "markdown", "protect"}, _decode_text),
    "media": ({"kind", "path", "sha256"}, {"caption", "protect", "buttons", "markdown"}, _decode_media),
    "invoice": (
        {"order_code", "title", "description", "price"},
        {"pay_label", "buttons", "subscription_days", "prompt"},
        _decode_invoice,
    ),
}


def _decode_one(data: object, where: str) -> Reply:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {_type_name(data)}")
    if "type" not in data:
        raise ValueError(f"{where}: missing key 'type'")
    tag = data["type"]
    if not isinstance(tag, str) or tag not in _KINDS:
        raise ValueError(f"{where}.type: unknown reply type {tag!r} (known: {', '.join(_KINDS)})")
    required, optional, decoder = _KINDS[tag]
    return decoder(_fields(data, where, required | {"type"}, optional), where)


def decode(data: object) -> list[Reply]:
    """The replies :func:`encode` wrote; :class:`ValueError` for anything else."""
    if not isinstance(data, list):
        raise ValueError(f"replies: expected a list, got {_type_name(data)}")
    return [_decode_one(item, f"reply[{i}]") for i, item in enumerate(data)]
