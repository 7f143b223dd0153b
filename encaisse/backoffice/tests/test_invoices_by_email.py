"""Invoices by email from the back office: the customer's page, and the email queued right after staff post."""

from datetime import date

import pytest
from django.urls import reverse

from encaisse.core.audit import AuditEvent
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services.by_email import set_invoices_by_email
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer

MARCH = date(2026, 3, 1)


def customer_form(customer: Customer, **changes: str) -> dict[str, str]:
    form = {"organisation": customer.organisation_id, "ref": customer.ref, "name": customer.name,
            "kind": customer.kind, "email": customer.email, "language": customer.language or "fr", "country": "FR",
            "payment_delay_days": "", "other_emails": "", "notes": ""}
    return {**form, **changes}


def issued(invoice: Invoice) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(idempotency_key=f"invoice:{invoice.pk}:issued"))


@pytest.mark.django_db
def test_staff_turn_it_on_from_the_customer_page_through_the_service(staff, customer, clerk):
    url = reverse("admin:parties_customer_change", args=[customer.pk])
    page = staff.get(url).content.decode()
    assert 'name="invoices_by_email"' in page
    assert "Invoices by email since" in page  # shown, not editable

    response = staff.post(url, customer_form(customer, invoices_by_email="on"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = Customer.objects.get(pk=customer.pk)
    assert stored.invoices_by_email is True
    assert stored.invoices_by_email_since is not None
    (event,) = AuditEvent.objects.filter(verb="invoices_by_email_on", object_id=str(customer.pk))
    assert event.by == clerk
    assert 'name="invoices_by_email_since"' not in staff.get(url).content.decode()


@pytest.mark.django_db
def test_staff_cannot_turn_it_on_for_a_customer_without_email(staff, customer):
    url = reverse("admin:parties_customer_change", args=[customer.pk])

    response = staff.post(url, customer_form(customer, email="", invoices_by_email="on", notes="changed"))

    assert response.status_code == 200  # the form again, with its error
    assert "has no email address: invoices cannot be sent by email" in response.content.decode()
    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.email, stored.notes, stored.invoices_by_email) == ("jeanne@example.org", "", False)


@pytest.mark.django_db
def test_posting_an_invoice_in_the_back_office_emails_it_to_a_customer_who_chose_it(staff, org, customer, clerk):
    set_invoices_by_email(customer, enabled=True, by=clerk)
    invoice = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)

    response = staff.post(reverse("staff:invoice_action", args=[invoice.pk, "post"]), follow=True)

    (message,) = issued(invoice)
    assert "/pay/" in message.body_text
    assert "http://testserver/pay/" in message.body_text  # the address the staff member reached
    assert "1 invoice emailed to the customer who chose it." in response.content.decode()


@pytest.mark.django_db
def test_posting_for_a_customer_who_did_not_choose_it_sends_nothing(staff, org, customer):
    invoice = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)

    staff.post(reverse("staff:invoice_action", args=[invoice.pk, "post"]))

    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.POSTED
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_posting_a_month_of_drafts_emails_them(staff, org, customer, clerk):
    set_invoices_by_email(customer, enabled=True, by=clerk)
    invoices = [draft_invoice(org, customer, billing_period=MARCH) for _ in range(2)]

    response = staff.post(reverse("staff:usage_drafts_action"),
                          {"org": org.slug, "period": "2026-03", "action": "post"}, follow=True)

    assert all(len(issued(invoice)) == 1 for invoice in invoices)
    assert "2 invoices emailed to customers who chose it." in response.content.decode()


@pytest.mark.django_db
def test_the_post_invoices_command_emails_them_and_says_how_many(org, customer, clerk):
    import json
    from io import StringIO

    from django.core.management import call_command

    set_invoices_by_email(customer, enabled=True, by=clerk)
    invoice = draft_invoice(org, customer, issued_on=date(2026, 3, 10))
    out = StringIO()

    call_command("post-invoices", "--period", "2026-03", "--json", stdout=out)

    assert json.loads(out.getvalue())["emailed"] == 1
    (message,) = issued(invoice)
    assert "http://127.0.0.1:8000/pay/" in message.body_text  # no request: ENCAISSE_BASE_URL's default
