"""The sandbox's "save your card" page: the card is kept with no amount, the test cards decide, once per key."""

import json

import pytest

from encaisse.core.money import Money
from encaisse.payments.models import SandboxPayment
from encaisse.payments.providers.base import Capability, ChargeRequest, Outcome, SetupRequest
from encaisse.payments.providers.sandbox import SandboxProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox() -> SandboxProvider:
    return SandboxProvider(secret="s3cret", account_code="shop-sandbox", settle_after_seconds=0, fee_minor=25)


def setup(sandbox, key="setup:1"):
    session = sandbox.start_setup(SetupRequest(
        attempt_id="a1", idempotency_key=key, currency="EUR", payer_email="jeanne@example.org",
        return_url="/back/a1/", cancel_url="/add/", notify_url="/hooks/shop-sandbox/"))
    return session, SandboxPayment.objects.get(reference=session.provider_reference)


def test_the_sandbox_declares_it_can_keep_a_card_without_a_payment(sandbox):
    assert Capability.SETUP_WITHOUT_PAYMENT in sandbox.capabilities


def test_a_setup_page_has_no_amount_and_the_same_key_opens_the_same_page(sandbox):
    first, payment = setup(sandbox)
    second, _ = setup(sandbox)

    assert second.provider_reference == first.provider_reference
    assert first.redirect_url == f"/sandbox/pay/{payment.reference}/"
    assert (payment.amount_minor, payment.currency) == (0, "EUR")
    assert sandbox.fetch(idempotency_key="setup:1", provider_reference=None).outcome is Outcome.PENDING


def test_a_good_card_is_kept_and_no_money_or_fee_is_reported(sandbox):
    _session, payment = setup(sandbox)
    assert sandbox.enter_card(payment, "4242 4242 4242 4242", expiry=(12, 2030))

    result = sandbox.fetch(idempotency_key="setup:1", provider_reference=payment.reference)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == Money(0, "EUR")
    assert result.fee is None
    saved = result.saved_method
    assert saved.token.startswith("sbx_pm_")
    assert (saved.brand, saved.last4, saved.exp_month, saved.exp_year) == ("visa", "4242", 12, 2030)


def test_a_declined_card_is_not_kept(sandbox):
    _session, payment = setup(sandbox)
    assert sandbox.enter_card(payment, "4000 0000 0000 0002")

    result = sandbox.fetch(idempotency_key="setup:1", provider_reference=payment.reference)

    assert (result.outcome, result.decline_code, result.saved_method) == (Outcome.DECLINED, "card_declined", None)


def test_the_signed_notification_carries_the_kept_card(sandbox):
    _session, payment = setup(sandbox)
    sandbox.enter_card(payment, "4242 4242 4242 4242")

    body, headers = sandbox.notification(payment)
    event = sandbox.parse_webhook(body, headers)

    assert (event.outcome, event.attempt_id, event.fee) == (Outcome.SUCCEEDED, "a1", None)
    assert event.saved_method.last4 == "4242"
    assert json.loads(body)["payment"]["amount_minor"] == 0


def test_a_kept_card_can_then_be_charged_off_session(sandbox):
    _session, payment = setup(sandbox)
    sandbox.enter_card(payment, "4242 4242 4242 4242")
    token = sandbox.fetch(idempotency_key="setup:1", provider_reference=payment.reference).saved_method.token

    result = sandbox.charge(ChargeRequest(attempt_id="c1", idempotency_key="charge:1", amount=Money(3000, "EUR"),
                                          method_token=token, customer_token=None, statement_label="Shop"))

    assert result.outcome is Outcome.SUCCEEDED
