"""Quotes and their deposit requests (acomptes), up to the final invoice that deducts them.

A quote is priced and numbered when it is sent; the customer is then asked
for one or more deposits on it. An issued deposit request is a receivable
like an invoice: one entry in the sales journal puts its amount on the
customer's account (411, due on its due date) against 4191 "customer deposits
on orders", it gets a gapless number of its own series, and it is never
edited afterwards. The final invoice, made from the quote, deducts the
deposits when it is posted (posting.py). A quote itself never touches the
ledger.

Numbers: quotes take theirs from the organisation's series "DE" and deposit
requests from "AC", both created on first use and both taken with the same
counter lock as invoice numbers (take_numbers), so they are gapless too.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.ledger.models import Account, EntryLine, Journal
from encaisse.ledger.services import (
    EntryDraft,
    LineDraft,
    account_of_kind,
    journal_of_kind,
    post_entry,
    reverse_entry,
    settle,
)
from encaisse.parties.models import Customer, Organisation

from ..errors import ForeignRecord
from ..models import (
    DepositRequest,
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceType,
    Product,
    Quote,
    QuoteLine,
    VatRate,
)
from ..selectors import deposit_paid, quote_totals
from .posting import take_numbers

QUOTE_SERIES = "DE"
DEPOSIT_SERIES = "AC"


class QuoteRefused(DomainError):
    code = "quote_refused"
    message = _("Quote %(quote)s: %(reason)s")


class DepositRefused(DomainError):
    code = "deposit_refused"
    message = _("Deposit request %(deposit)s: %(reason)s")


def _series(organisation: Organisation, code: str) -> InvoiceSeries:
    """The organisation's series for quotes or deposit requests, created on first use (prefix = code)."""
    series, _created = InvoiceSeries.objects.get_or_create(organisation=organisation, code=code,
                                                           defaults={"prefix": code})
    return series


def _locked_quote(quote_id: int) -> Quote:
    return Quote.objects.select_for_update().select_related("organisation", "party").get(pk=quote_id)


def _refuse(quote: Quote, reason: Any) -> QuoteRefused:
    return QuoteRefused(quote=quote.display_name, reason=reason)


def _draft_quote(quote_id: int) -> Quote:
    quote = _locked_quote(quote_id)
    if quote.status != Quote.Status.DRAFT:
        raise _refuse(quote, _("only a draft quote can be changed."))
    return quote


# --- drafting -------------------------------------------------------------------------------------------------


@transaction.atomic
def create_quote(
    *, customer: Customer, invoice_type: InvoiceType, by: Any = None, valid_until: date | None = None,
    customer_reference: str = "", notes: str = "",
) -> Quote:
    """Open a draft quote; it gets its number when sent. `invoice_type` is the final invoice's."""
    if customer.organisation_id != invoice_type.organisation_id:
        raise ForeignRecord(what=str(customer))
    quote = Quote.objects.create(
        organisation_id=customer.organisation_id, party=customer, invoice_type=invoice_type,
        currency=customer.organisation.currency, valid_until=valid_until, customer_reference=customer_reference,
        notes=notes, created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    record_event(quote, "created", by=by)
    return quote


EDITABLE_FIELDS = frozenset({"party", "invoice_type", "valid_until", "customer_reference", "notes"})


@transaction.atomic
def edit_quote(*, quote_id: int, by: Any = None, **changes: Any) -> Quote:
    """Change a draft quote's customer, invoice type, validity, reference or notes."""
    quote = _draft_quote(quote_id)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable on a quote: {', '.join(sorted(unknown))}")
    for name in ("party", "invoice_type"):
        if name in changes and changes[name].organisation_id != quote.organisation_id:
            raise ForeignRecord(what=str(changes[name]))
    for name, value in changes.items():
        setattr(quote, name, value)
    quote.save(update_fields=list(changes))
    record_event(quote, "edited", by=by, data={"fields": sorted(changes)})
    return quote


@transaction.atomic
def add_quote_line(
    *, quote_id: int, by: Any = None, product: Product | None = None, label: str = "",
    quantity: Decimal | str | int = 1, unit_price: Decimal | str | None = None, vat_rate: VatRate | None = None,
    unit: str | None = None,
) -> QuoteLine:
    """Add a catalogue line (label, price, VAT, account from the product) or a free line to a draft quote."""
    quote = _draft_quote(quote_id)
    for record in (product, vat_rate):
        if record is not None and record.organisation_id != quote.organisation_id:
            raise ForeignRecord(what=str(record))
    if product is None and (vat_rate is None or unit_price is None or not label):
        raise ValueError("a free line needs a label, a unit price and a VAT rate")
    revenue = product.revenue_account if product else (
        Account.objects.filter(organisation_id=quote.organisation_id, kind=Account.Kind.REVENUE).order_by("code")
        .first())
    line = QuoteLine.objects.create(
        quote=quote, position=quote.lines.count() + 1, product=product, label=label or product.label,
        quantity=Decimal(quantity), unit=unit or (product.unit if product else "u"),
        unit_price=Decimal(unit_price) if unit_price is not None else product.unit_price,
        vat_rate=vat_rate or product.vat_rate, revenue_account=revenue,
    )
    record_event(quote, "line_added", by=by, data={"line": line.pk, "label": line.label})
    return line


@transaction.atomic
def remove_quote_line(*, line_id: int, by: Any = None) -> None:
    line = QuoteLine.objects.get(pk=line_id)
    quote = _draft_quote(line.quote_id)
    record_event(quote, "line_removed", by=by, data={"line": line.pk, "label": line.label})
    line.delete()


# --- moves ----------------------------------------------------------------------------------------------------


@transaction.atomic
def send_quote(*, quote_id: int, by: Any = None, today: date | None = None) -> Quote:
    """Number the quote and freeze its totals: from now on it is what the customer was offered.

    Sending a sent quote returns it unchanged. Refuses a quote without lines.
    """
    quote = _locked_quote(quote_id)
    if quote.status == Quote.Status.SENT:
        return quote
    if quote.status != Quote.Status.DRAFT:
        raise _refuse(quote, _("only a draft quote can be sent."))
    if not quote.lines.exists():
        raise _refuse(quote, _("it has no lines."))
    totals = quote_totals(quote)
    quote.issued_on = quote.issued_on or today or timezone.localdate()
    (quote.number,) = take_numbers(series=_series(quote.organisation, QUOTE_SERIES), year=quote.issued_on.year)
    quote.net_minor, quote.vat_minor, quote.total_minor = totals.net.minor, totals.vat.minor, totals.total.minor
    quote.status = Quote.Status.SENT
    quote.save(update_fields=["issued_on", "number", "net_minor", "vat_minor", "total_minor", "status"])
    record_event(quote, "sent", by=by, data={"total": quote.total.as_json()})
    return quote


@transaction.atomic
def accept_quote(*, quote_id: int, by: Any = None) -> Quote:
    """Record the customer's acceptance of a sent quote (accepting it again changes nothing)."""
    quote = _locked_quote(quote_id)
    if quote.status == Quote.Status.ACCEPTED:
        return quote
    if quote.status != Quote.Status.SENT:
        raise _refuse(quote, _("only a sent quote can be accepted."))
    quote.status = Quote.Status.ACCEPTED
    quote.save(update_fields=["status"])
    record_event(quote, "accepted", by=by)
    return quote


@transaction.atomic
def cancel_quote(*, quote_id: int, by: Any = None, today: date | None = None) -> Quote:
    """Cancel a quote and the deposit requests asked on it, in one transaction.

    Refused once a deposit was paid (even partly: that money is the
    customer's, refund or invoice it first) and once the quote has a final
    invoice that is not cancelled. Issued, unpaid requests are closed by a
    reversing entry settled against their line; drafts are just cancelled.
    """
    quote = _locked_quote(quote_id)
    if quote.status == Quote.Status.CANCELLED:
        return quote
    if quote.status == Quote.Status.INVOICED or quote.invoices.exclude(status=Invoice.Status.CANCELLED).exists():
        raise _refuse(quote, _("it has a final invoice; cancel that invoice first."))
    deposits = list(DepositRequest.objects.select_for_update().filter(quote=quote).exclude(
        status=DepositRequest.Status.CANCELLED).order_by("position", "pk"))
    paid = [d for d in deposits if d.status == DepositRequest.Status.ISSUED and deposit_paid(d).minor]
    if paid:
        raise _refuse(quote, _("deposit request %(number)s was paid.") % {"number": paid[0].number})
    today = today or timezone.localdate()
    for deposit in deposits:
        if deposit.status == DepositRequest.Status.ISSUED:
            reversal = reverse_entry(entry=deposit.entry, on=today, label=f"{deposit.number} annulé",
                                     idempotency_key=f"deposit:{deposit.pk}:cancel", by=by)
            credit = reversal.lines.get(account__kind=Account.Kind.RECEIVABLE)
            settle(debit_line_id=deposit.receivable_line_id, credit_line_id=credit.pk,
                   idempotency_key=f"deposit:{deposit.pk}:cancel:settle", by=by)
            deposit.cancel_entry = reversal
        deposit.status = DepositRequest.Status.CANCELLED
        deposit.save(update_fields=["status", "cancel_entry"])
        record_event(deposit, "cancelled", by=by)
    quote.status = Quote.Status.CANCELLED
    quote.save(update_fields=["status"])
    record_event(quote, "cancelled", by=by)
    return quote


# --- deposit requests -----------------------------------------------------------------------------------------


def _open_for_deposits(quote: Quote) -> None:
    if quote.status not in (Quote.Status.SENT, Quote.Status.ACCEPTED):
        raise _refuse(quote, _("deposits are asked on a sent or accepted quote, not on a %(status)s one.") % {
            "status": quote.get_status_display().lower()})


@transaction.atomic
def add_deposit_request(
    *, quote_id: int, due_on: date, amount: Money | None = None, percent: Decimal | str | None = None,
    label: str = "", by: Any = None,
) -> DepositRequest:
    """Ask a deposit on a sent or accepted quote, as an amount or as a percentage of its total (half up).

    The request is a draft until issued. Refuses a zero or negative amount and
    deposits that would add up to more than the quote's total.
    """
    quote = _locked_quote(quote_id)
    _open_for_deposits(quote)
    if (amount is None) == (percent is None):
        raise ValueError("give either an amount or a percentage")
    if percent is not None:
        percent = Decimal(percent)
        if not 0 < percent <= 100:
            raise _refuse(quote, _("a deposit is between 0 and 100 % of the quote."))
        amount = Money.of(quote.total.to_decimal() * percent / 100, quote.currency)
    if amount.currency != quote.currency:
        raise _refuse(quote, _("the deposit must be in %(currency)s.") % {"currency": quote.currency})
    if amount.minor <= 0:
        raise _refuse(quote, _("a deposit must be more than zero."))
    asked = (quote.deposit_requests.exclude(status=DepositRequest.Status.CANCELLED)
             .aggregate(s=Sum("amount_minor"))["s"] or 0)
    if asked + amount.minor > quote.total_minor:
        raise _refuse(quote, _("deposits of %(asked)s would exceed the quote's total of %(total)s.") % {
            "asked": Money(asked + amount.minor, quote.currency).format(), "total": quote.total.format()})
    position = (quote.deposit_requests.order_by("-position").values_list("position", flat=True).first() or 0) + 1
    deposit = DepositRequest.objects.create(
        organisation_id=quote.organisation_id, quote=quote, position=position, amount_minor=amount.minor,
        currency=amount.currency, percent=percent, due_on=due_on,
        label=label or str(_("Deposit %(n)s on quote %(quote)s") % {"n": position, "quote": quote.number}),
    )
    record_event(deposit, "created", by=by, data={"amount": amount.as_json()})
    return deposit


@transaction.atomic
def issue_deposit_request(*, deposit_id: int, by: Any = None, today: date | None = None) -> DepositRequest:
    """Number a draft deposit request and put it on the customer's account, in one transaction.

    One entry in the sales journal, keyed deposit:<id>:issue: debit 411 (the
    customer, due on its due date), credit 4191. Issuing an issued request
    returns it unchanged: one number, one entry. Lock order as in posting:
    the request, then the series counter, then the ledger head.
    """
    deposit = DepositRequest.objects.select_for_update().get(pk=deposit_id)
    if deposit.status == DepositRequest.Status.ISSUED:
        return deposit
    if deposit.status != DepositRequest.Status.DRAFT:
        raise DepositRefused(deposit=deposit.display_name, reason=_("a cancelled request cannot be issued."))
    quote = Quote.objects.select_related("organisation", "party").get(pk=deposit.quote_id)
    _open_for_deposits(quote)
    organisation, customer = quote.organisation, quote.party
    deposit.issued_on = today or timezone.localdate()
    (deposit.number,) = take_numbers(series=_series(organisation, DEPOSIT_SERIES), year=deposit.issued_on.year)
    label = f"{deposit.number} {customer.name}"[:200]
    entry = post_entry(organisation, EntryDraft(
        journal=journal_of_kind(organisation, Journal.Kind.SALES), date=deposit.issued_on, label=label,
        lines=(LineDraft.signed(account_of_kind(organisation, Account.Kind.RECEIVABLE), deposit.amount,
                                party=customer, due_on=deposit.due_on, label=deposit.number),
               LineDraft.signed(account_of_kind(organisation, Account.Kind.DEPOSITS), -deposit.amount,
                                party=customer, label=deposit.number)),
    ), idempotency_key=f"deposit:{deposit.pk}:issue", by=by)
    deposit.entry = entry
    deposit.receivable_line = EntryLine.objects.get(entry=entry, account__kind=Account.Kind.RECEIVABLE)
    deposit.issued_at = timezone.now()
    deposit.status = DepositRequest.Status.ISSUED
    deposit.save()
    record_event(deposit, "issued", by=by, data={"number": deposit.number, "amount": deposit.amount.as_json()})
    return deposit


# --- the final invoice ----------------------------------------------------------------------------------------


@transaction.atomic
def invoice_from_quote(*, quote_id: int, by: Any = None) -> Invoice:
    """Make the quote's final invoice: a draft with the quote's lines, pointing at the quote.

    Refused unless the quote is accepted, and while it has another final
    invoice that is not cancelled (the quote's row lock puts two clerks in
    single file; a unique constraint backs it up). Posting the invoice deducts
    the deposits (posting.py).
    """
    quote = _locked_quote(quote_id)
    if quote.status != Quote.Status.ACCEPTED:
        raise _refuse(quote, _("only an accepted quote is invoiced."))
    existing = quote.invoices.filter(kind=Invoice.Kind.INVOICE).exclude(status=Invoice.Status.CANCELLED).first()
    if existing is not None:
        raise _refuse(quote, _("it already has the final invoice %(invoice)s.") % {
            "invoice": existing.display_name})
    invoice = Invoice.objects.create(
        organisation_id=quote.organisation_id, invoice_type=quote.invoice_type, party=quote.party,
        currency=quote.currency, quote=quote, customer_reference=quote.customer_reference or quote.number,
        notes=quote.notes, created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=invoice, position=line.position, product_id=line.product_id, label=line.label,
                    quantity=line.quantity, unit=line.unit, unit_price=line.unit_price, vat_rate_id=line.vat_rate_id,
                    revenue_account_id=line.revenue_account_id)
        for line in quote.lines.order_by("position", "pk")
    )
    record_event(invoice, "created", by=by, data={"quote": quote.number})
    record_event(quote, "invoice_drafted", by=by, data={"invoice": invoice.pk})
    return invoice
