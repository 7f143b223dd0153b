"""Every back-office page a member can open renders, with the organisation's default records in it."""

import pytest
from django.contrib import admin
from django.urls import reverse

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice

from .conftest import JANUARY_10


@pytest.mark.django_db
def test_every_list_add_and_change_page_of_a_member_renders(staff, org, customer):
    invoice = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    post_invoice(invoice_id=invoice.pk, today=JANUARY_10)
    ours = [model for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in {"parties", "ledger", "invoicing", "sepa"}]
    assert len(ours) >= 12

    for model in ours:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        listing = staff.get(reverse(f"{name}_changelist"))
        assert listing.status_code == 200, name
        model_admin = admin.site._registry[model]
        first = model_admin.get_queryset(listing.wsgi_request).first()
        if first is not None:
            assert staff.get(reverse(f"{name}_change", args=[first.pk])).status_code == 200, name
        if model_admin.has_add_permission(listing.wsgi_request):
            assert staff.get(reverse(f"{name}_add")).status_code == 200, name
