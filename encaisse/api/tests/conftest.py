"""An organisation with a partner and an API key, another organisation with its own, for the API's tests."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from encaisse.onboarding.organisations import create_organisation
from encaisse.parties.apikeys import create_api_key
from encaisse.parties.models import Customer, Organisation
from encaisse.usage.models import Partner
from encaisse.usage.tests.factories import detected_partner


@pytest.fixture(autouse=True)
def _media_in_tmp(media_in_tmp: None) -> None:
    """Imports keep their original file under MEDIA_ROOT, here in the test's own directory."""


def make_partner(org: Organisation, code: str = "pressing") -> Partner:
    return detected_partner(org, code, name=f"Partner {code}")


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
