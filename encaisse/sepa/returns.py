"""Reading the bank's answers back: pain.002 rejects and camt.054 returns and refunds, applied once each.

(Interface fixed by the integrator; bodies written by the SEPA services work.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from encaisse.parties.models import Organisation

from .models import BankFile, RTransaction


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    bank_file: BankFile
    already_imported: bool  # the same file (same bytes) came before: nothing changed
    applied: list[RTransaction] = field(default_factory=list)  # new R-transactions, in file order
    already_known: list[str] = field(default_factory=list)  # end-to-end ids whose R-transaction existed
    unmatched: list[dict[str, Any]] = field(default_factory=list)  # facts matching no debit, with why


def import_bank_file(*, organisation: Organisation, data: bytes, name: str = "", by: Any = None) -> ImportReport:
    """Keep the file, match its facts by end-to-end id and apply each R-transaction once (see the module doc)."""
    raise NotImplementedError
