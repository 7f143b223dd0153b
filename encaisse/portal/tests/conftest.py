"""Portal fixtures: a second customer of the same organisation and one of another organisation, with invoices."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.parties.models import Customer
from encaisse.payments.models import ProviderAccount


@pytest.fixture
def invoice(org: Any, customer: Customer, clerk: Any) -> Invoice:
    return posted_invoice(org, customer, clerk)  # 60.00 due, issued 1 March 2026


@pytest.fixture
def neighbour(org: Any) -> Customer:
    return Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")


@pytest.fixture
def other_org(db: Any) -> Any:
    from encaisse.onboarding.organisations import create_organisation

    owner = get_user_model().objects.create_user("other", "other@example.org", "pw-other-123", is_staff=True)
    return create_organisation(name="Mairie de Bourg", slug="bourg", by=owner)


@pytest.fixture
def stranger(other_org: Any) -> Customer:
    return Customer.objects.create(organisation=other_org, ref="C001", name="Luc Petit", email="luc@example.org")


@pytest.fixture
def sandbox(org: Any) -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code="pressing-sandbox",
                                          name="Carte (sandbox)", settings={"settle_after_seconds": 0})


@pytest.fixture
def client() -> Any:
    """A browser asking for English, as the assertions read; a request may still ask for French by header."""
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="en")
