"""Recording an offline payment from the back office."""

from datetime import date

import pytest
from django.urls import reverse

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.payments.models import Payment
from encaisse.payments.services import advance_balance


@pytest.fixture
def invoice(org, customer, clerk):
    # 50.00 excl. VAT, VAT 20 %: 60.00 due.
    draft = draft_invoice(org, customer, ("Service", "1", "50.00"), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=draft.pk, by=clerk, today=date(2026, 3, 1))


def form(token: str, **values):
    return {"method": "cheque", "amount": "100.00", "received_on": "2026-03-20", "reference": "",
            "cheque_bank": "LCL", "cheque_number": "0042", "token": token, **values}


@pytest.mark.django_db
def test_a_cheque_recorded_in_the_back_office_pays_the_invoice_and_keeps_the_excess(staff, customer, invoice):
    url = reverse("staff:record_payment", args=[customer.pk])
    page = staff.get(url)
    assert page.status_code == 200
    assert f'value="{invoice.receivable_line_id}"' in page.content.decode()  # the open item is offered

    done = staff.post(url, form("t1", lines=[str(invoice.receivable_line_id)]), follow=True)

    assert "Payment of €100.00 recorded" in done.content.decode()
    assert amount_due(invoice) == Money.of("0.00", "EUR")
    assert advance_balance(customer) == Money.of("40.00", "EUR")
    # The same form sent twice (double click, back button) records nothing more.
    staff.post(url, form("t1", lines=[str(invoice.receivable_line_id)]))
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_a_refused_payment_shows_why_and_writes_nothing(staff, customer, invoice):
    url = reverse("staff:record_payment", args=[customer.pk])

    page = staff.post(url, form("t2", cheque_number=""))

    assert "a cheque needs its number" in page.content.decode()
    assert Payment.objects.count() == 0
    assert amount_due(invoice) == Money.of("60.00", "EUR")


@pytest.mark.django_db
def test_staff_cannot_record_a_payment_for_another_organisations_customer(staff, other_customer):
    url = reverse("staff:record_payment", args=[other_customer.pk])

    assert staff.get(url).status_code == 404
    assert staff.post(url, form("t3", method="cash", cheque_number="")).status_code == 404
    assert Payment.objects.count() == 0
