"""Invoices in the back office: a draft with lines, the buttons that move it, credit notes, filters."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from encaisse.core.models import AuditEvent
from encaisse.invoicing.models import Invoice, InvoiceType, Product, VatRate
from encaisse.invoicing.selectors import amount_due, display_status
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry

from .conftest import JANUARY_10


def page_of(invoice: Invoice) -> str:
    return reverse("admin:invoicing_invoice_change", args=[invoice.pk])


def move(client, invoice: Invoice, action: str):
    return client.post(reverse("staff:invoice_action", args=[invoice.pk, action]), follow=True)


def lines_management(total: int, initial: int = 0) -> dict[str, int]:
    return {"lines-TOTAL_FORMS": total, "lines-INITIAL_FORMS": initial, "lines-MIN_NUM_FORMS": 0,
            "lines-MAX_NUM_FORMS": 1000}


@pytest.fixture
def shirt(org) -> Product:
    return Product.objects.create(
        organisation=org, code="CHEM", label="Chemise", unit="pièce", unit_price=Decimal("4.50"),
        vat_rate=VatRate.objects.get(organisation=org, code="FR20"), revenue_account=org.accounts.get(code="706"),
    )


@pytest.mark.django_db
def test_a_draft_written_in_the_back_office_is_validated_then_posted_with_number_and_entry(staff, org, customer,
                                                                                         shirt):
    standard = InvoiceType.objects.get(organisation=org, code="STANDARD")
    reduced = VatRate.objects.get(organisation=org, code="FR10")

    created = staff.post(reverse("admin:invoicing_invoice_add"), {
        "party": customer.pk, "invoice_type": standard.pk, "issued_on": "", "billing_period": "",
        "customer_reference": "BC-12", "notes": "",
        **lines_management(2),
        "lines-0-product": shirt.pk, "lines-0-quantity": "3",  # the product gives label, price and VAT
        "lines-1-label": "Retouche ourlet", "lines-1-quantity": "1", "lines-1-unit_price": "12.00",
        "lines-1-vat_rate": reduced.pk,
    })
    invoice = Invoice.objects.get(party=customer)
    validated = move(staff, invoice, "validate")
    posted = move(staff, invoice, "post")

    assert created.status_code == 302
    assert [(ln.label, ln.quantity, ln.unit, ln.unit_price, ln.vat_rate.code) for ln in invoice.lines.all()] == [
        ("Chemise", Decimal(3), "pièce", Decimal("4.50"), "FR20"),
        ("Retouche ourlet", Decimal(1), "u", Decimal("12.00"), "FR10"),
    ]
    assert "is validated and ready to post" in validated.content.decode()
    invoice.refresh_from_db()
    number = f"F-{timezone.localdate().year}-00001"
    assert invoice.status == Invoice.Status.POSTED
    assert invoice.number == number
    page = posted.content.decode()
    assert f"Invoice posted with number {number}." in page
    # 3 × 4.50 = 13.50 + VAT 20 % 2.70; 1 × 12.00 + VAT 10 % 1.20: net 25.50, VAT 3.90, total 29.40.
    assert invoice.total_minor == 2940
    assert 'id="ledger-entry"' in page
    # Account names are stored in the organisation's language (French here), whatever the page's.
    assert f"411 {org.accounts.get(code='411').name}" in page
    assert "€29.40" in page
    assert f"706 {org.accounts.get(code='706').name}" in page
    assert "€25.50" in page
    assert f"44571 {org.accounts.get(code='44571').name}" in page
    assert "€3.90" in page
    assert Entry.objects.filter(organisation=org).count() == 1
    # The audit trail says who did what and from where.
    assert [e.verb for e in AuditEvent.objects.filter(object_id=str(invoice.pk), content_type__model="invoice")
            ] == ["created", "line_added", "line_added", "validated", "posted"]
    assert page.count(">back office<") == 5
    assert ">clerk<" in page


@pytest.mark.django_db
def test_a_refused_move_shows_the_reason_and_changes_nothing(staff, org, customer):
    invoice = draft_invoice(org, customer)

    response = move(staff, invoice, "post")

    assert f"Invoice Draft #{invoice.pk} cannot be posted while it is Draft." in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.DRAFT
    assert invoice.number is None


@pytest.mark.django_db
def test_moves_are_post_only(staff, org, customer):
    invoice = draft_invoice(org, customer)

    response = staff.get(reverse("staff:invoice_action", args=[invoice.pk, "validate"]))

    assert response.status_code == 405
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.DRAFT


@pytest.mark.django_db
def test_back_to_draft_and_cancel(staff, org, customer):
    invoice = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)

    move(staff, invoice, "reopen")
    invoice.refresh_from_db()
    reopened = invoice.status
    move(staff, invoice, "cancel")
    invoice.refresh_from_db()

    assert reopened == Invoice.Status.DRAFT
    assert invoice.status == Invoice.Status.CANCELLED


@pytest.mark.django_db
def test_changing_a_draft_line_replaces_it_through_the_services(staff, org, customer):
    invoice = draft_invoice(org, customer, ("Nettoyage", "1", "10.00"), ("Repassage", "2", "3.00"))
    first, second = invoice.lines.all()
    data = {
        "party": customer.pk, "invoice_type": invoice.invoice_type_id, "customer_reference": "", "notes": "Urgent",
        **lines_management(3, initial=2),
        "lines-0-id": first.pk, "lines-0-invoice": invoice.pk, "lines-0-label": "Nettoyage",
        "lines-0-quantity": "4", "lines-0-unit": "u", "lines-0-unit_price": "10.00",
        "lines-0-vat_rate": first.vat_rate_id,
        "lines-1-id": second.pk, "lines-1-invoice": invoice.pk, "lines-1-label": "Repassage",
        "lines-1-quantity": "2", "lines-1-unit": "u", "lines-1-unit_price": "3.00",
        "lines-1-vat_rate": second.vat_rate_id, "lines-1-DELETE": "on",
        "lines-2-invoice": invoice.pk, "lines-2-quantity": "1",  # the untouched empty row
    }

    response = staff.post(page_of(invoice), data)

    assert response.status_code == 302, response.context["errors"]
    invoice.refresh_from_db()
    assert invoice.notes == "Urgent"
    assert [(ln.label, ln.quantity) for ln in invoice.lines.all()] == [("Nettoyage", Decimal(4))]
    # Before posting the page shows what posting would compute: 4 × 10.00 = 40.00 + VAT 20 % 8.00 = 48.00.
    assert "€48.00" in staff.get(page_of(invoice)).content.decode()


@pytest.mark.django_db
def test_a_posted_invoice_page_has_no_editable_field_and_a_change_post_changes_nothing(staff, org, customer):
    invoice = draft_invoice(org, customer, ("Nettoyage", "1", "10.00"), status=Invoice.Status.VALIDATED)
    post_invoice(invoice_id=invoice.pk, today=JANUARY_10)
    line = invoice.lines.get()

    page = staff.get(page_of(invoice)).content.decode()
    response = staff.post(page_of(invoice), {
        "party": customer.pk, "invoice_type": invoice.invoice_type_id, "notes": "Changed", **lines_management(1, 1),
        "lines-0-id": line.pk, "lines-0-invoice": invoice.pk, "lines-0-label": "Changed", "lines-0-quantity": "9",
        "lines-0-unit_price": "0.01", "lines-0-vat_rate": line.vat_rate_id,
    })

    for name in ('name="notes"', 'name="party"', 'name="invoice_type"', 'name="lines-0-quantity"', 'name="_save"'):
        assert name not in page
    assert "F-2026-00001" in page
    assert "€12.00" in page  # 10.00 + VAT 20 % 2.00, frozen at posting
    assert response.status_code == 403
    invoice.refresh_from_db()
    line.refresh_from_db()
    assert invoice.notes == ""
    assert invoice.total_minor == 1200
    assert (line.label, line.quantity) == ("Nettoyage", Decimal(1))


@pytest.mark.django_db
def test_a_full_credit_note_from_a_posted_invoice(staff, org, customer):
    invoice = draft_invoice(org, customer, ("Nettoyage", "1", "100.00"), status=Invoice.Status.VALIDATED)
    post_invoice(invoice_id=invoice.pk, today=JANUARY_10)

    response = move(staff, invoice, "credit")

    credit_note = Invoice.objects.get(credited_invoice=invoice)
    assert f"Credit note {credit_note.number} is issued and posted." in response.content.decode()
    assert credit_note.number.startswith("AV-")
    assert credit_note.status == Invoice.Status.POSTED
    # 100.00 + VAT 20 % = 120.00 invoiced, all of it credited.
    assert credit_note.total_minor == -12000
    invoice.refresh_from_db()
    assert display_status(invoice, today=JANUARY_10) == "credited"
    assert credit_note.number in staff.get(page_of(invoice)).content.decode()


@pytest.mark.django_db
def test_a_partial_credit_note_credits_the_quantities_given(staff, org, customer):
    invoice = draft_invoice(org, customer, ("Chemise", "3", "4.50"), ("Pantalon", "1", "12.00"),
                            status=Invoice.Status.VALIDATED)
    post_invoice(invoice_id=invoice.pk, today=JANUARY_10)
    shirt_line = invoice.lines.get(label="Chemise")
    form_url = reverse("staff:invoice_credit_note", args=[invoice.pk])

    form = staff.get(form_url)
    too_much = staff.post(form_url, {f"quantity_{shirt_line.pk}": "4", "reason": "Erreur"})
    done = staff.post(form_url, {f"quantity_{shirt_line.pk}": "1", "reason": "Chemise abîmée"}, follow=True)

    assert f'name="quantity_{shirt_line.pk}"' in form.content.decode()
    assert "4 asked, 3.0000 left to credit" in too_much.content.decode()
    credit_note = Invoice.objects.get(credited_invoice=invoice)
    assert f"Credit note {credit_note.number} is issued and posted." in done.content.decode()
    # 1 × 4.50 + VAT 20 % 0.90 = 5.40 credited.
    assert credit_note.total_minor == -540
    # Invoiced 3 × 4.50 + 12.00 = 25.50 + VAT 5.10 = 30.60; 30.60 − 5.40 = 25.20 still due.
    assert amount_due(invoice).minor == 2520


@pytest.mark.django_db
def test_the_overdue_filter_lists_posted_invoices_past_their_due_date(staff, org, customer):
    today = timezone.localdate()
    late = draft_invoice(org, customer, ("Ancien", "1", "10.00"), status=Invoice.Status.VALIDATED,
                         issued_on=today - timedelta(days=60))  # due 30 days after issue: a month late
    recent = draft_invoice(org, customer, ("Récent", "1", "10.00"), status=Invoice.Status.VALIDATED,
                           issued_on=today)
    draft = draft_invoice(org, customer, ("Brouillon", "1", "10.00"))
    for invoice in (late, recent):
        post_invoice(invoice_id=invoice.pk, today=today)
    late.refresh_from_db()
    recent.refresh_from_db()
    changelist = reverse("admin:invoicing_invoice_changelist")

    overdue = staff.get(changelist, {"status": "overdue"}).content.decode()
    to_pay = staff.get(changelist, {"status": "to_pay"}).content.decode()

    assert late.number in overdue
    assert recent.number not in overdue
    assert draft.display_name not in overdue
    assert "Overdue" in overdue
    assert recent.number in to_pay
    assert late.number not in to_pay


@pytest.mark.django_db
def test_the_invoice_list_searches_and_filters_by_period(staff, org, customer):
    march = draft_invoice(org, customer, ("Mars", "1", "10.00"), billing_period=date(2026, 3, 1),
                          customer_reference="CMD-MARS")
    april = draft_invoice(org, customer, ("Avril", "1", "10.00"), billing_period=date(2026, 4, 1))
    changelist = reverse("admin:invoicing_invoice_changelist")

    by_period = staff.get(changelist, {"period": "2026-03"}).content.decode()
    by_search = staff.get(changelist, {"q": "CMD-MARS"}).content.decode()

    assert march.display_name in by_period
    assert april.display_name not in by_period
    assert march.display_name in by_search
    assert april.display_name not in by_search
