from datetime import date
from decimal import Decimal

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.errors import CreditNoteRefused
from encaisse.invoicing.models import Invoice, InvoiceLine, SeriesCounter
from encaisse.invoicing.selectors import amount_due, display_status
from encaisse.invoicing.services import CreditLine, issue_credit_note, post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry, EntryLine, Journal, Settlement
from encaisse.ledger.selectors import customer_balance
from encaisse.ledger.services import EntryDraft, LineDraft, post_entry, settle

MARCH_1 = date(2026, 3, 1)
MARCH_10 = date(2026, 3, 10)


@pytest.fixture
def invoice(org, customer, clerk):
    # 3 × 4.50 = 13.50 and 1 × 0.99: nets 14.49, VAT 20 % = 2.898 → 2.90, total 17.39.
    draft = draft_invoice(org, customer, ("Chemise", "3", "4.50"), ("Cintre", "1", "0.99"),
                          status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=draft.pk, by=clerk, today=MARCH_1)


def line_of(invoice, label):
    return invoice.lines.get(label=label)


def pay(org, customer, invoice, amount, clerk):
    """A bank transfer booked and matched to the invoice, as the banking app will do it."""
    entry = post_entry(org, EntryDraft(
        journal=org.journals.get(kind=Journal.Kind.BANK), date=MARCH_10, label="Virement",
        lines=(LineDraft.signed(org.accounts.get(code="512"), Money.of(amount, "EUR")),
               LineDraft.signed(org.accounts.get(code="411"), -Money.of(amount, "EUR"), party=customer)),
    ), idempotency_key=f"test:pay:{invoice.pk}", by=clerk)
    credit = entry.lines.get(account__code="411")
    settle(debit_line_id=invoice.receivable_line_id, credit_line_id=credit.pk, idempotency_key=f"test:{credit.pk}",
           by=clerk)


@pytest.mark.django_db
def test_a_full_credit_note_credits_the_invoice_and_takes_its_own_number(invoice, customer, clerk):
    credit_note = issue_credit_note(invoice_id=invoice.pk, reason="Erreur de client", by=clerk, today=MARCH_10)

    assert credit_note.number == "AV-2026-00001"
    assert credit_note.kind == Invoice.Kind.CREDIT_NOTE
    assert credit_note.credited_invoice == invoice
    assert credit_note.total == Money.of("-17.39", "EUR")
    assert amount_due(invoice) == Money.zero("EUR")
    assert display_status(invoice, today=MARCH_10) == "credited"
    assert customer_balance(customer) == Money.zero("EUR")
    # Its entry mirrors the invoice's: 411 credited 17.39, 706 debited 14.49, 44571 debited 2.90.
    assert {(line.account.code, line.debit_minor, line.credit_minor) for line in credit_note.entry.lines.all()} == {
        ("411", 0, 1739), ("706", 1449, 0), ("44571", 290, 0)}


@pytest.mark.django_db
def test_a_partial_credit_note_credits_only_the_quantities_asked(invoice, clerk):
    chemise = line_of(invoice, "Chemise")

    credit_note = issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(chemise.pk, Decimal(1))], by=clerk,
                                    today=MARCH_10)

    # One shirt: −4.50, VAT −0.90, total −5.40; still due 17.39 − 5.40 = 11.99.
    assert credit_note.total == Money.of("-5.40", "EUR")
    assert [(ln.label, ln.quantity, ln.credited_line_id) for ln in credit_note.lines.all()] == [
        ("Chemise", Decimal(-1), chemise.pk)]
    assert amount_due(invoice) == Money.of("11.99", "EUR")

    # Then the rest: 2 shirts and the hanger, nets −9.99, VAT −1.998 → −2.00, total −11.99.
    rest = issue_credit_note(invoice_id=invoice.pk, by=clerk, today=MARCH_10)

    assert (credit_note.number, rest.number) == ("AV-2026-00001", "AV-2026-00002")
    assert rest.total == Money.of("-11.99", "EUR")
    assert amount_due(invoice) == Money.zero("EUR")
    assert display_status(invoice, today=MARCH_10) == "credited"


@pytest.mark.django_db
def test_crediting_more_than_is_left_is_refused_and_writes_nothing(invoice, clerk):
    chemise = line_of(invoice, "Chemise")
    issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(chemise.pk, Decimal(2))], by=clerk, today=MARCH_10)
    before = (Invoice.objects.count(), InvoiceLine.objects.count(), Entry.objects.count(), Settlement.objects.count())

    with pytest.raises(CreditNoteRefused, match=r"2 asked, 1(\.0+)? left to credit"):
        issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(chemise.pk, Decimal(2))], by=clerk,
                          today=MARCH_10)

    assert (Invoice.objects.count(), InvoiceLine.objects.count(), Entry.objects.count(),
            Settlement.objects.count()) == before
    assert SeriesCounter.objects.get(series__prefix="AV").last_value == 1
    assert amount_due(invoice) == Money.of("6.59", "EUR")  # 17.39 − (9.00 + VAT 1.80)


@pytest.mark.django_db
def test_a_fully_credited_invoice_cannot_be_credited_again(invoice, clerk):
    issue_credit_note(invoice_id=invoice.pk, by=clerk, today=MARCH_10)

    with pytest.raises(CreditNoteRefused, match="already fully credited"):
        issue_credit_note(invoice_id=invoice.pk, by=clerk, today=MARCH_10)


@pytest.mark.django_db
def test_a_line_of_another_invoice_or_a_draft_cannot_be_credited(org, customer, invoice, clerk):
    other = post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk, by=clerk,
                         today=MARCH_1)
    draft = draft_invoice(org, customer)

    with pytest.raises(CreditNoteRefused, match="is not on it"):
        issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(other.lines.get().pk, Decimal(1))], by=clerk)
    with pytest.raises(CreditNoteRefused, match="only a posted invoice"):
        issue_credit_note(invoice_id=draft.pk, by=clerk)


@pytest.mark.django_db
def test_crediting_a_paid_invoice_leaves_a_credit_on_the_customer_account(org, customer, invoice, clerk):
    pay(org, customer, invoice, "17.39", clerk)
    assert display_status(invoice, today=MARCH_10) == "paid"

    credit_note = issue_credit_note(invoice_id=invoice.pk, by=clerk, today=MARCH_10)

    # Nothing was left to settle on the invoice: the 17.39 is the customer's, to use or refund.
    assert customer_balance(customer) == Money.of("-17.39", "EUR")
    assert amount_due(credit_note) == Money.of("-17.39", "EUR")
    assert amount_due(invoice) == Money.zero("EUR")
    assert not Settlement.objects.filter(credit_line=credit_note.receivable_line).exists()


@pytest.mark.django_db
def test_crediting_a_partly_paid_invoice_settles_what_is_due_and_keeps_the_rest_as_credit(
        org, customer, invoice, clerk):
    pay(org, customer, invoice, "10.00", clerk)

    credit_note = issue_credit_note(invoice_id=invoice.pk, by=clerk, today=MARCH_10)

    # 7.39 was still due: the credit note settles it and 17.39 − 7.39 = 10.00 stays as credit.
    assert amount_due(invoice) == Money.zero("EUR")
    assert amount_due(credit_note) == Money.of("-10.00", "EUR")
    assert customer_balance(customer) == Money.of("-10.00", "EUR")


@pytest.mark.django_db
def test_a_credit_note_worth_less_than_a_cent_is_posted_and_settles_nothing(org, customer, clerk):
    # 1000 × 0.004 = 4.00; crediting one unit is −0.004, which rounds to 0.00.
    invoice = post_invoice(invoice_id=draft_invoice(org, customer, ("Vis", "1000", "0.004"),
                                                    status=Invoice.Status.VALIDATED).pk, by=clerk, today=MARCH_1)

    credit_note = issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(invoice.lines.get().pk, Decimal(1))],
                                    by=clerk, today=MARCH_10)

    assert credit_note.number == "AV-2026-00001"
    assert credit_note.total == Money.zero("EUR")
    assert amount_due(invoice) == Money.of("4.80", "EUR")  # 4.00 + VAT 0.80
    assert not EntryLine.objects.filter(settled_as_credit__isnull=False).exists()


@pytest.mark.django_db
def test_crediting_an_invoice_in_parts_credits_exactly_its_total(org, customer, clerk):
    # Invoice: 0.178 × 0.1967 = 0.035 → 0.04, VAT 0.008 → 0.01, total 0.05.
    # First note: 0.0015 × 0.1967 = 0.0003 → 0.00. The rest: 0.1765 × 0.1967 = 0.0347 → 0.03, VAT 0.01,
    # total 0.04: one cent stays due on an invoice whose every quantity was credited.
    invoice = post_invoice(invoice_id=draft_invoice(org, customer, ("Fil", "0.178", "0.1967"),
                                                    status=Invoice.Status.VALIDATED).pk, by=clerk, today=MARCH_1)
    issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(invoice.lines.get().pk, Decimal("0.0015"))],
                      by=clerk, today=MARCH_10)

    issue_credit_note(invoice_id=invoice.pk, by=clerk, today=MARCH_10)

    assert amount_due(invoice) == Money.zero("EUR")
