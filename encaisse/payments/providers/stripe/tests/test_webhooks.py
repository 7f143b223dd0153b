"""Stripe webhooks: signature on the raw body, stale timestamps, and what each event type means."""

import json
import time
from datetime import UTC, datetime

import pytest

from encaisse.core.money import Money
from encaisse.payments.providers.base import CheckoutRequest, ForgedWebhook, Outcome, SetupRequest

from .conftest import WEBHOOK_SECRET
from .fake_stripe import sign


def _signed(event, *, secret=WEBHOOK_SECRET, timestamp=None):
    body = json.dumps(event).encode()
    return body, {"Stripe-Signature": sign(body, secret, timestamp=timestamp)}


def _checkout(save_method=False):
    return CheckoutRequest(
        attempt_id="attempt-42",
        idempotency_key="checkout-key",
        amount=Money(4_250, "EUR"),
        reference="F-2026-00042",
        description="",
        payer_email="payer@example.org",
        return_url="https://pay.example.org/return",
        cancel_url="https://pay.example.org/cancel",
        notify_url="https://pay.example.org/webhooks/stripe",
        save_method=save_method,
    )


@pytest.fixture
def completed(provider, fake_stripe):
    session = provider.start_checkout(_checkout())
    return fake_stripe.pay_checkout(session.provider_reference)


def test_a_paid_checkout_session_is_a_success_leading_back_to_the_attempt(provider, completed):
    event = provider.parse_webhook(*_signed(completed))

    assert event.event_id == completed["id"]
    assert event.outcome is Outcome.SUCCEEDED
    assert event.provider_reference == completed["data"]["object"]["id"]
    assert event.attempt_id == "attempt-42"
    assert event.amount == Money(4_250, "EUR")
    # 1.5 % of 42.50 = 0.6375 -> 0.64, plus 0.25 = 0.89
    assert event.fee == Money(89, "EUR")
    assert event.saved_method is None
    assert event.occurred_at == datetime.fromtimestamp(completed["created"], tz=UTC)


def test_a_paid_checkout_that_kept_the_card_carries_the_saved_method(provider, fake_stripe):
    session = provider.start_checkout(_checkout(save_method=True))
    completed = fake_stripe.pay_checkout(session.provider_reference, "pm_card_mastercard")

    event = provider.parse_webhook(*_signed(completed))

    assert event.saved_method.token == "pm_card_mastercard"
    assert event.saved_method.customer_token.startswith("cus_")
    assert (event.saved_method.brand, event.saved_method.last4) == ("mastercard", "4444")


def test_a_checkout_paid_by_a_slow_method_is_pending_then_its_async_result_counts(provider, fake_stripe):
    session = provider.start_checkout(_checkout())
    completed = fake_stripe.pay_checkout(session.provider_reference, asynchronous=True)

    assert provider.parse_webhook(*_signed(completed)).outcome is Outcome.PENDING

    paid = fake_stripe.event("checkout.session.async_payment_succeeded", completed["data"]["object"])
    failed = fake_stripe.event("checkout.session.async_payment_failed", completed["data"]["object"])
    assert provider.parse_webhook(*_signed(paid)).outcome is Outcome.SUCCEEDED
    refused = provider.parse_webhook(*_signed(failed))
    assert refused.outcome is Outcome.DECLINED
    assert refused.decline_code == "async_payment_failed"


def test_payment_intent_events_map_to_success_pending_and_decline(provider, fake_stripe):
    intent = {
        "id": "pi_x",
        "object": "payment_intent",
        "amount": 1_000,
        "currency": "eur",
        "metadata": {"encaisse_attempt": "attempt-7"},
        "status": "processing",
        "last_payment_error": None,
    }
    processing = provider.parse_webhook(*_signed(fake_stripe.event("payment_intent.processing", intent)))
    failed_intent = {
        **intent,
        "status": "requires_payment_method",
        "last_payment_error": {"type": "card_error", "code": "card_declined", "decline_code": "stolen_card"},
    }
    failed = provider.parse_webhook(*_signed(fake_stripe.event("payment_intent.payment_failed", failed_intent)))

    assert (processing.outcome, processing.attempt_id) == (Outcome.PENDING, "attempt-7")
    assert (failed.outcome, failed.decline_code) == (Outcome.DECLINED, "stolen_card")


def test_payment_intent_succeeded_reads_the_fee_from_stripe(provider, fake_stripe, completed):
    intent = fake_stripe.objects[completed["data"]["object"]["payment_intent"]]

    event = provider.parse_webhook(*_signed(fake_stripe.event("payment_intent.succeeded", intent)))

    assert event.outcome is Outcome.SUCCEEDED
    assert event.provider_reference == intent["id"]
    assert event.attempt_id == "attempt-42"
    assert event.fee == Money(89, "EUR")


def test_charge_refunded_reports_the_total_refunded_on_the_payment(provider, fake_stripe, completed):
    intent_id = completed["data"]["object"]["payment_intent"]
    charge = {**fake_stripe.objects[fake_stripe.objects[intent_id]["latest_charge"]], "amount_refunded": 1_250}

    event = provider.parse_webhook(*_signed(fake_stripe.event("charge.refunded", charge)))

    assert (event.outcome, event.provider_reference, event.amount) == (
        Outcome.SUCCEEDED,
        intent_id,
        Money(1_250, "EUR"),
    )


def test_a_saved_card_arrives_with_setup_intent_succeeded(provider, fake_stripe):
    session = provider.start_setup(
        SetupRequest(
            attempt_id="attempt-save",
            idempotency_key="save-key",
            currency="EUR",
            payer_email="payer@example.org",
            return_url="https://pay.example.org/saved",
            cancel_url="https://pay.example.org/cancel",
            notify_url="https://pay.example.org/hooks/stripe/",
        )
    )
    succeeded = fake_stripe.complete_setup(session.provider_reference)

    event = provider.parse_webhook(*_signed(succeeded))

    assert event.outcome is Outcome.SUCCEEDED
    assert event.attempt_id == "attempt-save"
    saved = event.saved_method
    assert (saved.token, saved.brand, saved.last4, saved.exp_month, saved.exp_year) == (
        "pm_card_visa",
        "visa",
        "4242",
        12,
        2034,
    )
    assert saved.customer_token == fake_stripe.objects[session.provider_reference]["customer"]


def test_the_same_event_delivered_twice_parses_to_the_same_event_id(provider, completed):
    first = provider.parse_webhook(*_signed(completed))
    second = provider.parse_webhook(*_signed(completed, timestamp=int(time.time()) + 1))

    assert first.event_id == second.event_id == completed["id"]


def test_a_body_signed_with_another_secret_is_forged(provider, completed):
    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(*_signed(completed, secret="whsec_attacker"))


def test_a_body_changed_after_signing_is_forged(provider, completed):
    body, headers = _signed(completed)
    tampered = body.replace(b'"amount_total": 4250', b'"amount_total": 1')
    assert tampered != body

    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(tampered, headers)


def test_a_webhook_signed_more_than_five_minutes_ago_is_refused(provider, completed):
    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(*_signed(completed, timestamp=int(time.time()) - 301))


def test_a_webhook_without_signature_is_forged(provider, completed):
    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(json.dumps(completed).encode(), {})


def test_the_signature_header_is_found_whatever_its_case(provider, completed):
    body, headers = _signed(completed)

    event = provider.parse_webhook(body, {"stripe-signature": headers["Stripe-Signature"]})

    assert event.outcome is Outcome.SUCCEEDED


def test_an_event_type_encaisse_does_not_use_is_none(provider, fake_stripe):
    event = fake_stripe.event("customer.updated", {"id": "cus_1", "object": "customer"})

    assert provider.parse_webhook(*_signed(event)) is None
