"""TARGET business days: the days on which SEPA direct debits settle.

SEPA collections settle between banks through TARGET (T2), so every date in a
direct-debit file — the requested collection date and the deadline for
sending the file — counts in TARGET business days, not in the days the
creditor's own country works. TARGET is closed on weekends and on 1 January,
Good Friday, Easter Monday, 1 May, 25 and 26 December; the `holidays`
package's ECB calendar ("XECB") holds exactly those closing days (not the
weekends, which we check ourselves).

Pure functions on dates: no database, no clock. Callers pass "today".
"""

from datetime import date, timedelta

import holidays

# Years are loaded on demand (expand=True), so the calendar stays right in 2040.
_TARGET_CLOSED = holidays.financial_holidays("XECB")

_ONE_DAY = timedelta(days=1)


def is_target_day(day: date) -> bool:
    """True when TARGET settles payments on `day`: a weekday that is not a TARGET closing day."""
    return day.weekday() < 5 and day not in _TARGET_CLOSED


def next_target_day(day: date) -> date:
    """Return `day` itself when it is a TARGET day, else the first TARGET day after it.

    A bank refuses a requested collection date on which TARGET is closed, so
    any date we compute (due date, end of pre-notification) is moved forward,
    never backward: collecting before the date the customer was told is not
    allowed, collecting a little after is.
    """
    while not is_target_day(day):
        day += _ONE_DAY
    return day


def add_target_days(day: date, n: int) -> date:
    """Return the n-th TARGET day after `day` (n >= 0; n == 0 gives `day` itself, even if closed).

    "D-1" in the rulebook means one TARGET day, so a file sent on Thursday
    24 December 2026 can only be collected on Monday 28 December.
    """
    if n < 0:
        raise ValueError("add_target_days counts forward only (n >= 0)")
    while n > 0:
        day += _ONE_DAY
        if is_target_day(day):
            n -= 1
    return day


def earliest_collection_date(sent_on: date, *, lead_days: int = 1) -> date:
    """First date we may ask the bank to collect on for a file sent on `sent_on`.

    Since the SEPA Core rulebook 9.2 (20 November 2016) every sequence type
    (FRST, RCUR, OOFF, FNAL) may reach the debtor's bank up to D-1 inter-bank
    business day (before: D-5 for FRST/OOFF, D-2 for RCUR/FNAL); B2B is D-1 as
    well. The creditor's bank usually wants the file a bit earlier (its own
    cut-off), hence `lead_days`, a per-bank-account setting (default 1).
    The day the file is sent counts as D-n even when TARGET is closed that
    day: what matters is how many TARGET days lie between.
    """
    if lead_days < 1:
        raise ValueError("lead_days must be at least 1: the rulebook's minimum is D-1")
    return add_target_days(sent_on, lead_days)


def collection_date_for(due_on: date, *, sent_on: date, lead_days: int = 1,
                        prenotified_on: date | None = None, prenotification_days: int = 14) -> date:
    """The requested collection date (ReqdColltnDt) to write for an invoice due on `due_on`.

    It is the latest of three dates, moved forward to a TARGET day:
    - the due date: we never collect before the customer owes the money;
    - the earliest date the bank can still honour for a file sent on `sent_on`
      (see earliest_collection_date);
    - when the customer was pre-notified (usually on the invoice), that date
      plus `prenotification_days` calendar days: the rulebook requires the
      debtor to be told 14 calendar days ahead unless the mandate terms agree
      on a shorter period.
    """
    candidates = [due_on, earliest_collection_date(sent_on, lead_days=lead_days)]
    if prenotified_on is not None:
        if prenotification_days < 0:
            raise ValueError("prenotification_days cannot be negative")
        candidates.append(prenotified_on + timedelta(days=prenotification_days))
    return next_target_day(max(candidates))
