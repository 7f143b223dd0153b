"""Off-session charges of a saved card, against the fake Stripe through the official SDK."""

import socket

from encaisse.core.money import Money
from encaisse.payments.providers.base import ChargeRequest, Outcome
from encaisse.payments.providers.stripe import StripeProvider

from .conftest import SECRET_KEY, WEBHOOK_SECRET


def _charge(key="key-1", method="pm_card_visa", minor=12_000, label="Facture F-2026-00042"):
    return ChargeRequest(
        attempt_id="7b1d6c8e-attempt",
        idempotency_key=key,
        amount=Money(minor, "EUR"),
        method_token=method,
        customer_token="cus_known",
        statement_label=label,
    )


def test_a_good_card_is_charged_with_stripe_fee_read_from_the_balance_transaction(provider, fake_stripe):
    result = provider.charge(_charge())

    assert result.outcome is Outcome.SUCCEEDED
    assert result.provider_reference.startswith("pi_")
    assert result.amount == Money(12_000, "EUR")
    # 1.5 % of 120.00 = 1.80, plus 0.25 = 2.05
    assert result.fee == Money(205, "EUR")


def test_the_charge_is_confirmed_off_session_with_our_attempt_and_key(provider, fake_stripe):
    provider.charge(_charge(label="Régie « Eau » *F-42*"))

    method, path, params, headers = fake_stripe.requests[-1]
    assert (method, path) == ("POST", "/v1/payment_intents")
    assert headers["idempotency-key"] == "key-1"
    assert params["confirm"] == "true"
    assert params["off_session"] == "true"
    assert params["payment_method"] == "pm_card_visa"
    assert params["customer"] == "cus_known"
    assert params["amount"] == "12000"
    assert params["currency"] == "eur"
    assert params["metadata"] == {"encaisse_attempt": "7b1d6c8e-attempt", "encaisse_idempotency_key": "key-1"}
    # Stripe refuses accents, < > \ ' " * and more than 22 characters in the suffix.
    assert params["statement_descriptor_suffix"] == "Regie  Eau  F-42"


def test_the_same_key_twice_charges_once_and_answers_the_same(provider, fake_stripe):
    first = provider.charge(_charge())
    second = provider.charge(_charge())

    assert fake_stripe.charges_made == 1
    assert second.outcome is Outcome.SUCCEEDED
    assert second.provider_reference == first.provider_reference


def test_insufficient_funds_is_a_decline_with_stripes_decline_code(provider, fake_stripe):
    result = provider.charge(_charge(method="pm_card_chargeDeclinedInsufficientFunds"))

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "insufficient_funds"
    assert result.provider_reference.startswith("pi_")  # Stripe returns the failed intent in the error
    assert fake_stripe.charges_made == 0


def test_an_expired_card_is_declined_with_the_error_code(provider):
    result = provider.charge(_charge(method="pm_card_chargeDeclinedExpiredCard"))

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "expired_card"


def test_a_card_asking_for_3d_secure_off_session_is_declined_as_authentication_required(provider):
    result = provider.charge(_charge(method="pm_card_authenticationRequired"))

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "authentication_required"


def test_a_replayed_decline_stays_a_decline_without_a_second_attempt(provider, fake_stripe):
    provider.charge(_charge(method="pm_card_chargeDeclined"))
    again = provider.charge(_charge(method="pm_card_chargeDeclined"))

    assert again.outcome is Outcome.DECLINED
    assert again.decline_code == "generic_decline"
    intents = [o for o in fake_stripe.objects.values() if o.get("object") == "payment_intent"]
    assert len(intents) == 1


def test_a_timeout_is_unknown_and_fetch_without_reference_finds_the_charge_by_its_key(provider, fake_stripe):
    fake_stripe.stall_next(1.5)  # Stripe charges, then answers after our half-second timeout

    lost = provider.charge(_charge(key="key-timeout"))
    assert lost.outcome is Outcome.UNKNOWN
    assert lost.provider_reference is None
    assert fake_stripe.charges_made == 1

    found = provider.fetch(idempotency_key="key-timeout", provider_reference=None)
    assert found.outcome is Outcome.SUCCEEDED
    assert found.amount == Money(12_000, "EUR")
    assert found.fee == Money(205, "EUR")


def test_a_retry_after_a_timeout_under_the_same_key_gets_the_first_answer(provider, fake_stripe):
    fake_stripe.stall_next(1.5)
    provider.charge(_charge(key="key-timeout"))

    retried = provider.charge(_charge(key="key-timeout"))

    assert retried.outcome is Outcome.SUCCEEDED
    assert fake_stripe.charges_made == 1


def test_a_connection_dropped_after_stripe_charged_is_unknown(provider, fake_stripe):
    fake_stripe.drop_next()

    result = provider.charge(_charge())

    assert result.outcome is Outcome.UNKNOWN
    assert fake_stripe.charges_made == 1


def test_a_5xx_is_unknown_and_the_sdk_does_not_retry_on_its_own(provider, fake_stripe):
    fake_stripe.fail_next(500)

    result = provider.charge(_charge())

    assert result.outcome is Outcome.UNKNOWN
    assert len(fake_stripe.requests) == 1


def test_a_409_for_a_key_still_in_flight_is_unknown_not_a_failure(provider, fake_stripe):
    fake_stripe.fail_next(409, error_type="invalid_request_error", code="idempotency_key_in_use")

    assert provider.charge(_charge()).outcome is Outcome.UNKNOWN


def test_an_invalid_request_is_not_processed(provider, fake_stripe):
    result = provider.charge(_charge(method="pm_unknown"))

    assert result.outcome is Outcome.NOT_PROCESSED
    assert result.decline_code == "resource_missing"
    assert fake_stripe.charges_made == 0


def test_a_rate_limit_is_not_processed(provider, fake_stripe):
    fake_stripe.fail_next(429, error_type="invalid_request_error", code="rate_limit")

    assert provider.charge(_charge()).outcome is Outcome.NOT_PROCESSED


def test_a_wrong_secret_key_is_not_processed(fake_stripe):
    provider = StripeProvider(secret_key="sk_test_wrong", webhook_secret=WEBHOOK_SECRET, api_base=fake_stripe.url)

    assert provider.charge(_charge()).outcome is Outcome.NOT_PROCESSED


def test_a_refused_connection_never_reached_stripe_so_it_is_not_processed():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = StripeProvider(secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET, api_base=f"http://127.0.0.1:{port}")

    assert provider.charge(_charge()).outcome is Outcome.NOT_PROCESSED


def test_the_same_key_with_another_amount_is_unknown_since_the_key_was_used(provider, fake_stripe):
    provider.charge(_charge(minor=12_000))

    result = provider.charge(_charge(minor=9_900))

    assert result.outcome is Outcome.UNKNOWN
    assert fake_stripe.charges_made == 1


def test_fetch_by_reference_reads_the_intent(provider):
    declined = provider.charge(_charge(method="pm_card_chargeDeclined"))

    fetched = provider.fetch(idempotency_key="key-1", provider_reference=declined.provider_reference)

    assert fetched.outcome is Outcome.DECLINED
    assert fetched.decline_code == "generic_decline"


def test_fetch_of_a_key_stripe_has_not_indexed_stays_unknown(provider):
    result = provider.fetch(idempotency_key="never-sent", provider_reference=None)

    assert result.outcome is Outcome.UNKNOWN


def test_fetch_that_cannot_reach_stripe_stays_unknown(provider, fake_stripe):
    fake_stripe.fail_next(503)

    assert provider.fetch(idempotency_key="k", provider_reference="pi_00000001").outcome is Outcome.UNKNOWN
