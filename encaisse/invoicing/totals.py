"""Invoice arithmetic, per EN 16931: line nets rounded, then VAT per rate on the sum of nets.

Pure functions over plain values: no ORM import, so the rules are tested
directly and fast, and posting and previews agree by construction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from encaisse.core.money import Money


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


def compute_totals(lines: Iterable[LineInput], *, currency: str) -> Totals:
    nets: list[Money] = []
    base_by_rate: dict[object, tuple[Decimal, Money]] = {}
    revenue: dict[object, Money] = {}
    zero = Money.zero(currency)
    for line in lines:
        net = line_net(line.quantity, line.unit_price, currency)
        nets.append(net)
        percent, base = base_by_rate.get(line.vat_key, (line.vat_percent, zero))
        base_by_rate[line.vat_key] = (percent, base + net)
        revenue[line.revenue_key] = revenue.get(line.revenue_key, zero) + net
    vat_rows = tuple(
        (key, base, Money.of(base.to_decimal() * percent / 100, currency))
        for key, (percent, base) in base_by_rate.items()
    )
    net_total = sum(nets, zero)
    vat_total = sum((vat for _key, _base, vat in vat_rows), zero)
    return Totals(
        line_nets=tuple(nets),
        net=net_total,
        vat=vat_total,
        total=net_total + vat_total,
        vat_by_rate=vat_rows,
        revenue_by_account=tuple(revenue.items()),
    )
