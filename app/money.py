"""Amounts of money: USD kept as integer millionths of a dollar (micro-USD), exact to add up,
read and written as decimal strings ("50.00")."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MICROS_PER_USD = 1_000_000
DECIMALS = 6


def usd_micros(text: str) -> int | None:
    """`"2.50"` as 2,500,000 micro-USD; None for anything else, a negative amount or more than
    6 decimals."""
    try:
        amount = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    exponent = amount.as_tuple().exponent
    if (
        not amount.is_finite()
        or amount < 0
        or not isinstance(exponent, int)
        or exponent < -DECIMALS
    ):
        return None
    return int(amount * MICROS_PER_USD)


def usd(micros: int) -> str:
    """Micro-USD as a decimal amount with at least 2 decimals: 50000000 -> "50.00",
    1234 -> "0.001234"."""
    text = f"{Decimal(micros) / MICROS_PER_USD:f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"
