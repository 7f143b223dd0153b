"""TARGET business days and the collection date we ask the bank for."""

from datetime import date

import pytest

from encaisse.sepa.calendar import (
    add_target_days,
    collection_date_for,
    earliest_collection_date,
    is_target_day,
    next_target_day,
)


@pytest.mark.parametrize("day", [
    date(2026, 1, 1),    # New Year's Day (Thursday)
    date(2026, 4, 3),    # Good Friday 2026
    date(2026, 4, 6),    # Easter Monday 2026
    date(2027, 3, 26),   # Good Friday 2027
    date(2027, 3, 29),   # Easter Monday 2027
    date(2026, 5, 1),    # Labour Day (Friday)
    date(2026, 12, 25),  # Christmas (Friday)
    date(2027, 12, 26),  # Sunday 26 Dec 2027: closed anyway
    date(2026, 12, 12),  # Saturday
    date(2026, 12, 13),  # Sunday
])
def test_target_is_closed_on_its_holidays_and_weekends(day):
    assert not is_target_day(day)


@pytest.mark.parametrize("day", [
    date(2026, 4, 2),    # Maundy Thursday: open
    date(2026, 4, 7),    # Tuesday after Easter
    date(2026, 5, 8),    # VE Day: a French bank holiday, but TARGET is open
    date(2026, 7, 14),   # Bastille Day: same
    date(2026, 12, 24),  # Christmas Eve (Thursday): open
    date(2026, 12, 31),  # New Year's Eve (Thursday): open
    date(2026, 12, 28),  # Monday after Christmas
])
def test_target_is_open_on_national_holidays_and_christmas_eve(day):
    assert is_target_day(day)


def test_next_target_day_keeps_an_open_day_and_moves_a_closed_one_forward():
    assert next_target_day(date(2026, 12, 10)) == date(2026, 12, 10)
    assert next_target_day(date(2026, 12, 25)) == date(2026, 12, 28)  # Fri 25, Sat 26, Sun 27 closed
    assert next_target_day(date(2026, 4, 3)) == date(2026, 4, 7)      # Good Friday → after Easter Monday
    assert next_target_day(date(2027, 1, 1)) == date(2027, 1, 4)      # Fri 1 Jan, then the weekend


def test_add_target_days_counts_only_open_days():
    assert add_target_days(date(2026, 12, 24), 1) == date(2026, 12, 28)
    assert add_target_days(date(2026, 4, 2), 2) == date(2026, 4, 8)   # skips Good Friday, weekend, Easter Monday
    assert add_target_days(date(2026, 4, 30), 1) == date(2026, 5, 4)  # skips 1 May and the weekend
    assert add_target_days(date(2027, 3, 25), 1) == date(2027, 3, 30)  # Easter 2027
    assert add_target_days(date(2026, 12, 31), 1) == date(2027, 1, 4)  # year boundary: 1 Jan + weekend
    assert add_target_days(date(2026, 12, 10), 0) == date(2026, 12, 10)


def test_add_target_days_refuses_to_count_backwards():
    with pytest.raises(ValueError, match="forward only"):
        add_target_days(date(2026, 12, 10), -1)


def test_earliest_collection_date_is_d_plus_lead_target_days():
    assert earliest_collection_date(date(2026, 12, 10)) == date(2026, 12, 11)           # Thu → Fri
    assert earliest_collection_date(date(2026, 12, 11)) == date(2026, 12, 14)           # Fri → Mon
    assert earliest_collection_date(date(2026, 12, 12)) == date(2026, 12, 14)           # sent on Saturday
    assert earliest_collection_date(date(2026, 12, 23), lead_days=2) == date(2026, 12, 28)
    assert earliest_collection_date(date(2026, 12, 30), lead_days=2) == date(2027, 1, 4)


def test_earliest_collection_date_never_allows_same_day():
    with pytest.raises(ValueError, match="D-1"):
        earliest_collection_date(date(2026, 12, 10), lead_days=0)


def test_collection_on_the_due_date_when_it_is_far_enough_and_open():
    assert collection_date_for(date(2026, 12, 15), sent_on=date(2026, 12, 10), lead_days=1) == date(2026, 12, 15)


def test_a_due_date_on_a_closed_day_moves_forward_never_back():
    assert collection_date_for(date(2026, 12, 25), sent_on=date(2026, 12, 10)) == date(2026, 12, 28)
    assert collection_date_for(date(2027, 5, 1), sent_on=date(2027, 4, 1)) == date(2027, 5, 3)  # Saturday 1 May


def test_an_overdue_invoice_is_collected_at_the_earliest_date_the_bank_accepts():
    assert collection_date_for(date(2026, 12, 1), sent_on=date(2026, 12, 24), lead_days=1) == date(2026, 12, 28)


def test_pre_notification_period_pushes_the_date():
    # Invoice pre-notified on 12 Dec, due 15 Dec: 14 calendar days → 26 Dec (Saturday, closed) → Monday 28.
    assert collection_date_for(date(2026, 12, 15), sent_on=date(2026, 12, 14),
                               prenotified_on=date(2026, 12, 12)) == date(2026, 12, 28)
    # A shorter period agreed in the mandate terms.
    assert collection_date_for(date(2026, 12, 15), sent_on=date(2026, 12, 14),
                               prenotified_on=date(2026, 12, 12), prenotification_days=5) == date(2026, 12, 17)


def test_the_latest_constraint_wins_across_the_year_boundary():
    assert collection_date_for(date(2026, 12, 30), sent_on=date(2026, 12, 30), lead_days=1,
                               prenotified_on=date(2026, 12, 1)) == date(2026, 12, 31)
    assert collection_date_for(date(2026, 12, 30), sent_on=date(2026, 12, 31), lead_days=1) == date(2027, 1, 4)
