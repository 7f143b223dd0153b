"""Fixtures every app's tests use: an organisation ready to invoice, its staff, a customer."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def clerk(db: Any) -> Any:
    return get_user_model().objects.create_user("clerk", "clerk@example.org", "pw-clerk-123", is_staff=True)


@pytest.fixture
def org(db: Any, clerk: Any) -> Any:
    from encaisse.onboarding.organisations import create_organisation

    return create_organisation(name="Pressing du Centre", slug="pressing", by=clerk)


@pytest.fixture
def customer(org: Any) -> Any:
    from encaisse.parties.models import Customer

    return Customer.objects.create(organisation=org, ref="C001", name="Jeanne Martin", email="jeanne@example.org")


@pytest.fixture
def media_in_tmp(settings: Any, tmp_path: Any) -> None:
    """Uploaded and imported files go under MEDIA_ROOT: in the test's own directory, not the project's."""
    settings.MEDIA_ROOT = tmp_path / "media"
