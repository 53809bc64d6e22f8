"""Button action codes: short ASCII ``prefix:arg`` strings (Telegram allows 64 bytes).

Arguments are never trusted: they are checked here for shape and then looked
up (and permission-checked) by the handler, so a forged or stale action gets
a polite "menu expired" and no access.
"""

from __future__ import annotations

import re

from core.catalog import SLUG_RE

__all__ = ["A", "parse_code", "parse_int", "parse_search_page", "parse_slug"]

_CODE = re.compile(r"^[0-9a-z]{8,24}$")
_SEARCH_PAGE = re.compile(r"^([0-9a-f]{12})\.([0-9]{1,3})$")


class A:
    """Action prefixes (kept short: they count against Telegram's 64 bytes)."""

    MENU = "menu"
    CATALOG = "cat"  # cat:<page>
    COURSE = "c"  # c:<slug>
    PREVIEW = "pv"  # pv:<slug>
    BUY = "buy"  # buy:<slug>
    LESSON = "l"  # l:<lesson id>
    DONE = "done"  # done:<lesson id>
    NEXT = "nx"  # nx:<slug>
    CANCEL = "cancel"  # cancel:<order code>
    PLANS = "plans"
    MY = "my"
    LANG = "lang"  # lang:<zh|en>
    HELP = "help"
    SUB = "sub"  # sub:<subscription id>.<0|1>: switch renewal off or on
    LIKE = "lk"  # lk:<course slug>: 👍 the course (a signal for recommendations)
    RECOMMEND = "rec"  # the /recommend list
    SEARCH = "sr"  # sr:<query key>.<page>: a page of search results (the query is kept under its key)

    @staticmethod
    def of(prefix: str, arg: str | int = "") -> str:
        return f"{prefix}:{arg}" if arg != "" else prefix


def parse_slug(arg: str) -> str | None:
    return arg if SLUG_RE.match(arg) else None


def parse_int(arg: str, *, maximum: int = 2**53) -> int | None:
    if not arg.isdigit() or len(arg) > 16:
        return None
    value = int(arg)
    return value if 0 <= value <= maximum else None


def parse_code(arg: str) -> str | None:
    return arg if _CODE.match(arg) else None


def parse_search_page(arg: str) -> tuple[str, int] | None:
    """``<12 hex digits>.<page>`` -> (query key, 0-based page), or None for anything else."""
    m = _SEARCH_PAGE.match(arg)
    return (m.group(1), int(m.group(2))) if m else None
