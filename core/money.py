"""Money: an integer amount in minor units plus an ISO currency.

Why: floats lose cents, and every provider (Telegram Stars, WeChat Pay in fen)
speaks integers. Telegram Stars are the pseudo-currency ``XTR`` with no
decimals. Arithmetic across currencies raises instead of guessing a rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["CURRENCY_EXPONENTS", "STARS", "Money"]

STARS = "XTR"

#: Minor-unit exponents of the currencies we accept. A currency missing here
#: is refused at import time, so a typo never becomes a price.
CURRENCY_EXPONENTS: dict[str, int] = {
    "CNY": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "TWD": 2,
    "SGD": 2,
    "JPY": 0,
    "KRW": 0,
    STARS: 0,
}


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``Money(9900, "CNY")`` is 99.00 yuan."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("Money.amount must be an int in minor units")
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unsupported currency {self.currency!r}")

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self.currency]

    def to_decimal(self) -> Decimal:
        """The amount in major units, exactly (for display only)."""
        return Decimal(self.amount).scaleb(-self.exponent)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"
