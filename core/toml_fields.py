"""Typed, reporting readers for the TOML tables of a course folder.

Contract
--------
:class:`Fields` wraps one parsed TOML table: on construction it reports every
key not in the allowed list (with a "did you mean" hint), and its readers
(``text``, ``flag``, ``integer``, ``table``, ``tables``, ``strings``) return
the typed value, a default when an optional key is absent, or ``None`` after
adding an :class:`~core.import_issues.ImportIssue`. They never raise.
:func:`read_slug` and :func:`read_price` build on it for the two compound
values shared by courses and plans. The ``MAX_*`` limits are the field sizes
the importer enforces.

Why
---
A typo in a course file must not become a live price, so the rules are
strict: unknown keys are errors, booleans are not integers, amounts are
integers in minor units. Reporting instead of raising lets one import run list
every problem at once. The limits are storage column sizes and Telegram's
limits, caught here so an import fails with a readable message instead of a
database or API error later.

Only the standard library and other ``core`` modules are used here.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any

from core.catalog import SLUG_RE, Price
from core.import_issues import Issues, describe
from core.money import CURRENCY_EXPONENTS, STARS, Money

__all__ = [
    "MAX_CAPTION",
    "MAX_CATEGORY",
    "MAX_CREATOR",
    "MAX_LESSON_SLUG",
    "MAX_PERIOD_DAYS",
    "MAX_TITLE",
    "Fields",
    "read_price",
    "read_slug",
]

# Column sizes in storage and Telegram's limits: caught here so an import
# fails with a readable message instead of a database or API error later.
MAX_TITLE = 200
MAX_CATEGORY = 64
MAX_LESSON_SLUG = 120
MAX_CAPTION = 1024
MAX_PERIOD_DAYS = 3660
MAX_CREATOR = 80  # a creator REF (``wechat:<openid>``)

_PRICE_KEYS = ("amount", "currency", "stars")


class Fields:
    """Typed, reporting access to one TOML table; unknown keys are reported up front."""

    def __init__(
        self,
        data: dict[str, Any],
        issues: Issues,
        file: str,
        allowed: Sequence[str],
        prefix: str = "",
    ) -> None:
        self.data = data
        self.issues = issues
        self.file = file
        self.prefix = prefix
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "allowed keys: " + ", ".join(allowed)
                self.error(key, f"unknown key ({hint})")

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, message: str) -> None:
        self.issues.add(self.file, self.name(key), message)

    def has(self, key: str) -> bool:
        return key in self.data

    def text(self, key: str, *, required: bool = False, max_len: int | None = None) -> str | None:
        """A stripped string; ``""`` when optional and absent, ``None`` when invalid."""
        if key not in self.data:
            if required:
                self.error(key, "missing")
                return None
            return ""
        value = self.data[key]
        if not isinstance(value, str):
            self.error(key, f"must be a string (got {describe(value)})")
            return None
        value = value.strip()
        if required and not value:
            self.error(key, "must not be empty")
            return None
        if max_len is not None and len(value) > max_len:
            self.error(key, f"too long: {len(value)} characters (at most {max_len})")
            return None
        return value

    def flag(self, key: str, default: bool) -> bool | None:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, without quotes (got {describe(value)})")
            return None
        return value

    def integer(
        self,
        key: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        required: bool = False,
        float_hint: str = "",
    ) -> int | None:
        """An int (never a bool); ``None`` when absent or invalid (absent+required is reported)."""
        if key not in self.data:
            if required:
                self.error(key, "missing")
            return None
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            hint = ""
            if isinstance(value, float) and float_hint:
                hint = f"; {float_hint}"
            elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
                hint = "; remove the quotes"
            self.error(key, f"must be an integer (got {describe(value)}){hint}")
            return None
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            self.error(key, f"must be between {minimum} and {maximum} (got {value})")
            return None
        if minimum is not None and value < minimum:
            self.error(key, f"must be >= {minimum} (got {value})")
            return None
        if maximum is not None and value > maximum:
            self.error(key, f"must be <= {maximum} (got {value})")
            return None
        return value

    def table(self, key: str, example: str) -> dict[str, Any] | None:
        if key not in self.data:
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            self.error(key, f"must be a table, e.g. {example} (got {describe(value)})")
            return None
        return value

    def tables(self, key: str, example: str) -> list[dict[str, Any]] | None:
        if key not in self.data:
            return []
        value = self.data[key]
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            self.error(key, f"must be an array of tables, e.g. {example} (got {describe(value)})")
            return None
        return value

    def strings(self, key: str) -> list[str] | None:
        """A list of non-empty stripped strings; ``[]`` when absent, ``None`` when invalid."""
        if key not in self.data:
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.error(key, f'must be an array of strings, e.g. ["a", "b"] (got {describe(value)})')
            return None
        out: list[str] = []
        ok = True
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                message = f"must be a non-empty string (got {describe(item)})"
                self.issues.add(self.file, f"{self.name(key)}[{i}]", message)
                ok = False
            else:
                out.append(item.strip())
        return out if ok else None


def read_slug(fields: Fields, key: str = "slug") -> str | None:
    value = fields.text(key, required=True)
    if value is None:
        return None
    if not SLUG_RE.match(value):
        fields.error(
            key,
            f"invalid slug {value!r} (use 1-48 characters: lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit)",
        )
        return None
    return value


def read_price(table: dict[str, Any], issues: Issues, file: str, prefix: str) -> Price | None:
    """``[price]``: amount + currency (together) and/or stars. ``None`` when invalid."""
    f = Fields(table, issues, file, _PRICE_KEYS, prefix)
    start = len(issues)
    amount = f.integer("amount", minimum=0, float_hint="amounts are integers in minor units, e.g. 9.90 is 990")
    currency: str | None = None
    if f.has("currency"):
        raw = f.data["currency"]
        if not isinstance(raw, str):
            f.error("currency", f'must be a string such as "CNY" (got {describe(raw)})')
        elif raw == STARS:
            f.error("currency", "'XTR' is Telegram Stars: set price.stars instead of a currency")
        elif raw not in CURRENCY_EXPONENTS:
            known = ", ".join(c for c in CURRENCY_EXPONENTS if c != STARS)
            upper = raw.strip().upper()
            hint = f"did you mean '{upper}'? " if upper in CURRENCY_EXPONENTS and upper != STARS else ""
            f.error("currency", f"unknown currency {raw!r} ({hint}use one of {known})")
        else:
            currency = raw
    if f.has("amount") and not f.has("currency"):
        f.error("currency", 'missing (amount and currency go together, e.g. amount = 9900, currency = "CNY")')
    if f.has("currency") and not f.has("amount"):
        f.error("amount", 'missing (amount and currency go together, e.g. amount = 9900, currency = "CNY")')
    stars = f.integer("stars", minimum=1)
    if len(issues) > start:
        return None
    fiat = Money(amount, currency) if amount is not None and currency is not None else None
    return Price(fiat=fiat, stars=stars)
