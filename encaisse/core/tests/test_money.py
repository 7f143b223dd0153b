from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from encaisse.core.errors import CurrencyMismatch
from encaisse.core.money import Money, UnknownCurrency


def test_of_rounds_half_up_to_the_minor_unit():
    assert Money.of("0.125", "EUR") == Money(13, "EUR")
    assert Money.of("-0.125", "EUR") == Money(-13, "EUR")
    assert Money.of("1059.75", "EUR").minor == 105975


def test_currencies_have_their_own_exponent():
    assert Money.of("1234", "JPY") == Money(1234, "JPY")
    assert Money.of("1.2345", "KWD") == Money(1235, "KWD")  # 3 decimals, half up


def test_a_float_is_refused():
    with pytest.raises(TypeError):
        Money.of(0.1, "EUR")


def test_amounts_in_two_currencies_do_not_add():
    with pytest.raises(CurrencyMismatch):
        Money(100, "EUR") + Money(100, "USD")


def test_unknown_currency_is_refused():
    with pytest.raises(UnknownCurrency):
        Money.of("1", "XXZ")


def test_json_form_is_major_units_with_all_decimals():
    assert Money(105975, "EUR").as_json() == "1059.75"
    assert Money(-5, "EUR").as_json() == "-0.05"
    assert Money(7, "JPY").as_json() == "7"


def test_french_format_uses_a_narrow_no_break_space():
    assert Money(123456789, "EUR").format("fr_FR") == "1\u202f234\u202f567,89\u00a0€"


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2))
def test_decimal_round_trip_is_exact_at_currency_precision(amount):
    assert Money.of(amount, "EUR").to_decimal() == amount
