"""Checkout for one payment, saving a card, and refunds, against the fake Stripe."""

import pytest

from encaisse.core.money import Money
from encaisse.payments.providers.base import Capability, CheckoutRequest, Outcome, RefundRequest, SetupRequest
from encaisse.payments.providers.stripe import CheckoutUnavailable


def _checkout(key="checkout-key", *, save_method=False, customer_token=None, minor=4_250):
    return CheckoutRequest(
        attempt_id="attempt-42",
        idempotency_key=key,
        amount=Money(minor, "EUR"),
        reference="F-2026-00042",
        description="Facture F-2026-00042",
        payer_email="payer@example.org",
        return_url="https://pay.example.org/return/attempt-42",
        cancel_url="https://pay.example.org/cancel/attempt-42",
        notify_url="https://pay.example.org/webhooks/stripe",
        save_method=save_method,
        customer_token=customer_token,
    )


def _refund(reference, minor, key="refund-key"):
    return RefundRequest(
        attempt_id="refund-attempt", idempotency_key=key, amount=Money(minor, "EUR"), payment_reference=reference
    )


def _paid_session(provider, fake_stripe, **kwargs):
    session = provider.start_checkout(_checkout(**kwargs))
    fake_stripe.pay_checkout(session.provider_reference)
    return session


def test_checkout_opens_a_payment_session_for_one_line_with_our_attempt(provider, fake_stripe):
    session = provider.start_checkout(_checkout())

    assert session.provider_reference.startswith("cs_")
    assert session.redirect_url.endswith(f"/c/pay/{session.provider_reference}")
    _, path, params, headers = fake_stripe.requests[-1]
    assert path == "/v1/checkout/sessions"
    assert headers["idempotency-key"] == "checkout-key"
    assert params["mode"] == "payment"
    assert params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "eur",
                "unit_amount": "4250",
                "product_data": {"name": "F-2026-00042", "description": "Facture F-2026-00042"},
            },
        }
    ]
    assert params["client_reference_id"] == "attempt-42"
    assert params["payment_intent_data"]["metadata"]["encaisse_attempt"] == "attempt-42"
    assert params["success_url"] == "https://pay.example.org/return/attempt-42"
    assert params["cancel_url"] == "https://pay.example.org/cancel/attempt-42"
    assert params["customer_email"] == "payer@example.org"
    assert "setup_future_usage" not in params["payment_intent_data"]


def test_checkout_that_saves_the_card_asks_for_off_session_use_and_a_customer(provider, fake_stripe):
    provider.start_checkout(_checkout(save_method=True))

    params = fake_stripe.requests[-1][2]
    assert params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert params["customer_creation"] == "always"


def test_checkout_for_a_known_customer_names_the_customer_not_the_email(provider, fake_stripe):
    provider.start_checkout(_checkout(save_method=True, customer_token="cus_known"))

    params = fake_stripe.requests[-1][2]
    assert params["customer"] == "cus_known"
    assert "customer_email" not in params
    assert "customer_creation" not in params


def test_two_tabs_opening_checkout_under_one_key_get_one_session(provider, fake_stripe):
    first = provider.start_checkout(_checkout())
    second = provider.start_checkout(_checkout())

    assert second.provider_reference == first.provider_reference
    sessions = [o for o in fake_stripe.objects.values() if o.get("object") == "checkout.session"]
    assert len(sessions) == 1


def test_checkout_on_a_5xx_raises_with_an_unknown_result(provider, fake_stripe):
    fake_stripe.fail_next(502)

    with pytest.raises(CheckoutUnavailable) as raised:
        provider.start_checkout(_checkout())

    assert raised.value.result.outcome is Outcome.UNKNOWN


def test_checkout_refused_by_stripe_raises_with_not_processed(provider, fake_stripe):
    fake_stripe.fail_next(400, error_type="invalid_request_error", code="parameter_invalid_integer")

    with pytest.raises(CheckoutUnavailable) as raised:
        provider.start_checkout(_checkout())

    assert raised.value.result.outcome is Outcome.NOT_PROCESSED


def test_fetch_of_an_open_session_is_pending(provider):
    session = provider.start_checkout(_checkout())

    result = provider.fetch(idempotency_key="checkout-key", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.PENDING
    assert result.amount == Money(4_250, "EUR")


def test_fetch_of_a_paid_session_succeeds_with_fee_and_the_saved_card(provider, fake_stripe):
    session = _paid_session(provider, fake_stripe, save_method=True)

    result = provider.fetch(idempotency_key="checkout-key", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.provider_reference == session.provider_reference
    # 1.5 % of 42.50 = 0.6375 -> 0.64, plus 0.25 = 0.89
    assert result.fee == Money(89, "EUR")
    assert result.saved_method.token == "pm_card_visa"
    assert result.saved_method.customer_token.startswith("cus_")
    assert (result.saved_method.brand, result.saved_method.last4) == ("visa", "4242")


def test_fetch_of_a_session_paid_by_a_slow_method_is_pending(provider, fake_stripe):
    session = provider.start_checkout(_checkout())
    fake_stripe.pay_checkout(session.provider_reference, asynchronous=True)

    result = provider.fetch(idempotency_key="checkout-key", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.PENDING


def test_saving_a_card_without_paying_opens_a_setup_session_for_a_new_customer(provider, fake_stripe):
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

    customer_call, session_call = fake_stripe.requests[-2:]
    assert customer_call[1] == "/v1/customers"
    assert customer_call[3]["idempotency-key"] == "save-key:customer"
    params = session_call[2]
    assert params["mode"] == "setup"
    assert params["currency"] == "eur"
    assert params["customer"].startswith("cus_")
    assert params["setup_intent_data"]["metadata"]["encaisse_attempt"] == "attempt-save"
    assert session.provider_reference.startswith("cs_")


def test_fetch_of_a_completed_setup_session_gives_the_saved_card(provider, fake_stripe):
    session = provider.start_setup(
        SetupRequest(
            attempt_id="attempt-save",
            idempotency_key="save-key",
            currency="EUR",
            payer_email="payer@example.org",
            return_url="https://pay.example.org/saved",
            cancel_url="https://pay.example.org/cancel",
            customer_token="cus_known",
            notify_url="https://pay.example.org/hooks/stripe/",
        )
    )
    fake_stripe.complete_setup(session.provider_reference, "pm_card_mastercard")

    result = provider.fetch(idempotency_key="save-key", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.SUCCEEDED
    saved = result.saved_method
    assert (saved.token, saved.customer_token, saved.brand, saved.last4) == (
        "pm_card_mastercard",
        "cus_known",
        "mastercard",
        "4444",
    )
    assert (saved.exp_month, saved.exp_year) == (12, 2034)


def test_a_full_refund_of_a_checkout_payment_named_by_its_session(provider, fake_stripe):
    session = _paid_session(provider, fake_stripe)

    result = provider.refund(_refund(session.provider_reference, 4_250))

    assert result.outcome is Outcome.SUCCEEDED
    assert result.provider_reference.startswith("re_")
    assert result.amount == Money(4_250, "EUR")
    assert fake_stripe.requests[-1][3]["idempotency-key"] == "refund-key"


def test_two_partial_refunds_then_one_too_many(provider, fake_stripe):
    session = _paid_session(provider, fake_stripe)
    intent = fake_stripe.objects[session.provider_reference]["payment_intent"]

    first = provider.refund(_refund(intent, 1_000, key="r1"))
    second = provider.refund(_refund(intent, 3_000, key="r2"))
    # 42.50 - 10.00 - 30.00 = 2.50 left, so 3.00 more is refused
    third = provider.refund(_refund(intent, 300, key="r3"))

    assert (first.outcome, second.outcome) == (Outcome.SUCCEEDED, Outcome.SUCCEEDED)
    assert third.outcome is Outcome.NOT_PROCESSED
    charge = fake_stripe.objects[fake_stripe.objects[intent]["latest_charge"]]
    assert charge["amount_refunded"] == 4_000


def test_a_refund_sent_twice_under_one_key_refunds_once(provider, fake_stripe):
    session = _paid_session(provider, fake_stripe)

    first = provider.refund(_refund(session.provider_reference, 1_000))
    second = provider.refund(_refund(session.provider_reference, 1_000))

    assert second.provider_reference == first.provider_reference
    refunds = [o for o in fake_stripe.objects.values() if o.get("object") == "refund"]
    assert len(refunds) == 1


def test_a_refund_lost_to_a_timeout_is_unknown_and_fetch_by_reference_reads_it(provider, fake_stripe):
    session = _paid_session(provider, fake_stripe)
    intent = fake_stripe.objects[session.provider_reference]["payment_intent"]
    fake_stripe.stall_next(1.5)  # Stripe refunds, then answers after our timeout

    lost = provider.refund(_refund(intent, 1_000))
    assert lost.outcome is Outcome.UNKNOWN
    assert fake_stripe.objects[fake_stripe.objects[intent]["latest_charge"]]["amount_refunded"] == 1_000

    replayed = provider.refund(_refund(intent, 1_000))
    fetched = provider.fetch(idempotency_key="refund-key", provider_reference=replayed.provider_reference)
    assert fetched.outcome is Outcome.SUCCEEDED
    assert fetched.amount == Money(1_000, "EUR")


def _setup(key="save-key"):
    return SetupRequest(
        attempt_id="attempt-save",
        idempotency_key=key,
        currency="EUR",
        payer_email="payer@example.org",
        return_url="https://pay.example.org/saved",
        cancel_url="https://pay.example.org/cancel",
        notify_url="https://pay.example.org/hooks/stripe/",
    )


def test_stripe_declares_it_can_keep_a_card_without_a_payment(provider):
    assert Capability.SETUP_WITHOUT_PAYMENT in provider.capabilities


def test_the_same_setup_twice_opens_one_session_for_one_customer(provider, fake_stripe):
    first = provider.start_setup(_setup())
    second = provider.start_setup(_setup())

    assert second.provider_reference == first.provider_reference
    kinds = [o.get("object") for o in fake_stripe.objects.values()]
    assert (kinds.count("customer"), kinds.count("checkout.session")) == (1, 1)


def test_a_setup_session_still_open_is_pending_and_the_setup_intent_can_be_asked_directly(provider, fake_stripe):
    session = provider.start_setup(_setup())
    assert provider.fetch(idempotency_key="save-key", provider_reference=session.provider_reference).outcome is (
        Outcome.PENDING
    )
    setup_intent = fake_stripe.complete_setup(session.provider_reference)["data"]["object"]["id"]

    result = provider.fetch(idempotency_key="save-key", provider_reference=setup_intent)

    assert (result.outcome, result.saved_method.last4, result.amount) == (Outcome.SUCCEEDED, "4242", None)
