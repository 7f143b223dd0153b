"""Reason codes of SEPA direct debit R-transactions and what each one means for Encaisse.

A bank that rejects (pain.002) or returns, refuses or refunds (camt.054) a
collection gives an ISO 20022 external status reason code. The code decides
three things here, and nothing else: whether the mandate can still be used
(``revokes_mandate``), whether presenting the same debt again later makes sense
(``represent``), and whether the fault lies in Encaisse's own file or creditor
settings (``our_error``), which a clerk must fix rather than the customer.

These three columns are a product choice, not a scheme rule: the EPC rulebook
only lists the codes. The choices are conservative. A mandate is revoked only
when the code says the account or the mandate itself cannot be used again
(account wrong, closed or not open to direct debits, no valid mandate,
customer deceased); a blocked account (AC06) is treated the same way because
the customer has to give a new account or lift the block, and collecting again
blindly would only produce more rejects and fees. Only insufficient funds
(AM04) and the unexplained bank refusal (MS03, which some banks send instead
of AM04 or AC04 for data-protection reasons) allow a re-presentation; the
policy that caps how many retries happen lives with the service, not here.

MD01 ("no valid mandate") arriving as a *refund* more than 8 weeks after the
debit (up to 13 months) is the debtor disputing an unauthorised collection:
the mandate is revoked whatever the source file. MD06 is the Core scheme's
no-questions-asked refund within 8 weeks: the money goes back but the mandate
stays valid.

The raw code is always kept by the caller, including proprietary codes and
codes not listed here: ``reason()`` never refuses a code.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise, lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True, slots=True, kw_only=True)
class Reason:
    """One R-transaction reason code and the consequences Encaisse draws from it."""

    code: str
    label: str | Promise
    revokes_mandate: bool = False
    represent: bool = False
    our_error: bool = False
    known: bool = True

    def __str__(self) -> str:
        return f"{self.code} – {self.label}"


_TABLE: tuple[Reason, ...] = (
    Reason(code="AC01", label=_("Account number incorrect"), revokes_mandate=True),
    Reason(code="AC04", label=_("Account closed"), revokes_mandate=True),
    Reason(code="AC06", label=_("Account blocked, or blocked for direct debits"), revokes_mandate=True),
    Reason(code="AC13", label=_("Consumer account: business-to-business direct debit not allowed"),
           revokes_mandate=True),
    Reason(code="AG01", label=_("Direct debit not allowed on this account"), revokes_mandate=True),
    Reason(code="AG02", label=_("Invalid operation or sequence code (file error)"), our_error=True),
    Reason(code="AM04", label=_("Insufficient funds"), represent=True),
    Reason(code="AM05", label=_("Duplicate collection")),
    Reason(code="BE05", label=_("Creditor identifier not recognised"), our_error=True),
    Reason(code="CNOR", label=_("Creditor's bank not reachable")),
    Reason(code="DNOR", label=_("Customer's bank not reachable for SEPA direct debits"), revokes_mandate=True),
    Reason(code="FF01", label=_("Invalid file format"), our_error=True),
    Reason(code="MD01", label=_("No valid mandate (unauthorised collection)"), revokes_mandate=True),
    Reason(code="MD02", label=_("Mandate data missing or incorrect"), our_error=True),
    Reason(code="MD06", label=_("Refund requested by the customer")),
    Reason(code="MD07", label=_("Customer deceased"), revokes_mandate=True),
    Reason(code="MS02", label=_("Refused by the customer (no reason given)")),
    Reason(code="MS03", label=_("Refused by the bank (no reason given)"), represent=True),
    Reason(code="RC01", label=_("Bank identifier (BIC) incorrect"), our_error=True),
    Reason(code="RR01", label=_("Customer's account or identification missing (regulatory reason)"),
           our_error=True),
    Reason(code="RR02", label=_("Customer's name or address missing (regulatory reason)"), our_error=True),
    Reason(code="RR03", label=_("Creditor's name or address missing (regulatory reason)"), our_error=True),
    Reason(code="RR04", label=_("Regulatory reason")),
    Reason(code="SL01", label=_("Blocked by a service of the customer's bank (block list, allow list or limit)")),
    Reason(code="FOCR", label=_("Returned after a cancellation request")),
)

REASONS: dict[str, Reason] = {r.code: r for r in _TABLE}

#: Codes after which the mandate is revoked (the issue's "AC04, AC06, MD01, MD07, …").
REVOKING_CODES: frozenset[str] = frozenset(r.code for r in _TABLE if r.revokes_mandate)


def reason(code: str | None) -> Reason:
    """Return what a bank's reason code means; an unknown or missing code gives a neutral reason.

    The lookup ignores case and surrounding spaces. An unknown code (a
    proprietary code, or one this table lacks) keeps its raw text, revokes
    nothing and allows no re-presentation, so an unexpected code never
    cancels a customer's mandate nor triggers a new debit.
    """
    raw = (code or "").strip()
    known = REASONS.get(raw.upper())
    if known is not None:
        return known
    return Reason(code=raw, label=_unknown_label(raw or "?"), known=False)


def _unknown_label_now(code: str) -> str:
    return gettext("Reason %(code)s given by the bank") % {"code": code}


# Lazy so the label is translated when shown, in the reader's language, like the table's labels.
_unknown_label = lazy(_unknown_label_now, str)
