"""Fixtures for tests that pay through Stripe: the local fake Stripe server and a provider account pointed at it.

The account's secrets come from the environment as in production
(ENCAISSE_PROVIDER_<CODE>_...); webhooks in tests are signed with WEBHOOK_SECRET.
"""

from collections.abc import Iterator
from typing import Any

import pytest

SECRET_KEY = "sk_test_fake"
WEBHOOK_SECRET = "whsec_test_fake"


@pytest.fixture
def fake_stripe() -> Iterator[Any]:
    from encaisse.payments.providers.stripe.tests.fake_stripe import FakeStripe

    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_account(org: Any, fake_stripe: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The organisation's Stripe account "pressing-stripe" ("Carte (Stripe)"), talking to the fake server."""
    from encaisse.payments.models import ProviderAccount

    # A short timeout, so that a stalled answer is a timeout within the test.
    account = ProviderAccount.objects.create(organisation=org, provider="stripe", code="pressing-stripe",
                                             name="Carte (Stripe)",
                                             settings={"api_base": fake_stripe.url, "timeout_seconds": 0.5})
    monkeypatch.setenv("ENCAISSE_PROVIDER_PRESSING_STRIPE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("ENCAISSE_PROVIDER_PRESSING_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    return account
