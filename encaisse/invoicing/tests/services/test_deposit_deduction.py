"""Posting a quote's final invoice deducts its deposits: what was paid lowers the invoice, the rest is closed."""

from datetime import date

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, Invoice, Quote
from encaisse.invoicing.selectors import amount_due, deposit_amount_due, deposit_display_status, deposit_paid
from encaisse.invoicing.services import (
    add_line,
    invoice_from_quote,
    issue_deposit_request,
    post_invoice,
    post_invoices,
    validate_invoice,
)
from encaisse.invoicing.tests.quotes import deposits, pay, sent_quote
from encaisse.invoicing.verify import verify_numbering
from encaisse.ledger.models import Entry
from encaisse.ledger.selectors import customer_balance, open_amount
from encaisse.ledger.verify import verify_ledger

MARCH_5, APRIL_1 = date(2026, 3, 5), date(2026, 4, 1)


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


def issued(quote: Quote, *percents: str, by=None) -> list[DepositRequest]:
    return [issue_deposit_request(deposit_id=d.pk, by=by, today=MARCH_5) for d in deposits(quote, *percents, by=by)]


def final_invoice(quote: Quote, clerk, *, post: bool = True) -> Invoice:
    invoice = invoice_from_quote(quote_id=quote.pk, by=clerk)
    validate_invoice(invoice_id=invoice.pk, by=clerk)
    return post_invoice(invoice_id=invoice.pk, by=clerk, today=APRIL_1) if post else invoice


def lines_of(entry: Entry) -> list[tuple[str, int, int, str]]:
    return [(line.account.code, line.debit_minor, line.credit_minor, line.label)
            for line in entry.lines.select_related("account").order_by("pk")]


@pytest.mark.django_db
def test_the_invoice_owes_its_total_minus_the_deposits_paid_and_the_unpaid_one_is_closed(org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)  # 1200.00
    first, second = issued(quote, "30", "70", by=clerk)  # 360.00 and 840.00
    pay(first, "360.00")

    invoice = final_invoice(quote, clerk)

    # 1200.00 − 360.00 paid = 840.00; the second request (840.00, unpaid) is closed, not owed twice.
    assert amount_due(invoice) == eur("840.00")
    assert customer_balance(customer) == eur("840.00")
    deduction = Entry.objects.get(idempotency_key=f"invoice:{invoice.pk}:deposits")
    assert lines_of(deduction) == [
        ("4191", 120000, 0, invoice.number),
        ("411", 0, 36000, invoice.number),
        ("411", 0, 84000, second.number),
    ]
    for deposit in (first, second):
        deposit.refresh_from_db()
        assert deposit.deduction_entry_id == deduction.pk
        assert deposit_amount_due(deposit) == eur("0.00")
        assert deposit_display_status(deposit) == "deducted"
    assert open_amount(second.receivable_line) == eur("0.00")
    assert deposit_paid(first) == eur("360.00")
    assert deposit_paid(second) == eur("0.00")
    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.INVOICED
    assert sum(line.credit_minor - line.debit_minor for line in org.accounts.get(code="4191").lines.all()) == 0
    assert verify_ledger(org).ok
    assert verify_numbering(org).ok


@pytest.mark.django_db
def test_a_partly_paid_deposit_counts_what_was_paid(org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)
    (deposit,) = issued(quote, "50", by=clerk)  # 600.00
    pay(deposit, "100.00")

    invoice = final_invoice(quote, clerk)

    assert amount_due(invoice) == eur("1100.00")
    assert customer_balance(customer) == eur("1100.00")
    assert deposit_amount_due(DepositRequest.objects.get(pk=deposit.pk)) == eur("0.00")


@pytest.mark.django_db
def test_deposits_paid_beyond_a_smaller_final_invoice_become_an_advance(org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)  # 1200.00
    (deposit,) = issued(quote, "100", by=clerk)
    pay(deposit, "1200.00")
    invoice = invoice_from_quote(quote_id=quote.pk, by=clerk)
    invoice.lines.all().delete()  # the work came cheaper: 500.00 + VAT = 600.00
    add_line(invoice_id=invoice.pk, label="Rénovation (réduite)", quantity=1, unit_price="500.00",
             vat_rate=quote.lines.get().vat_rate, by=clerk)
    validate_invoice(invoice_id=invoice.pk, by=clerk)

    posted = post_invoice(invoice_id=invoice.pk, by=clerk, today=APRIL_1)

    assert amount_due(posted) == eur("0.00")
    deduction = Entry.objects.get(idempotency_key=f"invoice:{invoice.pk}:deposits")
    assert lines_of(deduction) == [("4191", 120000, 0, posted.number), ("411", 0, 60000, posted.number),
                                   ("419", 0, 60000, posted.number)]
    assert customer_balance(customer) == eur("-600.00")  # the customer holds 600.00 in advance
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_posting_again_deducts_once_and_draft_requests_are_cancelled(org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)
    (first,) = issued(quote, "30", by=clerk)
    (draft,) = deposits(quote, "20", by=clerk)
    invoice = final_invoice(quote, clerk)
    entries = Entry.objects.count()

    post_invoice(invoice_id=invoice.pk, by=clerk, today=APRIL_1)

    assert Entry.objects.count() == entries
    assert DepositRequest.objects.get(pk=draft.pk).status == DepositRequest.Status.CANCELLED
    assert amount_due(invoice) == eur("1200.00")  # nothing was paid: nothing deducted
    assert deposit_amount_due(DepositRequest.objects.get(pk=first.pk)) == eur("0.00")  # closed, not owed twice
    assert customer_balance(customer) == eur("1200.00")


@pytest.mark.django_db
def test_the_batch_posting_deducts_deposits_too(org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)
    (deposit,) = issued(quote, "30", by=clerk)
    pay(deposit, "360.00")
    invoice = invoice_from_quote(quote_id=quote.pk, by=clerk)

    report = post_invoices(organisation=org, invoice_ids=[invoice.pk], by=clerk, today=APRIL_1)

    assert report.failed == []
    assert report.posted == ["F-2026-00001"]
    assert amount_due(Invoice.objects.get(pk=invoice.pk)) == eur("840.00")
    assert Entry.objects.filter(idempotency_key=f"invoice:{invoice.pk}:deposits").count() == 1
