"""Quotes ready for deposit requests, for tests across apps."""

from datetime import date
from typing import Any

from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, InvoiceType, Quote, VatRate
from encaisse.invoicing.services import accept_quote, add_deposit_request, add_quote_line, create_quote, send_quote
from encaisse.ledger.models import Account
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entry, settle
from encaisse.parties.models import Customer, Organisation

SENT_ON = date(2026, 3, 2)
DUE_ON = date(2026, 3, 20)
PAID_ON = date(2026, 3, 5)


def sent_quote(org: Organisation, customer: Customer, by: Any = None, *, price: str = "1000.00",
               accepted: bool = False) -> Quote:
    """A sent quote of one line at `price` excl. VAT, VAT 20 %: total price × 1.2 (1000.00 → 1200.00)."""
    quote = create_quote(customer=customer, invoice_type=InvoiceType.objects.get(organisation=org, code="STANDARD"),
                         by=by)
    add_quote_line(quote_id=quote.pk, label="Rénovation de la boutique", quantity="1", unit_price=price,
                   vat_rate=VatRate.objects.get(organisation=org, code="FR20"), by=by)
    quote = send_quote(quote_id=quote.pk, by=by, today=SENT_ON)
    return accept_quote(quote_id=quote.pk, by=by) if accepted else quote


def deposits(quote: Quote, *percents: str, by: Any = None) -> list[DepositRequest]:
    """Draft deposit requests on the quote, one per percentage, due on DUE_ON."""
    return [add_deposit_request(quote_id=quote.pk, percent=p, due_on=DUE_ON, by=by) for p in percents]


def pay(deposit: DepositRequest, amount: str) -> None:
    """What a payment of `amount` euros does on PAID_ON: bank against 411, settled on the deposit's line."""
    org = deposit.organisation
    money = Money.of(amount, "EUR")
    entry = post_entry(org, EntryDraft(
        journal=journal_of_kind(org, "bank"), date=PAID_ON, label="virement",
        lines=(LineDraft.signed(account_of_kind(org, Account.Kind.BANK), money),
               LineDraft.signed(account_of_kind(org, Account.Kind.RECEIVABLE), -money,
                                party=deposit.quote.party))), idempotency_key=f"test:pay:{deposit.pk}:{amount}")
    credit = entry.lines.get(account__kind=Account.Kind.RECEIVABLE)
    settle(debit_line_id=deposit.receivable_line_id, credit_line_id=credit.pk, idempotency_key=f"test:{entry.pk}")
