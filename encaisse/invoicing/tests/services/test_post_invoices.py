from datetime import date

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.errors import EmptyInvoice
from encaisse.invoicing.models import Invoice, InvoiceLine, VatRate
from encaisse.invoicing.services import post_invoices
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry
from encaisse.ledger.services import close_period
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Organisation

MARCH_1 = date(2026, 3, 1)


@pytest.mark.django_db
def test_drafts_are_validated_then_everything_is_posted_in_id_order_without_gaps(org, customer, clerk):
    first = draft_invoice(org, customer)
    second = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    third = draft_invoice(org, customer)

    report = post_invoices(organisation=org, by=clerk, today=MARCH_1, chunk_size=2)

    assert report.validated == 2
    assert report.failed == []
    assert report.posted == ["F-2026-00001", "F-2026-00002", "F-2026-00003"]
    numbers = dict(Invoice.objects.values_list("pk", "number"))
    assert [numbers[i.pk] for i in (first, second, third)] == report.posted
    assert Entry.objects.count() == 3
    assert verify_ledger(Organisation.objects.get(pk=org.pk)).ok  # fresh: verify reads its ledger head


@pytest.mark.django_db
def test_an_empty_draft_is_reported_with_its_reason_and_the_others_are_posted(org, customer, clerk):
    empty = draft_invoice(org, customer)
    empty.lines.all().delete()
    full = draft_invoice(org, customer)

    report = post_invoices(organisation=org, by=clerk, today=MARCH_1)

    assert report.posted == ["F-2026-00001"]
    empty.refresh_from_db()
    assert report.failed == [{"invoice": empty.display_name, "code": "empty_invoice",
                              "message": str(EmptyInvoice(invoice=empty.display_name))}]
    full.refresh_from_db()
    assert (empty.status, empty.number) == (Invoice.Status.DRAFT, None)
    assert full.status == Invoice.Status.POSTED


@pytest.mark.django_db
def test_an_invoice_dated_in_a_closed_period_is_reported_and_the_rest_posted_without_gaps(org, customer, clerk):
    close_period(organisation=org, month=date(2026, 2, 1), by=clerk)
    before = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    late = draft_invoice(org, customer, status=Invoice.Status.VALIDATED, issued_on=date(2026, 2, 20))
    after = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)

    report = post_invoices(organisation=org, by=clerk, today=MARCH_1)

    assert report.posted == ["F-2026-00001", "F-2026-00002"]
    assert [failure["code"] for failure in report.failed] == ["period_closed"]
    assert report.failed[0]["invoice"] == Invoice.objects.get(pk=late.pk).display_name
    numbers = dict(Invoice.objects.values_list("pk", "number"))
    assert (numbers[before.pk], numbers[late.pk], numbers[after.pk]) == ("F-2026-00001", None, "F-2026-00002")
    assert Entry.objects.count() == 2


@pytest.mark.django_db
def test_lines_at_different_vat_rates_each_get_their_own_vat(org, customer, clerk):
    # 100.00 at 20 % → 20.00 and 100.00 at 10 % → 10.00; both rates book on 44571: one line of 30.00.
    invoice = draft_invoice(org, customer, ("Conseil", "1", "100.00"), status=Invoice.Status.VALIDATED)
    InvoiceLine.objects.create(invoice=invoice, position=2, label="Repas", quantity=1, unit_price=100,
                               vat_rate=VatRate.objects.get(organisation=org, code="FR10"),
                               revenue_account=org.accounts.get(code="706"))

    post_invoices(organisation=org, by=clerk, today=MARCH_1)

    invoice = Invoice.objects.get(pk=invoice.pk)
    assert (invoice.net, invoice.vat, invoice.total) == (
        Money.of("200.00", "EUR"), Money.of("30.00", "EUR"), Money.of("230.00", "EUR"))
    assert {(line.account.code, line.debit_minor, line.credit_minor) for line in invoice.entry.lines.all()} == {
        ("411", 23000, 0), ("706", 0, 20000), ("44571", 0, 3000)}


@pytest.mark.django_db
def test_posting_freezes_each_line_net_and_the_due_date(org, customer, clerk):
    # 3 × 4.505 = 13.515 → 13.52; 2.5 × 7.99 = 19.975 → 19.98. Due 30 days after March 1.
    invoice = draft_invoice(org, customer, ("Lavage", "3", "4.505"), ("Repassage", "2.5", "7.99"),
                            status=Invoice.Status.VALIDATED)

    post_invoices(organisation=org, by=clerk, today=MARCH_1)

    assert list(invoice.lines.order_by("position").values_list("net_minor", flat=True)) == [1352, 1998]
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert (invoice.issued_on, invoice.due_on, invoice.receivable_line.due_on) == (
        MARCH_1, date(2026, 3, 31), date(2026, 3, 31))
    assert invoice.receivable_line.party_id == customer.pk


@pytest.mark.django_db
def test_only_the_invoices_asked_for_are_posted(org, customer, clerk):
    wanted = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    other = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)

    report = post_invoices(organisation=org, invoice_ids=[wanted.pk], by=clerk, today=MARCH_1)

    assert report.posted == ["F-2026-00001"]
    assert Invoice.objects.get(pk=other.pk).status == Invoice.Status.VALIDATED
