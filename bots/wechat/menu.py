"""The Official Account's custom menu: the bot's main actions, as CLICK buttons.

WeChat allows at most 3 top-level buttons with at most 5 sub-buttons each;
names are limited to 16 bytes (top) and 60 bytes (sub), CLICK keys to 128
bytes. A CLICK arrives as an event carrying the key, which the channel turns
into the same :class:`core.events.ButtonPress` an inline button would give,
so the menu reaches exactly the handlers every other channel uses.
``python bot.py wechat menu sync`` validates and uploads it.
"""

from __future__ import annotations

from typing import Any

from core.i18n import translator
from handlers.actions import A

__all__ = ["MenuError", "build_menu", "validate_menu"]

MAX_TOP, MAX_SUB = 3, 5
TOP_NAME_BYTES, SUB_NAME_BYTES, KEY_BYTES = 16, 60, 128


class MenuError(ValueError):
    """The menu breaks one of WeChat's rules; the message says which button and which rule."""


def _click(name: str, key: str) -> dict[str, Any]:
    return {"type": "click", "name": name, "key": key}


def build_menu(lang: str = "zh") -> dict[str, Any]:
    """The default menu: courses, my learning, and a "more" group (plans, help, language)."""
    t = translator(lang)
    other = "en" if lang == "zh" else "zh"
    menu = {
        "button": [
            _click(t("wechat.menu.catalog"), A.of(A.CATALOG, 0)),
            _click(t("wechat.menu.my"), A.MY),
            {
                "name": t("wechat.menu.more"),
                "sub_button": [
                    _click(t("wechat.menu.plans"), A.PLANS),
                    _click(t("wechat.menu.help"), A.HELP),
                    _click(t("wechat.menu.language"), A.of(A.LANG, other)),
                ],
            },
        ]
    }
    validate_menu(menu)
    return menu


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def validate_menu(menu: dict[str, Any]) -> None:
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_TOP:
        raise MenuError(f"a menu has 1 to {MAX_TOP} top-level buttons")
    for i, button in enumerate(buttons, 1):
        name = button.get("name", "")
        if not name or _size(name) > TOP_NAME_BYTES:
            raise MenuError(f"top button {i}: the name must be 1-{TOP_NAME_BYTES} bytes, got {name!r}")
        subs = button.get("sub_button")
        if subs is None:
            _check_action(button, f"top button {i} ({name})")
            continue
        if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB:
            raise MenuError(f"top button {i} ({name}): 1 to {MAX_SUB} sub-buttons")
        for j, sub in enumerate(subs, 1):
            sub_name = sub.get("name", "")
            if not sub_name or _size(sub_name) > SUB_NAME_BYTES:
                raise MenuError(f"button {i}.{j}: the name must be 1-{SUB_NAME_BYTES} bytes, got {sub_name!r}")
            _check_action(sub, f"button {i}.{j} ({sub_name})")


def _check_action(button: dict[str, Any], where: str) -> None:
    kind = button.get("type")
    if kind == "click":
        key = button.get("key", "")
        if not key or _size(key) > KEY_BYTES:
            raise MenuError(f"{where}: a click key must be 1-{KEY_BYTES} bytes")
    elif kind == "view":
        url = button.get("url", "")
        if not str(url).startswith(("http://", "https://")):
            raise MenuError(f"{where}: a view button needs an http(s) url")
    else:
        raise MenuError(f"{where}: type must be click or view, got {kind!r}")
