from collections.abc import Iterator

import pytest

from encaisse.core.money import Money
from encaisse.payments.providers.base import CheckoutRequest

from .fake_paypal import FakePayPal


@pytest.fixture
def fake_paypal() -> Iterator[FakePayPal]:
    fake = FakePayPal()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def checkout_request() -> CheckoutRequest:
    return CheckoutRequest(
        attempt_id="6f1c2a9e-0000-4000-8000-000000000001",
        idempotency_key="attempt-6f1c2a9e-checkout",
        amount=Money.of("42.00", "EUR"),
        reference="F-2026-00017",
        description="Cantine, mars",
        payer_email="parent@example.org",
        return_url="https://encaisse.example/pay/6f1c2a9e/return",
        cancel_url="https://encaisse.example/pay/6f1c2a9e/cancel",
        notify_url="https://encaisse.example/webhooks/paypal-main",
    )
