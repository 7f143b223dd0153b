"""Invoice arithmetic, per EN 16931: line nets rounded, then VAT per rate on the sum of nets.

Pure functions over plain values: no ORM import, so the rules are tested
directly and fast, and posting and previews agree by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from encaisse.core.money import Money, exponent


@dataclass(frozen=True, slots=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    vat_percent: Decimal
    vat_key: object  # what identifies the rate and its account (a VatRate or its id)
    revenue_key: object  # the revenue account (or its id)


@dataclass(frozen=True, slots=True)
class Totals:
    line_nets: tuple[Money, ...]
    net: Money
    vat: Money
    total: Money
    vat_by_rate: tuple[tuple[object, Money, Money], ...]  # (rate key, base, VAT)
    revenue_by_account: tuple[tuple[object, Money], ...]


def line_net(quantity: Decimal, unit_price: Decimal, currency: str) -> Money:
    """BT-131: quantity × unit price, rounded half up to the currency's minor unit."""
    return Money.of(quantity * unit_price, currency)


_ONE = Decimal(1)


@cache
def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-exponent(currency))


def _minor(amount: Decimal, currency: str) -> int:
    """The same rounding as Money.of (half up, to the minor unit), as a plain int for the sums below."""
    return int(amount.quantize(_quantum(currency), ROUND_HALF_UP).scaleb(exponent(currency)))


def vat_on(base_minor: int, percent: Decimal) -> int:
    """VAT in minor units on a base in minor units, rounded half up (same as rounding in major units)."""
    return int((Decimal(base_minor) * percent / 100).quantize(_ONE, ROUND_HALF_UP))


def totals_from_nets(nets: list[tuple[int, object, Decimal, object]], *, currency: str,
                     vat_by_rate: dict[object, int] | None = None) -> Totals:
    """Totals from line nets already in minor units: (net, vat key, percent, revenue key) per line.

    `vat_by_rate` imposes the VAT of some rates instead of computing it: a
    credit note that closes an invoice credits exactly the VAT left on it.
    """
    base_by_rate: dict[object, list] = {}
    revenue: dict[object, int] = {}
    for net, vat_key, percent, revenue_key in nets:
        rate = base_by_rate.setdefault(vat_key, [percent, 0])
        if rate[0] != percent:
            raise ValueError(f"VAT key {vat_key!r} has two rates: {rate[0]} % and {percent} %")
        rate[1] += net
        revenue[revenue_key] = revenue.get(revenue_key, 0) + net
    imposed = vat_by_rate or {}
    vat_rows = tuple(
        (key, Money(base, currency), Money(imposed[key] if key in imposed else vat_on(base, percent), currency))
        for key, (percent, base) in base_by_rate.items()
    )
    net_total = sum(net for net, *_rest in nets)
    vat_total = sum(vat.minor for _key, _base, vat in vat_rows)
    return Totals(
        line_nets=tuple(Money(net, currency) for net, *_rest in nets),
        net=Money(net_total, currency),
        vat=Money(vat_total, currency),
        total=Money(net_total + vat_total, currency),
        vat_by_rate=vat_rows,
        revenue_by_account=tuple((key, Money(amount, currency)) for key, amount in revenue.items()),
    )


def compute_totals(lines: Iterable[LineInput], *, currency: str) -> Totals:
    """Round each line's net, then compute VAT once per rate on the sum of its lines' nets (BT-116, BT-117).

    Sums are kept in integer minor units, which is exact, and turned into
    Money at the end; posting runs this for every invoice of a batch. Refuses
    (ValueError) two lines under one VAT key with different percentages: the
    key must name the rate, not something two rates share such as an account.
    """
    return totals_from_nets(
        [(_minor(line.quantity * line.unit_price, currency), line.vat_key, line.vat_percent, line.revenue_key)
         for line in lines],
        currency=currency,
    )
