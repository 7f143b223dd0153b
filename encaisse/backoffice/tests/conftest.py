"""Two organisations with their own staff, customers and invoices: what the back office must keep apart."""

from datetime import date
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.onboarding.organisations import create_organisation
from encaisse.parties.models import Customer

JANUARY_10 = date(2026, 1, 10)


@pytest.fixture
def staff(client: Any, clerk: Any, org: Any) -> Any:
    """The test client signed in as the clerk, manager of `org` ("Pressing du Centre") only, reading English.

    English because the French catalogue is filled later: assertions on our own
    messages would change with it. Pages in French are tested where it matters.
    """
    client.force_login(clerk)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def other_clerk(db: Any) -> Any:
    return get_user_model().objects.create_user("other", "other@example.org", "pw-other-123", is_staff=True)


@pytest.fixture
def other_org(other_clerk: Any) -> Any:
    return create_organisation(name="Mairie de Bourg", slug="bourg", by=other_clerk)


@pytest.fixture
def other_customer(other_org: Any) -> Any:
    return Customer.objects.create(organisation=other_org, ref="B-777", name="Paul Secret",
                                   email="paul@bourg.example")


@pytest.fixture
def other_invoice(other_org: Any, other_customer: Any, other_clerk: Any) -> Invoice:
    invoice = draft_invoice(other_org, other_customer, ("Cantine de mars", "1", "33.00"),
                            status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=invoice.pk, by=other_clerk, today=JANUARY_10)
