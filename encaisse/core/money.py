"""Money as a whole number of minor units in one ISO 4217 currency.

Sums of integers are exact, so "this entry balances" means its debits and
credits add up to zero, not that they round to it. Decimals appear only at the
edges (files, forms, XML amounts, JSON) and rounding happens in one place:
Money.of().
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

from .errors import CurrencyMismatch, DomainError


class UnknownCurrency(DomainError):
    code = "unknown_currency"
    message = "%(currency)s is not an ISO 4217 currency code."


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


@cache
def exponent(currency: str) -> int:
    """Return the number of decimals of the currency's minor unit (EUR 2, JPY 0, KWD 3)."""
    if currency not in _known_currencies():
        raise UnknownCurrency(currency=currency)
    return get_currency_precision(currency)


def check_currency(currency: str) -> str:
    exponent(currency)
    return currency


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError(f"Money.minor must be an int, not {type(self.minor).__name__}")

    @classmethod
    def of(cls, amount: Decimal | str | int, currency: str) -> Money:
        """Round a decimal amount to the currency's minor unit, half up."""
        if isinstance(amount, float):
            raise TypeError("Money is never built from a float")
        places = exponent(currency)
        try:
            value = Decimal(amount)
        except InvalidOperation as error:
            raise ValueError(f"{amount!r} is not an amount") from error
        if not value.is_finite():
            raise ValueError(f"{amount!r} is not an amount")
        rounded = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
        return cls(int(rounded.scaleb(places)), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def to_decimal(self) -> Decimal:
        places = exponent(self.currency)
        return Decimal(self.minor).scaleb(-places).quantize(Decimal(1).scaleb(-places))

    def as_json(self) -> str:
        """Major units as a decimal string, the form every JSON answer uses ("1059.75")."""
        return str(self.to_decimal())

    def format(self, locale: str = "fr_FR") -> str:
        return format_currency(self.to_decimal(), self.currency, locale=locale)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(self, other)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __bool__(self) -> bool:
        return self.minor != 0

    def __str__(self) -> str:
        return f"{self.to_decimal()} {self.currency}"


def money_sum(amounts: list[Money] | tuple[Money, ...], currency: str) -> Money:
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total
