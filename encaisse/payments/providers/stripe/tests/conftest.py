import pytest

from encaisse.payments.providers.stripe import StripeProvider

from .fake_stripe import FakeStripe

SECRET_KEY = "sk_test_fake"
WEBHOOK_SECRET = "whsec_test_fake"


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def provider(fake_stripe):
    # A short timeout so that a stalled answer is a timeout within the test.
    return StripeProvider(
        secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET, api_base=fake_stripe.url, timeout_seconds=0.5
    )
