"""EN 16931 arithmetic: line nets rounded half up, VAT per rate on the sum of nets."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from encaisse.core.money import Money
from encaisse.invoicing.totals import LineInput, compute_totals, line_net

RATES = {"FR20": Decimal("20.00"), "FR10": Decimal("10.00"), "FR55": Decimal("5.50"), "FR21": Decimal("2.10"),
         "EXO": Decimal("0.00")}


def lines(*rows: tuple[str, str, str], revenue: str = "706") -> list[LineInput]:
    """(quantity, unit price, rate code) → LineInput keyed by the rate's code."""
    return [LineInput(quantity=Decimal(q), unit_price=Decimal(p), vat_percent=RATES[code], vat_key=code,
                      revenue_key=revenue) for q, p, code in rows]


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def test_a_line_net_is_rounded_half_up_not_to_even():
    # 3 × 0.335 = 1.005 → 1.01 (banker's rounding would give 1.00); 2.5 × 7.99 = 19.975 → 19.98.
    assert line_net(Decimal(3), Decimal("0.335"), "EUR") == eur("1.01")
    assert line_net(Decimal("2.5"), Decimal("7.99"), "EUR") == eur("19.98")


def test_vat_is_computed_on_the_sum_of_nets_not_line_by_line():
    # Two lines of 0.33 at 20 %: per line 0.066 → 0.07, twice 0.14; on the sum 0.66 × 20 % = 0.132 → 0.13.
    totals = compute_totals(lines(("1", "0.33", "FR20"), ("1", "0.33", "FR20")), currency="EUR")

    assert totals.line_nets == (eur("0.33"), eur("0.33"))
    assert totals.vat == eur("0.13")
    assert totals.total == eur("0.79")


def test_each_rate_gets_its_own_base_and_vat():
    # 2 × 50.00 = 100.00 at 20 % → 20.00; 3 × 16.67 = 50.01 at 10 % → 5.001 → 5.00;
    # 1 × 10.05 at 5.5 % → 0.55275 → 0.55; 1 × 7.00 exempt → 0. Nets 167.06, VAT 25.55, total 192.61.
    totals = compute_totals(
        lines(("2", "50.00", "FR20"), ("3", "16.67", "FR10"), ("1", "10.05", "FR55"), ("1", "7.00", "EXO")),
        currency="EUR",
    )

    assert {key: (base, vat) for key, base, vat in totals.vat_by_rate} == {
        "FR20": (eur("100.00"), eur("20.00")),
        "FR10": (eur("50.01"), eur("5.00")),
        "FR55": (eur("10.05"), eur("0.55")),
        "EXO": (eur("7.00"), eur("0.00")),
    }
    assert (totals.net, totals.vat, totals.total) == (eur("167.06"), eur("25.55"), eur("192.61"))


def test_two_rates_are_never_mixed_even_when_they_share_an_account():
    # Keyed by rate: 100.00 at 20 % and 100.00 at 10 % give 20.00 + 10.00, not 20 % of 200.00.
    totals = compute_totals(lines(("1", "100", "FR20"), ("1", "100", "FR10")), currency="EUR")

    assert totals.vat == eur("30.00")


def test_a_vat_key_with_two_percentages_is_refused():
    confused = [LineInput(Decimal(1), Decimal(100), Decimal(20), "44571", "706"),
                LineInput(Decimal(1), Decimal(100), Decimal(10), "44571", "706")]

    with pytest.raises(ValueError, match="two rates"):
        compute_totals(confused, currency="EUR")


def test_credit_note_lines_round_away_from_zero_like_the_invoice_they_mirror():
    # Invoice: 1 × 0.335 = 0.335 → 0.34, VAT 0.068 → 0.07, total 0.41.
    # Credit note: −1 × 0.335 = −0.335 → −0.34, VAT −0.068 → −0.07, total −0.41.
    invoice = compute_totals(lines(("1", "0.335", "FR20")), currency="EUR")
    credit = compute_totals(lines(("-1", "0.335", "FR20")), currency="EUR")

    assert invoice.total == eur("0.41")
    assert (credit.net, credit.vat, credit.total) == (eur("-0.34"), eur("-0.07"), eur("-0.41"))


def test_revenue_is_summed_per_account():
    # 706: 10.00 + 2.50 = 12.50; 708: 4.00.
    totals = compute_totals(
        [*lines(("1", "10", "FR20"), ("1", "2.5", "FR10")), *lines(("2", "2", "FR20"), revenue="708")],
        currency="EUR",
    )

    assert dict(totals.revenue_by_account) == {"706": eur("12.50"), "708": eur("4.00")}


def test_a_currency_without_decimals_rounds_to_whole_units():
    # 3 × 333.5 = 1000.5 → 1001 JPY; VAT 10 % = 100.1 → 100; total 1101.
    totals = compute_totals(lines(("3", "333.5", "FR10")), currency="JPY")

    assert (totals.net, totals.vat, totals.total) == (Money(1001, "JPY"), Money(100, "JPY"), Money(1101, "JPY"))


line_inputs = st.lists(
    st.tuples(
        st.decimals(min_value=Decimal(-1000), max_value=Decimal(1000), places=4),
        st.decimals(min_value=Decimal(0), max_value=Decimal(100000), places=4),
        st.sampled_from(sorted(RATES)),
        st.sampled_from(["706", "708"]),
    ),
    min_size=1,
    max_size=12,
)


def _inputs(rows: list[tuple]) -> list[LineInput]:
    return [LineInput(quantity=q, unit_price=p, vat_percent=RATES[code], vat_key=code, revenue_key=revenue)
            for q, p, code, revenue in rows]


@given(line_inputs)
def test_totals_add_up_and_vat_is_taken_once_per_rate_on_the_sum_of_nets(rows):
    totals = compute_totals(_inputs(rows), currency="EUR")

    assert totals.total.minor == totals.net.minor + totals.vat.minor
    assert totals.net.minor == sum(net.minor for net in totals.line_nets)
    assert totals.vat.minor == sum(vat.minor for _key, _base, vat in totals.vat_by_rate)
    assert sum(amount.minor for _key, amount in totals.revenue_by_account) == totals.net.minor
    for key, base, vat in totals.vat_by_rate:
        nets_of_rate = [Money.of(q * p, "EUR") for q, p, code, _revenue in rows if code == key]
        assert base.minor == sum(net.minor for net in nets_of_rate)
        assert vat == Money.of(base.to_decimal() * RATES[key] / 100, "EUR")


@given(line_inputs)
def test_a_full_credit_note_is_exactly_the_negative_of_its_invoice(rows):
    invoice = compute_totals(_inputs(rows), currency="EUR")
    credit = compute_totals(_inputs([(-q, p, code, revenue) for q, p, code, revenue in rows]), currency="EUR")

    assert (credit.net, credit.vat, credit.total) == (-invoice.net, -invoice.vat, -invoice.total)
