"""Ledger entries are shown, never changed; periods are closed from the back office; mandates hide the IBAN."""

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry, Period
from encaisse.sepa.models import Mandate

from .conftest import JANUARY_10

IBAN = "FR7630006000011234567890189"


@pytest.fixture
def posted(org, customer) -> Invoice:
    invoice = draft_invoice(org, customer, ("Nettoyage", "1", "100.00"), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=invoice.pk, today=JANUARY_10)


@pytest.mark.django_db
def test_an_entry_page_shows_its_lines_and_hash_and_cannot_be_changed_or_deleted(staff, posted):
    entry = posted.entry
    url = reverse("admin:ledger_entry_change", args=[entry.pk])

    page = staff.get(url).content.decode()
    change = staff.post(url, {"label": "Rewritten"})
    delete = staff.post(reverse("admin:ledger_entry_delete", args=[entry.pk]), {"post": "yes"})
    add = staff.get(reverse("admin:ledger_entry_add"))

    assert entry.hash in page
    assert "Jeanne Martin" in page
    assert "€120.00" in page
    assert "€100.00" in page
    assert "€20.00" in page
    assert 'name="label"' not in page
    assert (change.status_code, delete.status_code, add.status_code) == (403, 403, 403)
    assert Entry.objects.get(pk=entry.pk).label == entry.label


@pytest.mark.django_db
def test_closing_a_period_from_the_list_refuses_new_entries_dated_in_it(staff, org, customer, posted):
    january = Period.objects.get(organisation=org, start=date(2026, 1, 1))
    late = draft_invoice(org, customer, status=Invoice.Status.VALIDATED, issued_on=date(2026, 1, 20))

    closing = staff.post(reverse("admin:ledger_period_changelist"), {
        "action": "close_periods", ACTION_CHECKBOX_NAME: [january.pk], "index": 0}, follow=True)
    refused = staff.post(reverse("staff:invoice_action", args=[late.pk, "post"]), follow=True)

    january.refresh_from_db()
    assert january.state == Period.State.CLOSED
    assert "Closed: 2026-01." in closing.content.decode()
    assert "The period 2026-01 is closed: no entry can be dated 2026-01-20." in refused.content.decode()
    late.refresh_from_db()
    assert late.status == Invoice.Status.VALIDATED


@pytest.mark.django_db
def test_mandates_show_the_iban_masked_in_the_list(staff, org, customer):
    created = staff.post(reverse("admin:sepa_mandate_add"), {
        "organisation": org.pk, "customer": customer.pk, "reference": "UMR-0001",
        "iban": "fr76 3000 6000 0112 3456 7890 189", "bic": "", "account_holder": "Jeanne Martin",
        "signed_on": "2026-01-02", "scheme": "CORE", "status": "active", "last_used_on": "",
    })

    listing = staff.get(reverse("admin:sepa_mandate_changelist")).content.decode()

    assert created.status_code == 302
    assert Mandate.objects.get(reference="UMR-0001").iban == IBAN
    assert "UMR-0001" in listing
    assert "FR76 •••• 0189" in listing
    assert IBAN not in listing
    assert "1234567890" not in listing
