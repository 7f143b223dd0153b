"""Direct debits from scheduling to the bank: pre-notification, pain.008 files, settlement, mandate upkeep.

(Interface fixed by the integrator; bodies written by the SEPA services work.)
"""

from __future__ import annotations

from datetime import date
from typing import Any

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.ledger.models import EntryLine
from encaisse.parties.models import Organisation

from .models import DebitFile, DirectDebit, Mandate


def schedule_direct_debit(*, mandate: Mandate, invoice: Invoice | None, line: EntryLine, amount: Money,
                          due_on: date, today: date, prenotification_days: int, key: str,
                          represents: DirectDebit | None = None, by: Any = None) -> DirectDebit:
    """Schedule one debit of `amount` on `line` from `mandate` and queue its pre-notification, in the caller's
    transaction. `key` names the business event (e.g. the collection and try) and makes the end-to-end id:
    the same key returns the same debit. The one-in-flight-per-line constraint raises IntegrityError."""
    raise NotImplementedError


def export_direct_debits(*, organisation: Organisation, today: date, collection_date: date | None = None,
                         by: Any = None) -> list[DebitFile]:
    """Write the scheduled debits into pain.008 files (one per bank account, scheme and collection date), freeze
    them and book each file (5113 / 411, lettered with the invoices). Nothing to export → []."""
    raise NotImplementedError


def settle_direct_debits(*, today: date, organisation: Organisation | None = None) -> int:
    """Files whose collection date has come: their debits not rejected are collected (512 / 5113)."""
    raise NotImplementedError


def change_mandate_account(*, mandate: Mandate, iban: str, bic: str = "", by: Any = None) -> Mandate:
    """A new IBAN for a mandate: an amendment told to the bank with the next debit (SMNDA / original IBAN)."""
    raise NotImplementedError


def lapse_mandates(*, today: date) -> int:
    """Mandates unused for 36 months (since their last debit presented, or signature) lapse."""
    raise NotImplementedError
