"""Quotes and deposit requests: numbering, amounts, issuing once, immutability, one final invoice."""

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from encaisse.core.errors import ImmutableRecord
from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, Invoice, Quote, QuoteLine, VatRate
from encaisse.invoicing.selectors import deposit_amount_due, deposit_display_status, deposit_payable
from encaisse.invoicing.services import (
    DepositRefused,
    QuoteRefused,
    add_deposit_request,
    add_quote_line,
    cancel_quote,
    invoice_from_quote,
    issue_deposit_request,
    send_quote,
)
from encaisse.invoicing.tests.quotes import DUE_ON, deposits, pay, sent_quote
from encaisse.invoicing.verify import verify_numbering
from encaisse.ledger.models import Entry, EntryLine
from encaisse.ledger.selectors import customer_balance
from encaisse.ledger.verify import verify_ledger

MARCH_5 = date(2026, 3, 5)


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


@pytest.mark.django_db
def test_sending_numbers_the_quote_and_freezes_its_totals(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)  # 1000.00 + VAT 20 % 200.00

    assert quote.status == Quote.Status.SENT
    assert quote.number == "DE-2026-00001"
    assert (quote.net, quote.vat, quote.total) == (eur("1000.00"), eur("200.00"), eur("1200.00"))
    assert Entry.objects.count() == 0  # a quote writes nothing in the ledger


@pytest.mark.django_db
def test_a_sent_quote_cannot_change_its_lines(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)
    rate = VatRate.objects.get(organisation=org, code="FR20")

    with pytest.raises(QuoteRefused, match="only a draft quote can be changed"):
        add_quote_line(quote_id=quote.pk, label="Extra", unit_price="10", vat_rate=rate, by=clerk)
    line = quote.lines.get()
    line.unit_price = 1
    with pytest.raises(ImmutableRecord):
        line.save()
    assert QuoteLine.objects.get(pk=line.pk).unit_price == 1000


@pytest.mark.django_db
def test_an_empty_quote_cannot_be_sent(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)
    empty = Quote.objects.create(organisation=org, party=customer, invoice_type=quote.invoice_type, currency="EUR")

    with pytest.raises(QuoteRefused, match="no lines"):
        send_quote(quote_id=empty.pk, by=clerk)
    assert Quote.objects.get(pk=empty.pk).number is None


@pytest.mark.django_db
def test_a_percentage_is_rounded_half_up_on_the_quote_total(org, customer, clerk):
    # 10.01 + VAT 2.002 → 2.00: total 12.01. 30 % = 3.603 → 3.60; 50 % = 6.005 → 6.01.
    quote = sent_quote(org, customer, clerk, price="10.01")

    first, second = deposits(quote, "30", "50", by=clerk)

    assert (first.amount, second.amount) == (eur("3.60"), eur("6.01"))
    assert (first.position, second.position) == (1, 2)


@pytest.mark.django_db
def test_deposits_may_not_exceed_the_quote_total_and_nothing_is_written(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)  # 1200.00
    deposits(quote, "70", by=clerk)  # 840.00

    with pytest.raises(QuoteRefused, match="would exceed the quote's total"):
        add_deposit_request(quote_id=quote.pk, amount=eur("360.01"), due_on=DUE_ON, by=clerk)
    with pytest.raises(QuoteRefused, match="more than zero"):
        add_deposit_request(quote_id=quote.pk, amount=eur("0.00"), due_on=DUE_ON, by=clerk)

    assert DepositRequest.objects.count() == 1
    add_deposit_request(quote_id=quote.pk, amount=eur("360.00"), due_on=DUE_ON, by=clerk)  # exactly the rest


@pytest.mark.django_db
def test_no_deposit_on_a_draft_quote(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)
    draft = Quote.objects.create(organisation=org, party=customer, invoice_type=quote.invoice_type, currency="EUR")

    with pytest.raises(QuoteRefused, match="sent or accepted quote"):
        add_deposit_request(quote_id=draft.pk, amount=eur("10.00"), due_on=DUE_ON, by=clerk)


@pytest.mark.django_db
def test_issuing_puts_the_deposit_on_the_customer_account_against_4191(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)
    (deposit,) = deposits(quote, "30", by=clerk)  # 360.00

    issued = issue_deposit_request(deposit_id=deposit.pk, by=clerk, today=MARCH_5)

    assert issued.number == "AC-2026-00001"
    assert issued.status == DepositRequest.Status.ISSUED
    lines = {(line.account.code, line.debit_minor, line.credit_minor, line.due_on)
             for line in issued.entry.lines.select_related("account")}
    assert lines == {("411", 36000, 0, DUE_ON), ("4191", 0, 36000, None)}
    assert issued.entry.idempotency_key == f"deposit:{deposit.pk}:issue"
    assert issued.receivable_line.account.code == "411"
    assert customer_balance(customer) == eur("360.00")
    assert deposit_amount_due(issued) == eur("360.00")
    assert deposit_display_status(issued) == "to_pay"
    assert verify_ledger(org).ok
    assert verify_numbering(org).ok


@pytest.mark.django_db
def test_issuing_twice_gives_one_number_and_one_entry(org, customer, clerk):
    (deposit,) = deposits(sent_quote(org, customer, clerk), "30", by=clerk)

    first = issue_deposit_request(deposit_id=deposit.pk, by=clerk, today=MARCH_5)
    again = issue_deposit_request(deposit_id=deposit.pk, by=clerk, today=date(2026, 3, 6))

    assert (again.number, again.issued_on, again.entry_id) == (first.number, MARCH_5, first.entry_id)
    assert Entry.objects.count() == 1


@pytest.mark.django_db
def test_an_issued_deposit_request_cannot_be_edited_or_deleted(org, customer, clerk):
    (deposit,) = deposits(sent_quote(org, customer, clerk), "30", by=clerk)
    issued = issue_deposit_request(deposit_id=deposit.pk, by=clerk, today=MARCH_5)

    issued.amount_minor = 1
    with pytest.raises(ImmutableRecord):
        issued.save()
    with pytest.raises(ImmutableRecord):
        issued.save(update_fields=["amount_minor"])
    with pytest.raises(ImmutableRecord):
        DepositRequest.objects.filter(pk=issued.pk).update(amount_minor=1)
    with pytest.raises(ImmutableRecord):
        DepositRequest.objects.get(pk=issued.pk).delete()

    assert DepositRequest.objects.get(pk=issued.pk).amount == eur("360.00")


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_database_refuses_a_change_to_an_issued_deposit_request(org, customer, clerk):
    (deposit,) = deposits(sent_quote(org, customer, clerk), "30", by=clerk)
    issue_deposit_request(deposit_id=deposit.pk, by=clerk, today=MARCH_5)

    # Around the model's guard, as raw SQL would: the trigger refuses.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE invoicing_depositrequest SET amount_minor = 1 WHERE id = %s", [deposit.pk])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM invoicing_depositrequest WHERE id = %s", [deposit.pk])
    with transaction.atomic(), connection.cursor() as cursor:  # what became of it may still be written
        cursor.execute("UPDATE invoicing_depositrequest SET status = 'cancelled' WHERE id = %s", [deposit.pk])


@pytest.mark.django_db
def test_the_second_deposit_is_payable_only_once_the_first_is_paid(org, customer, clerk):
    first, second = (issue_deposit_request(deposit_id=d.pk, by=clerk, today=MARCH_5)
                     for d in deposits(sent_quote(org, customer, clerk), "30", "70", by=clerk))

    assert deposit_payable(first) == (True, "")
    assert deposit_payable(second) == (False, "Deposit request AC-2026-00001 must be paid first.")

    pay(first, "200.00")  # partly
    assert deposit_payable(second)[0] is False
    assert deposit_display_status(first) == "partially_paid"

    pay(first, "160.00")
    assert deposit_payable(second) == (True, "")
    assert deposit_payable(first) == (False, "Nothing is left to pay on this deposit request.")
    assert deposit_display_status(first) == "paid"


@pytest.mark.django_db
def test_cancelling_a_quote_reverses_its_unpaid_deposits(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)
    first, second = deposits(quote, "30", "70", by=clerk)
    issued = issue_deposit_request(deposit_id=first.pk, by=clerk, today=MARCH_5)

    cancel_quote(quote_id=quote.pk, by=clerk, today=MARCH_5)

    issued.refresh_from_db()
    second.refresh_from_db()
    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.CANCELLED
    assert (issued.status, second.status) == (DepositRequest.Status.CANCELLED, DepositRequest.Status.CANCELLED)
    assert issued.cancel_entry.reverses_id == issued.entry_id
    assert customer_balance(customer) == eur("0.00")
    assert deposit_amount_due(issued) == eur("0.00")
    assert not EntryLine.objects.filter(account__code="4191").exclude(entry__in=[issued.entry, issued.cancel_entry])
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_a_quote_with_a_paid_deposit_cannot_be_cancelled(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)
    (deposit,) = deposits(quote, "30", by=clerk)
    issued = issue_deposit_request(deposit_id=deposit.pk, by=clerk, today=MARCH_5)
    pay(issued, "10.00")
    entries = Entry.objects.count()

    with pytest.raises(QuoteRefused, match="AC-2026-00001 was paid"):
        cancel_quote(quote_id=quote.pk, by=clerk)

    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.SENT
    assert Entry.objects.count() == entries


@pytest.mark.django_db
def test_a_cancelled_deposit_request_cannot_be_issued(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)
    (deposit,) = deposits(quote, "30", by=clerk)
    cancel_quote(quote_id=quote.pk, by=clerk)

    with pytest.raises(DepositRefused, match="cancelled request"):
        issue_deposit_request(deposit_id=deposit.pk, by=clerk)


@pytest.mark.django_db
def test_the_final_invoice_copies_the_quote_and_there_is_only_one(org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)

    invoice = invoice_from_quote(quote_id=quote.pk, by=clerk)

    assert (invoice.status, invoice.quote_id, invoice.party_id) == (Invoice.Status.DRAFT, quote.pk, customer.pk)
    assert [(line.label, line.quantity, line.unit_price) for line in invoice.lines.all()] == [
        ("Rénovation de la boutique", 1, 1000)]
    with pytest.raises(QuoteRefused, match=f"already has the final invoice Draft #{invoice.pk}"):
        invoice_from_quote(quote_id=quote.pk, by=clerk)
    with pytest.raises(IntegrityError), transaction.atomic():  # the database says so too
        Invoice.objects.create(organisation=org, invoice_type=quote.invoice_type, party=customer, currency="EUR",
                               quote=quote)
    assert quote.invoices.count() == 1


@pytest.mark.django_db
def test_a_cancelled_final_invoice_can_be_made_again(org, customer, clerk):
    from encaisse.invoicing.services import cancel_invoice

    quote = sent_quote(org, customer, clerk, accepted=True)
    cancel_invoice(invoice_id=invoice_from_quote(quote_id=quote.pk, by=clerk).pk, by=clerk)

    again = invoice_from_quote(quote_id=quote.pk, by=clerk)

    assert again.status == Invoice.Status.DRAFT


@pytest.mark.django_db
def test_only_an_accepted_quote_is_invoiced(org, customer, clerk):
    quote = sent_quote(org, customer, clerk)

    with pytest.raises(QuoteRefused, match="only an accepted quote"):
        invoice_from_quote(quote_id=quote.pk, by=clerk)
    assert not Invoice.objects.exists()
