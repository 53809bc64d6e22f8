"""Translations: gettext catalogs (zh_CN, en) compiled from ``core/locales/*.po`` by Babel.

Message ids are stable symbolic keys (``catalog.header``), never English
prose, so a missing translation is detectable (tests compare both catalogs
key by key and placeholder by placeholder) and handlers carry no UI literals.
The .po files are compiled in memory at start-up, so there is no build step
and no stale .mo file to forget. Money and dates are formatted with Babel's
CLDR data for the user's locale.
"""

from __future__ import annotations

import gettext
import io
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_time, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from core.money import STARS, Money

__all__ = ["LOCALES", "Translator", "catalog_keys", "translator"]

LOCALE_DIR = Path(__file__).with_name("locales")
#: our language code -> gettext/Babel locale
LOCALES = {"zh": "zh_CN", "en": "en"}


@cache
def _translations(locale: str) -> gettext.GNUTranslations:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def catalog_keys(locale: str) -> dict[str, str]:
    """Every key and its text in a locale's catalog (for tests and tooling)."""
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    out: dict[str, str] = {}
    for msg in catalog:
        if not msg.id:
            continue
        key = msg.id if isinstance(msg.id, str) else msg.id[0]
        text = msg.string if isinstance(msg.string, str) else "\n".join(msg.string or ())
        out[key] = text
    return out


@lru_cache(maxsize=4096)
def _format_money(amount: int, currency: str, locale: str) -> str:
    """CLDR formatting is slow (tens of µs) and prices repeat endlessly: cache it."""
    return format_currency(Money(amount, currency).to_decimal(), currency, locale=locale)


class Translator:
    """``t("key", name=…)`` in one language, plus locale-aware money and dates."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LOCALES else "en"
        self.locale = LOCALES[self.lang]
        self._tr = _translations(self.locale)

    def __call__(self, key: str, **params: Any) -> str:
        text = self._tr.gettext(key)
        return text.format(**params) if params else text

    def n(self, key: str, count: int, **params: Any) -> str:
        """Plural-aware: the .po entry has msgid_plural ``key`` and plural forms."""
        return self._tr.ngettext(key, key, count).format(count=count, **params)

    def money(self, value: Money) -> str:
        if value.currency == STARS:
            return self("money.stars", amount=value.amount)
        return _format_money(value.amount, value.currency, self.locale)

    def when(self, at: datetime, tz: str) -> str:
        """A date and time to the minute, in the learner's timezone and locale's pattern."""
        local = at.astimezone(ZoneInfo(tz))
        day = format_skeleton("yMMMd", local, locale=self.locale)
        clock = format_time(local, "short", locale=self.locale)
        return str(get_datetime_format("medium", locale=self.locale)).format(clock, day)


@cache
def translator(lang: str) -> Translator:
    return Translator(lang)
