"""Money (core.money): exact integer minor units, one currency at a time."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.money import CURRENCY_EXPONENTS, STARS, Money


def test_amount_is_kept_in_minor_units() -> None:
    price = Money(9900, "CNY")
    assert price.amount == 9900
    assert price.currency == "CNY"
    assert price.to_decimal() == Decimal("99.00")
    assert str(price) == "99.00 CNY"


@pytest.mark.parametrize("amount", [19.99, 1999.0, "1999", Decimal("19.99"), None])
def test_non_integer_amounts_are_refused(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [True, False])
def test_bools_are_not_amounts(amount: bool) -> None:
    with pytest.raises(TypeError):
        Money(amount, "USD")


@pytest.mark.parametrize("currency", ["usd", "RMB", "BTC", "", "XTRS"])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(ValueError, match="unsupported currency"):
        Money(100, currency)


def test_same_currency_arithmetic() -> None:
    assert Money(1999, "USD") + Money(1, "USD") == Money(2000, "USD")
    assert Money(1999, "USD") - Money(1999, "USD") == Money(0, "USD")
    assert (Money(1999, "USD") - Money(1999, "USD")).is_zero
    assert not Money(1, "USD").is_zero
    assert Money(100, "USD") - Money(250, "USD") == Money(-150, "USD")


@pytest.mark.parametrize("op", ["add", "sub"])
def test_cross_currency_arithmetic_raises(op: str) -> None:
    usd, cny = Money(100, "USD"), Money(100, "CNY")
    with pytest.raises(ValueError, match="currency mismatch"):
        _ = usd + cny if op == "add" else usd - cny
    with pytest.raises(ValueError, match="currency mismatch"):
        _ = Money(5, STARS) + usd if op == "add" else Money(5, STARS) - usd


def test_equality_needs_same_amount_and_currency() -> None:
    assert Money(100, "USD") == Money(100, "USD")
    assert Money(100, "USD") != Money(100, "HKD")
    assert Money(100, "USD") != Money(101, "USD")
    assert hash(Money(100, "USD")) == hash(Money(100, "USD"))


def test_stars_have_no_decimals() -> None:
    stars = Money(400, STARS)
    assert STARS == "XTR"
    assert stars.exponent == 0
    assert stars.to_decimal() == Decimal(400)
    assert str(stars) == "400 XTR"
    assert Money(500, "JPY").to_decimal() == Decimal(500)


@pytest.mark.parametrize(
    ("money", "expected"),
    [
        (Money(1999, "USD"), "19.99"),
        (Money(1, "USD"), "0.01"),
        (Money(10, "EUR"), "0.10"),
        (Money(0, "CNY"), "0.00"),
        (Money(-5, "GBP"), "-0.05"),
        (Money(123456789012345678, "USD"), "1234567890123456.78"),
        (Money(7, STARS), "7"),
    ],
)
def test_to_decimal_is_exact(money: Money, expected: str) -> None:
    value = money.to_decimal()
    assert value == Decimal(expected)
    assert str(value) == expected
    # Exactly reversible: no float rounding anywhere.
    assert int(value.scaleb(money.exponent)) == money.amount


def test_every_accepted_currency_has_a_sane_exponent() -> None:
    for code, exponent in CURRENCY_EXPONENTS.items():
        assert Money(1, code).exponent == exponent
        assert exponent in (0, 2)


def test_money_is_immutable() -> None:
    price = Money(100, "USD")
    with pytest.raises(AttributeError):
        price.amount = 200  # type: ignore[misc]
