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


def compute_totals(lines: Iterable[LineInput], *, currency: str) -> Totals:
    """Round each line's net, then compute VAT once per rate on the sum of its lines' nets (BT-116, BT-117).

    Sums are kept in integer minor units, which is exact, and turned into
    Money at the end; posting runs this for every invoice of a batch. Refuses
    (ValueError) two lines under one VAT key with different percentages: the
    key must name the rate, not something two rates share such as an account.
    """
    nets: list[int] = []
    base_by_rate: dict[object, list] = {}  # key → [percent, base in minor units]
    revenue: dict[object, int] = {}
    for line in lines:
        net = _minor(line.quantity * line.unit_price, currency)
        nets.append(net)
        rate = base_by_rate.get(line.vat_key)
        if rate is None:
            base_by_rate[line.vat_key] = [line.vat_percent, net]
        elif rate[0] != line.vat_percent:
            raise ValueError(f"VAT key {line.vat_key!r} has two rates: {rate[0]} % and {line.vat_percent} %")
        else:
            rate[1] += net
        revenue[line.revenue_key] = revenue.get(line.revenue_key, 0) + net
    # base × percent / 100 is the VAT in minor units; rounding it half up to a whole minor unit is the
    # same as rounding the amount in major units to the currency's decimals.
    vat_rows = tuple(
        (key, Money(base, currency),
         Money(int((Decimal(base) * percent / 100).quantize(_ONE, ROUND_HALF_UP)), currency))
        for key, (percent, base) in base_by_rate.items()
    )
    net_total = sum(nets)
    vat_total = sum(vat.minor for _key, _base, vat in vat_rows)
    return Totals(
        line_nets=tuple(Money(net, currency) for net in nets),
        net=Money(net_total, currency),
        vat=Money(vat_total, currency),
        total=Money(net_total + vat_total, currency),
        vat_by_rate=vat_rows,
        revenue_by_account=tuple((key, Money(amount, currency)) for key, amount in revenue.items()),
    )
