"""An organisation with a partner and an API key, another organisation with its own, for the API's tests."""

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from encaisse.invoicing.models import InvoiceType, Product, VatRate
from encaisse.onboarding.organisations import create_organisation
from encaisse.parties.apikeys import create_api_key
from encaisse.parties.models import Customer, Organisation
from encaisse.usage.models import Partner, ServiceMapping


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Imports keep their original file under MEDIA_ROOT: in the test's own directory, not the project's."""
    settings.MEDIA_ROOT = tmp_path / "media"


def make_partner(org: Organisation, code: str = "pressing") -> Partner:
    """A dry cleaner billing shirts (CHEM, 4.50) and trousers (PANT, 8.00); its format is left to detection."""
    rate = VatRate.objects.get(organisation=org, code="FR20")
    revenue = org.accounts.get(code="706")
    partner = Partner.objects.create(organisation=org, code=code, name=f"Partner {code}",
                                     invoice_type=InvoiceType.objects.get(organisation=org, code="STANDARD"))
    for service, label, price in (("CHEM", "Chemise", "4.50"), ("PANT", "Pantalon", "8.00")):
        product, _created = Product.objects.get_or_create(
            organisation=org, code=service,
            defaults={"label": label, "unit_price": Decimal(price), "vat_rate": rate, "revenue_account": revenue})
        ServiceMapping.objects.create(partner=partner, service_code=service, product=product)
    return partner


@pytest.fixture
def partner(org: Organisation, customer: Customer) -> Partner:
    Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")
    return make_partner(org)


@pytest.fixture
def api_secret(org: Organisation, clerk: Any) -> str:
    return create_api_key(organisation=org, name="Lavande's uploader", by=clerk)[1]


@pytest.fixture
def other_org(db: Any) -> Organisation:
    owner = get_user_model().objects.create_user("other", "other@example.org", "pw-other-123", is_staff=True)
    return create_organisation(name="Mairie de Bourg", slug="bourg", by=owner)


@pytest.fixture
def other_partner(other_org: Organisation) -> Partner:
    return make_partner(other_org, code="menage")
