"""Saved PayPal accounts (PayPal's vault): kept during a checkout, charged later without the payer."""

import dataclasses
import json

import pytest

from encaisse.core.money import Money
from encaisse.payments.providers.base import (
    Capability,
    ChargeRequest,
    CheckoutNotStarted,
    ForgedWebhook,
    Outcome,
    RefundRequest,
)

from .fake_paypal import PAYER_EMAIL

# The fake's fee on 42.00 EUR: 42.00 × 3.49 % = 1.4658 → 1.47, plus 0.35 = 1.82.
FEE_ON_42 = Money.of("1.82", "EUR")
# On 18.50 EUR: 18.50 × 3.49 % = 0.64565 → 0.65, plus 0.35 = 1.00.
FEE_ON_18_50 = Money.of("1.00", "EUR")


def saved_account(fake_paypal, checkout_request, **changes):
    """Pay a checkout whose payer agreed to keep PayPal; return the provider, the session and the result."""
    provider = fake_paypal.provider()
    request = dataclasses.replace(checkout_request, save_method=True, **changes)
    session = provider.start_checkout(request)
    fake_paypal.approve(session.provider_reference)
    result = provider.fetch(idempotency_key=request.idempotency_key, provider_reference=session.provider_reference)
    assert result.outcome is Outcome.SUCCEEDED
    return provider, session, result


def order_creations(fake_paypal):
    return [call for call in fake_paypal.calls("POST", "/v2/checkout/orders") if call.path == "/v2/checkout/orders"]


def charge_request(vault_id: str, *, key: str = "charge:9b1d", amount: str = "18.50") -> ChargeRequest:
    return ChargeRequest(attempt_id="9b1d0000-0000-4000-8000-000000000003", idempotency_key=key,
                         amount=Money.of(amount, "EUR"), method_token=vault_id, customer_token=None,
                         statement_label="CANTINE AVRIL F-2026-00031")


# -- Keeping the account during a checkout ---------------------------------------------


def test_paypal_offers_to_keep_the_account_and_to_charge_it_later(fake_paypal):
    capabilities = fake_paypal.provider().capabilities

    assert Capability.SAVE_METHOD in capabilities
    assert Capability.SAVED_METHOD in capabilities


def test_a_checkout_the_payer_agreed_to_keep_asks_paypal_to_vault_the_account_on_success(
        fake_paypal, checkout_request):
    fake_paypal.provider().start_checkout(dataclasses.replace(checkout_request, save_method=True))

    [create] = order_creations(fake_paypal)
    paypal = json.loads(create.body)["payment_source"]["paypal"]
    assert paypal["attributes"]["vault"] == {"store_in_vault": "ON_SUCCESS", "usage_type": "MERCHANT",
                                             "customer_type": "CONSUMER"}
    assert "customer" not in paypal["attributes"]
    assert paypal["experience_context"]["return_url"] == checkout_request.return_url
    assert paypal["experience_context"]["cancel_url"] == checkout_request.cancel_url


def test_the_captured_order_gives_the_vault_id_and_paypal_customer_but_no_email(fake_paypal, checkout_request):
    _, _, result = saved_account(fake_paypal, checkout_request)

    [vault_id] = fake_paypal.vault
    assert result.amount == Money.of("42.00", "EUR")
    assert result.fee == FEE_ON_42
    assert result.saved_method.token == vault_id
    assert result.saved_method.customer_token == fake_paypal.vault[vault_id]["customer_id"]
    assert result.saved_method.brand == "paypal"
    assert result.saved_method.last4 == ""
    assert PAYER_EMAIL not in repr(result.saved_method)


def test_a_payer_paypal_already_knows_is_saved_under_the_same_paypal_customer(fake_paypal, checkout_request):
    _, _, result = saved_account(fake_paypal, checkout_request, customer_token="CUSTKNOWN01")

    [create] = order_creations(fake_paypal)
    assert json.loads(create.body)["payment_source"]["paypal"]["attributes"]["customer"] == {"id": "CUSTKNOWN01"}
    assert result.saved_method.customer_token == "CUSTKNOWN01"


def test_a_checkout_without_consent_keeps_nothing(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.saved_method is None
    [create] = order_creations(fake_paypal)
    assert "attributes" not in json.loads(create.body)["payment_source"]["paypal"]
    assert fake_paypal.vault == {}


def test_a_declined_capture_keeps_nothing(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    request = dataclasses.replace(checkout_request, save_method=True)
    session = provider.start_checkout(request)
    fake_paypal.approve(session.provider_reference)
    fake_paypal.capture_status = "DECLINED"

    result = provider.fetch(idempotency_key=request.idempotency_key, provider_reference=session.provider_reference)

    assert result.outcome is Outcome.DECLINED
    assert result.saved_method is None
    assert fake_paypal.vault == {}


# -- Charging the saved account --------------------------------------------------------


def test_a_saved_account_is_charged_without_the_payer(fake_paypal, checkout_request):
    provider, _, saved = saved_account(fake_paypal, checkout_request)

    result = provider.charge(charge_request(saved.saved_method.token))

    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == Money.of("18.50", "EUR")
    assert result.fee == FEE_ON_18_50
    assert result.saved_method is None  # nothing new to keep
    capture = fake_paypal.captures[result.provider_reference]
    assert capture["custom_id"] == "9b1d0000-0000-4000-8000-000000000003"
    create = order_creations(fake_paypal)[-1]
    assert create.headers["paypal-request-id"] == "charge:9b1d"
    sent = json.loads(create.body)
    assert sent["intent"] == "CAPTURE"
    assert sent["payment_source"] == {"paypal": {"vault_id": saved.saved_method.token}}
    assert sent["purchase_units"][0]["soft_descriptor"] == "CANTINE AVRIL F-2026-0"


def test_the_same_key_twice_charges_once(fake_paypal, checkout_request):
    provider, _, saved = saved_account(fake_paypal, checkout_request)
    request = charge_request(saved.saved_method.token)

    first = provider.charge(request)
    second = provider.charge(request)

    assert first.outcome is second.outcome is Outcome.SUCCEEDED
    assert second.provider_reference == first.provider_reference
    assert len(fake_paypal.captures) == 2  # the checkout's and this charge's


def test_a_charged_payment_can_be_refunded_by_its_capture(fake_paypal, checkout_request):
    provider, _, saved = saved_account(fake_paypal, checkout_request)
    payment = provider.charge(charge_request(saved.saved_method.token))

    refund = provider.refund(RefundRequest(attempt_id="r", idempotency_key="refund:1", amount=Money.of("5.00", "EUR"),
                                           payment_reference=payment.provider_reference))

    assert refund.outcome is Outcome.SUCCEEDED
    assert fake_paypal.captures[payment.provider_reference]["status"] == "PARTIALLY_REFUNDED"


@pytest.mark.parametrize("issue", ["INSTRUMENT_DECLINED", "PAYER_ACTION_REQUIRED"])
def test_an_account_paypal_refuses_is_declined_with_its_issue(fake_paypal, checkout_request, issue):
    provider, _, saved = saved_account(fake_paypal, checkout_request)
    fake_paypal.decline_vault(saved.saved_method.token, issue)

    result = provider.charge(charge_request(saved.saved_method.token))

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == issue
    assert len(fake_paypal.captures) == 1  # only the checkout's


def test_a_declined_charge_found_again_under_its_key_is_still_declined(fake_paypal, checkout_request):
    provider, _, saved = saved_account(fake_paypal, checkout_request)
    fake_paypal.decline_vault(saved.saved_method.token)
    provider.charge(charge_request(saved.saved_method.token))

    result = provider.fetch(idempotency_key="charge:9b1d", provider_reference=None)

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "INSTRUMENT_DECLINED"


def test_a_vault_id_paypal_does_not_know_charges_nothing(fake_paypal):
    result = fake_paypal.provider().charge(charge_request("VLTNEVERSAVED"))

    assert result.outcome is Outcome.NOT_PROCESSED
    assert fake_paypal.captures == {}


def test_a_charge_that_times_out_is_unknown_and_fetch_finds_it_under_its_key_without_charging_twice(
        fake_paypal, checkout_request):
    _, _, saved = saved_account(fake_paypal, checkout_request)
    fake_paypal.stall_next("POST", "/v2/checkout/orders", seconds=1.5)

    first = fake_paypal.provider(timeout_seconds=0.5).charge(charge_request(saved.saved_method.token))
    found = fake_paypal.provider().fetch(idempotency_key="charge:9b1d", provider_reference=None)

    assert first.outcome is Outcome.UNKNOWN
    assert first.provider_reference is None
    assert found.outcome is Outcome.SUCCEEDED
    assert found.amount == Money.of("18.50", "EUR")
    assert found.fee == FEE_ON_18_50
    assert found.provider_reference in fake_paypal.captures
    assert len(fake_paypal.captures) == 2  # the checkout's and this charge's, once


def test_a_5xx_on_charge_is_unknown_and_the_retry_under_the_same_key_charges_once(fake_paypal, checkout_request):
    provider, _, saved = saved_account(fake_paypal, checkout_request)
    fake_paypal.server_error_next("POST", "/v2/checkout/orders")

    first = provider.charge(charge_request(saved.saved_method.token))
    again = provider.charge(charge_request(saved.saved_method.token))

    assert first.outcome is Outcome.UNKNOWN
    assert again.outcome is Outcome.SUCCEEDED
    assert len(fake_paypal.captures) == 2


def test_a_charge_that_never_reached_paypal_is_not_processed(fake_paypal, checkout_request):
    _, _, saved = saved_account(fake_paypal, checkout_request)
    fake_paypal.fail_next("POST", "/v1/oauth2/token", status=503, name="SERVICE_UNAVAILABLE")

    result = fake_paypal.provider().charge(charge_request(saved.saved_method.token))

    assert result.outcome is Outcome.NOT_PROCESSED
    assert len(fake_paypal.captures) == 1


def test_a_checkout_whose_order_id_never_came_back_is_found_under_its_key(fake_paypal, checkout_request):
    fake_paypal.stall_next("POST", "/v2/checkout/orders", seconds=1.5)
    request = dataclasses.replace(checkout_request, save_method=True)
    with pytest.raises(CheckoutNotStarted) as raised:
        fake_paypal.provider(timeout_seconds=0.5).start_checkout(request)
    assert raised.value.result.outcome is Outcome.UNKNOWN
    [order_id] = fake_paypal.orders
    fake_paypal.approve(order_id)

    result = fake_paypal.provider().fetch(idempotency_key=request.idempotency_key, provider_reference=None)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.saved_method.token in fake_paypal.vault
    assert len(fake_paypal.orders) == 1


# -- Notifications ---------------------------------------------------------------------


def test_a_saved_token_notification_brings_the_account_and_asks_for_the_order(fake_paypal, checkout_request):
    provider, session, saved = saved_account(fake_paypal, checkout_request)
    vault_id = saved.saved_method.token
    body, headers = fake_paypal.signed_webhook("VAULT.PAYMENT-TOKEN.CREATED",
                                               fake_paypal.payment_token_resource(vault_id),
                                               resource_type="payment_token")

    event = provider.parse_webhook(body, headers)

    # PENDING: the amount and PayPal's fee are read from the order by fetch, never guessed.
    assert event.outcome is Outcome.PENDING
    assert event.provider_reference == session.provider_reference
    assert event.saved_method.token == vault_id
    assert event.saved_method.customer_token == fake_paypal.vault[vault_id]["customer_id"]
    assert event.saved_method.brand == "paypal"
    assert PAYER_EMAIL not in repr(event.saved_method)


def test_a_completed_order_notification_carries_the_payment_and_the_saved_account(fake_paypal, checkout_request):
    provider, session, saved = saved_account(fake_paypal, checkout_request)
    order = fake_paypal._order_view(fake_paypal.orders[session.provider_reference])
    body, headers = fake_paypal.signed_webhook("CHECKOUT.ORDER.COMPLETED", order, resource_type="checkout-order")

    event = provider.parse_webhook(body, headers)

    assert event.outcome is Outcome.SUCCEEDED
    assert event.provider_reference == saved.provider_reference
    assert event.attempt_id == checkout_request.attempt_id
    assert event.amount == Money.of("42.00", "EUR")
    assert event.fee == FEE_ON_42
    assert event.saved_method == saved.saved_method


def test_an_altered_saved_token_notification_is_forged(fake_paypal, checkout_request):
    provider, _, saved = saved_account(fake_paypal, checkout_request)
    body, headers = fake_paypal.signed_webhook("VAULT.PAYMENT-TOKEN.CREATED",
                                               fake_paypal.payment_token_resource(saved.saved_method.token),
                                               resource_type="payment_token")

    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(body.replace(saved.saved_method.token.encode(), b"VLTATTACKER"), headers)
