"""The PayPal adapter against a local server speaking PayPal's REST API."""

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from encaisse.core.money import Money
from encaisse.payments.providers.base import ForgedWebhook, Outcome, RefundRequest
from encaisse.payments.providers.paypal import CheckoutNotStarted, WebhookNotVerified
from encaisse.payments.providers.paypal.adapter import paypal_amount

from .fake_paypal import WEBHOOK_ID

# The fake's fee on 42.00 EUR: 42.00 × 3.49 % = 1.4658 → 1.47, plus 0.35 = 1.82.
FEE_ON_42 = Money.of("1.82", "EUR")


def paid_order(fake_paypal, checkout_request):
    """Open an order, have the payer approve it, and capture it through fetch()."""
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)
    assert result.outcome is Outcome.SUCCEEDED
    return provider, session, result


def refund_request(capture_id: str, amount: str, key: str = "refund-key-1") -> RefundRequest:
    return RefundRequest(attempt_id="7a7a7a7a-0000-4000-8000-000000000002", idempotency_key=key,
                         amount=Money.of(amount, "EUR"), payment_reference=capture_id, reason="Trop-perçu")


# -- Checkout ------------------------------------------------------------------


def test_checkout_opens_a_capture_order_for_the_amount_and_sends_the_payer_to_approve_it(
        fake_paypal, checkout_request):
    session = fake_paypal.provider().start_checkout(checkout_request)

    order = fake_paypal.orders[session.provider_reference]
    assert order["intent"] == "CAPTURE"
    unit = order["purchase_units"][0]
    assert unit["amount"] == {"currency_code": "EUR", "value": "42.00"}
    assert unit["custom_id"] == checkout_request.attempt_id
    assert "F-2026-00017" in unit["description"]
    context = order["payment_source"]["paypal"]["experience_context"]
    assert context["return_url"] == checkout_request.return_url
    assert context["cancel_url"] == checkout_request.cancel_url
    assert session.redirect_url.endswith(f"token={session.provider_reference}")
    [create] = fake_paypal.calls("POST", "/v2/checkout/orders")
    assert create.headers["paypal-request-id"] == checkout_request.idempotency_key


def test_the_same_key_twice_opens_one_order(fake_paypal, checkout_request):
    provider = fake_paypal.provider()

    first = provider.start_checkout(checkout_request)
    second = provider.start_checkout(checkout_request)

    assert second.provider_reference == first.provider_reference
    assert len(fake_paypal.orders) == 1


def test_the_access_token_is_asked_for_once_and_reused(fake_paypal, checkout_request):
    provider = fake_paypal.provider()

    session = provider.start_checkout(checkout_request)
    provider.fetch(idempotency_key=checkout_request.idempotency_key, provider_reference=session.provider_reference)

    assert fake_paypal.tokens_issued == 1


def test_an_invalid_order_is_not_processed(fake_paypal, checkout_request):
    fake_paypal.fail_next("POST", "/v2/checkout/orders", status=400, name="INVALID_REQUEST",
                          issue="INVALID_PARAMETER_VALUE")

    with pytest.raises(CheckoutNotStarted) as raised:
        fake_paypal.provider().start_checkout(checkout_request)

    assert raised.value.result.outcome is Outcome.NOT_PROCESSED
    assert raised.value.result.decline_code == "INVALID_PARAMETER_VALUE"


def test_a_checkout_that_times_out_is_unknown_and_the_retry_finds_the_same_order(fake_paypal, checkout_request):
    fake_paypal.stall_next("POST", "/v2/checkout/orders", seconds=1.5)

    with pytest.raises(CheckoutNotStarted) as raised:
        fake_paypal.provider(timeout_seconds=0.5).start_checkout(checkout_request)
    retry = fake_paypal.provider().start_checkout(checkout_request)

    assert raised.value.result.outcome is Outcome.UNKNOWN
    assert list(fake_paypal.orders) == [retry.provider_reference]


def test_a_5xx_on_checkout_is_unknown(fake_paypal, checkout_request):
    fake_paypal.server_error_next("POST", "/v2/checkout/orders")

    with pytest.raises(CheckoutNotStarted) as raised:
        fake_paypal.provider().start_checkout(checkout_request)

    assert raised.value.result.outcome is Outcome.UNKNOWN


def test_a_checkout_retried_after_the_payer_approved_points_to_fetch_and_opens_nothing(
        fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)

    with pytest.raises(CheckoutNotStarted) as raised:
        provider.start_checkout(checkout_request)
    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=raised.value.result.provider_reference)

    assert raised.value.result.outcome is Outcome.UNKNOWN
    assert raised.value.result.provider_reference == session.provider_reference
    assert len(fake_paypal.orders) == 1
    assert result.outcome is Outcome.SUCCEEDED


def test_an_unreachable_paypal_is_not_processed(checkout_request):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    from encaisse.payments.providers.paypal import PayPalProvider

    provider = PayPalProvider(client_id="x", client_secret="y", webhook_id="z", api_base=f"http://127.0.0.1:{port}")

    with pytest.raises(CheckoutNotStarted) as raised:
        provider.start_checkout(checkout_request)
    assert raised.value.result.outcome is Outcome.NOT_PROCESSED
    assert provider.refund(refund_request("CAP1", "1.00")).outcome is Outcome.NOT_PROCESSED


def test_wrong_credentials_are_not_processed(fake_paypal, checkout_request):
    provider = fake_paypal.provider(client_secret="not-the-secret")

    with pytest.raises(CheckoutNotStarted) as raised:
        provider.start_checkout(checkout_request)

    assert raised.value.result.outcome is Outcome.NOT_PROCESSED
    assert fake_paypal.orders == {}
    assert "not-the-secret" not in repr(provider)


# -- Fetch, which captures ---------------------------------------------------------


def test_an_order_the_payer_has_not_approved_is_pending_and_nothing_is_captured(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.PENDING
    assert fake_paypal.calls("POST", f"/v2/checkout/orders/{session.provider_reference}/capture") == []


def test_an_approved_order_is_captured_with_the_amount_and_paypal_fee(fake_paypal, checkout_request):
    _, session, result = paid_order(fake_paypal, checkout_request)

    [capture] = fake_paypal.captures.values()
    assert result.provider_reference == capture["id"]
    assert result.amount == Money.of("42.00", "EUR")
    assert result.fee == FEE_ON_42
    [call] = fake_paypal.calls("POST", f"/v2/checkout/orders/{session.provider_reference}/capture")
    assert call.headers["paypal-request-id"] == f"{checkout_request.idempotency_key}:capture"


def test_paying_from_two_tabs_captures_once(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    together = Barrier(2)

    def come_back(_: int):
        together.wait()
        return provider.fetch(idempotency_key=checkout_request.idempotency_key,
                              provider_reference=session.provider_reference)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(come_back, range(2)))
    again = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                           provider_reference=session.provider_reference)

    assert len(fake_paypal.captures) == 1
    assert {r.outcome for r in [*results, again]} == {Outcome.SUCCEEDED}
    assert {r.provider_reference for r in [*results, again]} == set(fake_paypal.captures)


def test_a_return_naming_an_order_that_was_not_approved_captures_nothing(fake_paypal, checkout_request):
    # The payer edits the return URL to point at another, unapproved order of theirs.
    provider = fake_paypal.provider()
    unapproved = provider.start_checkout(checkout_request)

    result = provider.fetch(idempotency_key="another-attempt", provider_reference=unapproved.provider_reference)

    assert result.outcome is Outcome.PENDING
    assert fake_paypal.captures == {}


def test_a_capture_that_times_out_is_unknown_and_fetch_resolves_it_without_capturing_twice(
        fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    fake_paypal.stall_next("POST", "/v2/checkout/orders/", seconds=1.5)

    first = fake_paypal.provider(timeout_seconds=0.5).fetch(
        idempotency_key=checkout_request.idempotency_key, provider_reference=session.provider_reference)
    later = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                           provider_reference=session.provider_reference)

    assert first.outcome is Outcome.UNKNOWN
    assert later.outcome is Outcome.SUCCEEDED
    assert later.fee == FEE_ON_42
    assert len(fake_paypal.captures) == 1


def test_a_5xx_on_capture_is_unknown_and_fetch_resolves_it(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    fake_paypal.server_error_next("POST", "/v2/checkout/orders/")

    first = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                           provider_reference=session.provider_reference)
    later = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                           provider_reference=session.provider_reference)

    assert first.outcome is Outcome.UNKNOWN
    assert later.outcome is Outcome.SUCCEEDED
    assert len(fake_paypal.captures) == 1


def test_a_dropped_connection_on_capture_is_unknown(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    fake_paypal.drop_next("POST", "/v2/checkout/orders/")

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.UNKNOWN


def test_a_refused_funding_source_is_declined_with_paypal_code(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    fake_paypal.fail_next("POST", "/v2/checkout/orders/", status=422, name="UNPROCESSABLE_ENTITY",
                          issue="INSTRUMENT_DECLINED")

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "INSTRUMENT_DECLINED"
    assert fake_paypal.captures == {}


def test_a_pending_capture_is_pending(fake_paypal, checkout_request):
    fake_paypal.capture_status = "PENDING"
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.PENDING
    assert result.provider_reference in fake_paypal.captures
    assert result.fee is None


def test_a_pending_capture_is_looked_up_by_its_id_until_paypal_clears_it(fake_paypal, checkout_request):
    fake_paypal.capture_status = "PENDING"
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    pending = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                             provider_reference=session.provider_reference)

    still = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                           provider_reference=pending.provider_reference)
    fake_paypal.complete_capture(pending.provider_reference)
    cleared = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                             provider_reference=pending.provider_reference)

    assert still.outcome is Outcome.PENDING
    assert cleared.outcome is Outcome.SUCCEEDED
    assert cleared.provider_reference == pending.provider_reference
    assert cleared.fee == FEE_ON_42


def test_a_fetch_that_cannot_authenticate_is_unknown_not_a_failed_payment(fake_paypal, checkout_request):
    # The payer has approved; a rotated secret must not turn that into "nothing happened".
    session = fake_paypal.provider().start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)

    result = fake_paypal.provider(client_secret="rotated").fetch(
        idempotency_key=checkout_request.idempotency_key, provider_reference=session.provider_reference)

    assert result.outcome is Outcome.UNKNOWN
    assert fake_paypal.captures == {}


def test_a_capture_refused_for_a_reason_other_than_funding_is_unknown(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    fake_paypal.fail_next("POST", "/v2/checkout/orders/", status=403, name="NOT_AUTHORIZED",
                          issue="PERMISSION_DENIED")

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.UNKNOWN
    assert result.decline_code == "PERMISSION_DENIED"


def test_a_declined_capture_is_declined(fake_paypal, checkout_request):
    fake_paypal.capture_status = "DECLINED"
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "DECLINED"


def test_an_order_paypal_no_longer_knows_was_not_processed(fake_paypal):
    result = fake_paypal.provider().fetch(idempotency_key="k", provider_reference="ORDEXPIRED")

    assert result.outcome is Outcome.NOT_PROCESSED


def test_without_a_paypal_id_and_no_order_under_the_key_fetch_cannot_tell_and_creates_nothing(fake_paypal):
    # A refund that timed out before its id came back may have gone through: never "not processed".
    result = fake_paypal.provider().fetch(idempotency_key="k", provider_reference=None)

    assert result.outcome is Outcome.UNKNOWN
    assert fake_paypal.orders == {}
    assert fake_paypal.captures == {}


def test_a_lookup_that_gets_a_5xx_stays_unknown(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.server_error_next("GET", "/v2/checkout/orders/")

    result = provider.fetch(idempotency_key=checkout_request.idempotency_key,
                            provider_reference=session.provider_reference)

    assert result.outcome is Outcome.UNKNOWN


# -- Refunds -----------------------------------------------------------------------


def test_a_full_refund_without_amount_change_returns_everything(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)

    result = provider.refund(refund_request(payment.provider_reference, "42.00"))

    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == Money.of("42.00", "EUR")
    assert fake_paypal.captures[payment.provider_reference]["status"] == "REFUNDED"
    [call] = fake_paypal.calls("POST", "/v2/payments/captures/")
    assert call.headers["paypal-request-id"] == "refund-key-1"
    assert json.loads(call.body)["amount"] == {"currency_code": "EUR", "value": "42.00"}


def test_partial_refunds_add_up_to_the_capture_and_no_further(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)

    # 42.00 = 12.50 + 29.50; a further 0.01 exceeds what is left.
    first = provider.refund(refund_request(payment.provider_reference, "12.50", key="r1"))
    status_after_first = fake_paypal.captures[payment.provider_reference]["status"]
    second = provider.refund(refund_request(payment.provider_reference, "29.50", key="r2"))
    third = provider.refund(refund_request(payment.provider_reference, "0.01", key="r3"))

    assert (first.outcome, second.outcome) == (Outcome.SUCCEEDED, Outcome.SUCCEEDED)
    assert status_after_first == "PARTIALLY_REFUNDED"
    assert third.outcome is Outcome.NOT_PROCESSED
    assert third.decline_code == "CAPTURE_FULLY_REFUNDED"


def test_refunding_more_than_was_paid_is_not_processed(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)

    result = provider.refund(refund_request(payment.provider_reference, "42.01"))

    assert result.outcome is Outcome.NOT_PROCESSED
    assert result.decline_code == "REFUND_AMOUNT_EXCEEDED"
    assert fake_paypal.refunds == {}


def test_a_refund_that_times_out_is_unknown_and_resent_under_its_key_refunds_once(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)
    fake_paypal.stall_next("POST", "/v2/payments/captures/", seconds=1.5)

    first = fake_paypal.provider(timeout_seconds=0.5).refund(refund_request(payment.provider_reference, "10.00"))
    again = provider.refund(refund_request(payment.provider_reference, "10.00"))
    looked_up = provider.fetch(idempotency_key="refund-key-1", provider_reference=again.provider_reference)

    assert first.outcome is Outcome.UNKNOWN
    assert again.outcome is Outcome.SUCCEEDED
    assert len(fake_paypal.refunds) == 1
    assert looked_up.outcome is Outcome.SUCCEEDED
    assert looked_up.provider_reference == again.provider_reference


def test_a_5xx_on_refund_is_unknown_and_the_same_key_later_refunds_once(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)
    fake_paypal.server_error_next("POST", "/v2/payments/captures/")

    first = provider.refund(refund_request(payment.provider_reference, "10.00"))
    again = provider.refund(refund_request(payment.provider_reference, "10.00"))

    assert first.outcome is Outcome.UNKNOWN
    assert again.outcome is Outcome.SUCCEEDED
    assert len(fake_paypal.refunds) == 1


def test_a_refund_whose_request_id_is_still_in_flight_is_unknown(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)
    fake_paypal.fail_next("POST", "/v2/payments/captures/", status=409, name="RESOURCE_CONFLICT",
                          issue="DUPLICATE_REQUEST_ID")

    result = provider.refund(refund_request(payment.provider_reference, "10.00"))

    assert result.outcome is Outcome.UNKNOWN


# -- Webhooks ----------------------------------------------------------------------


def test_a_completed_capture_webhook_is_verified_by_paypal_and_read_as_succeeded(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)
    capture = fake_paypal.captures[payment.provider_reference]
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", capture)

    event = provider.parse_webhook(body, headers)

    assert event.event_id == json.loads(body)["id"]
    assert event.outcome is Outcome.SUCCEEDED
    assert event.provider_reference == payment.provider_reference
    assert event.attempt_id == checkout_request.attempt_id
    assert event.amount == Money.of("42.00", "EUR")
    assert event.fee == FEE_ON_42
    [verify] = fake_paypal.calls("POST", "/v1/notifications/verify-webhook-signature")
    sent = json.loads(verify.body)
    assert sent["webhook_id"] == WEBHOOK_ID
    assert sent["transmission_id"] == headers["PAYPAL-TRANSMISSION-ID"]


def test_the_same_delivery_twice_carries_the_same_event_id(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED",
                                               fake_paypal.captures[payment.provider_reference])

    first = provider.parse_webhook(body, headers)
    second = provider.parse_webhook(body, headers)

    assert first.event_id == second.event_id


def test_a_webhook_with_an_altered_amount_is_forged(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED",
                                               fake_paypal.captures[payment.provider_reference])
    tampered = body.replace(b'"42.00"', b'"4200.00"')
    assert tampered != body

    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(tampered, headers)


def test_an_invented_signature_is_forged(fake_paypal):
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAPX", "status": "COMPLETED"})
    headers["PAYPAL-TRANSMISSION-SIG"] = "c2lnbmVkIGJ5IG5vYm9keQ=="

    with pytest.raises(ForgedWebhook):
        fake_paypal.provider().parse_webhook(body, headers)


def test_a_webhook_signed_for_another_webhook_is_forged(fake_paypal):
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAPX", "status": "COMPLETED"},
                                               webhook_id="WHSOMEONEELSE")

    with pytest.raises(ForgedWebhook):
        fake_paypal.provider().parse_webhook(body, headers)


def test_a_webhook_without_transmission_headers_is_forged_without_asking_paypal(fake_paypal):
    body, _ = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAPX", "status": "COMPLETED"})

    with pytest.raises(ForgedWebhook):
        fake_paypal.provider().parse_webhook(body, {"Content-Type": "application/json"})
    assert fake_paypal.requests == []


def test_a_webhook_paypal_cannot_verify_for_now_is_refused_so_it_comes_again(fake_paypal):
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAPX", "status": "COMPLETED"})
    fake_paypal.server_error_next("POST", "/v1/notifications/verify-webhook-signature")

    with pytest.raises(WebhookNotVerified):
        fake_paypal.provider().parse_webhook(body, headers)


def test_a_denied_capture_webhook_is_declined(fake_paypal):
    resource = {"id": "CAPD", "status": "DECLINED", "amount": {"currency_code": "EUR", "value": "42.00"},
                "custom_id": "att-1"}
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.DENIED", resource)

    event = fake_paypal.provider().parse_webhook(body, headers)

    assert event.outcome is Outcome.DECLINED
    assert event.provider_reference == "CAPD"
    assert event.attempt_id == "att-1"


def test_a_pending_capture_webhook_is_pending(fake_paypal):
    resource = {"id": "CAPP", "status": "PENDING", "status_details": {"reason": "PENDING_REVIEW"},
                "amount": {"currency_code": "EUR", "value": "42.00"}}
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.PENDING", resource)

    assert fake_paypal.provider().parse_webhook(body, headers).outcome is Outcome.PENDING


def test_an_approved_order_webhook_is_pending_and_names_the_order(fake_paypal, checkout_request):
    provider = fake_paypal.provider()
    session = provider.start_checkout(checkout_request)
    fake_paypal.approve(session.provider_reference)
    body, headers = fake_paypal.signed_webhook("CHECKOUT.ORDER.APPROVED",
                                               fake_paypal.orders[session.provider_reference],
                                               resource_type="checkout-order")

    event = provider.parse_webhook(body, headers)

    assert event.outcome is Outcome.PENDING
    assert event.provider_reference == session.provider_reference
    assert event.attempt_id == checkout_request.attempt_id
    assert event.amount == Money.of("42.00", "EUR")


def test_a_refund_webhook_names_the_refund(fake_paypal, checkout_request):
    provider, _, payment = paid_order(fake_paypal, checkout_request)
    refund = provider.refund(refund_request(payment.provider_reference, "5.00"))
    body, headers = fake_paypal.signed_webhook("PAYMENT.CAPTURE.REFUNDED",
                                               fake_paypal.refunds[refund.provider_reference],
                                               resource_type="refund")

    event = provider.parse_webhook(body, headers)

    assert event.outcome is Outcome.SUCCEEDED
    assert event.provider_reference == refund.provider_reference
    assert event.amount == Money.of("5.00", "EUR")


def test_an_event_type_encaisse_does_not_use_is_ignored(fake_paypal):
    body, headers = fake_paypal.signed_webhook("CUSTOMER.DISPUTE.CREATED", {"dispute_id": "PP-D-1"},
                                               resource_type="dispute")

    assert fake_paypal.provider().parse_webhook(body, headers) is None


# -- Amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "expected"), [
    (Money.of("42.00", "EUR"), {"currency_code": "EUR", "value": "42.00"}),
    (Money.of("0.05", "EUR"), {"currency_code": "EUR", "value": "0.05"}),
    (Money.of("1500", "JPY"), {"currency_code": "JPY", "value": "1500"}),
    (Money.of("1500", "HUF"), {"currency_code": "HUF", "value": "1500"}),
])
def test_amounts_are_sent_as_paypal_decimal_strings(amount, expected):
    assert paypal_amount(amount) == expected


def test_a_fraction_of_a_forint_cannot_be_sent():
    with pytest.raises(ValueError, match="whole HUF"):
        paypal_amount(Money.of("1500.50", "HUF"))
