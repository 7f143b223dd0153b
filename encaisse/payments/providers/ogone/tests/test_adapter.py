"""The Ogone adapter against a local server speaking Ogone's e-Commerce and DirectLink protocols."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest

from encaisse.core.money import Money
from encaisse.payments.providers.base import (
    ChargeRequest,
    CheckoutRequest,
    ForgedWebhook,
    Outcome,
    RefundRequest,
)
from encaisse.payments.providers.ogone import OgoneProvider, alias_for, order_id_for, sign

from .fake_ogone import FakeOgone


@pytest.fixture
def fake_ogone() -> Iterator[FakeOgone]:
    fake = FakeOgone()
    fake.start()
    yield fake
    fake.stop()


def provider_for(fake: FakeOgone, **overrides: object) -> OgoneProvider:
    settings: dict[str, object] = {
        "pspid": fake.pspid,
        "sha_in": fake.sha_in,
        "sha_out": fake.sha_out,
        "api_user": fake.api_user,
        "api_password": fake.api_password,
        "api_base": fake.url,
        "hash_algorithm": fake.hash_algorithm,
    }
    return OgoneProvider(**{**settings, **overrides})  # type: ignore[arg-type]


def checkout_request(key: str = "attempt-key-1", amount: str = "42.50", save_method: bool = False) -> CheckoutRequest:
    return CheckoutRequest(
        attempt_id="6f1d7c1e-0000-4000-8000-000000000001",
        idempotency_key=key,
        amount=Money.of(amount, "EUR"),
        reference="F-2026-00017",
        description="Invoice F-2026-00017",
        payer_email="camille@example.org",
        return_url="https://encaisse.example/portal/return/abc",
        cancel_url="https://encaisse.example/portal/cancel/abc",
        notify_url="https://encaisse.example/webhooks/ogone-main",
        save_method=save_method,
    )


def body_of(parameters: dict[str, str]) -> bytes:
    return urlencode(parameters).encode()


def saved_card(fake: FakeOgone, provider: OgoneProvider) -> str:
    """Pay once on the hosted page with 'keep my card' ticked; return the alias."""
    session = provider.start_checkout(checkout_request(key="first-payment", save_method=True))
    fake.pay_on_page(session.redirect_url)
    return alias_for("first-payment")


def charge_request(alias: str, key: str = "charge-key-1", amount: str = "30.00") -> ChargeRequest:
    return ChargeRequest(
        attempt_id="7a2e8d2f-0000-4000-8000-000000000002",
        idempotency_key=key,
        amount=Money.of(amount, "EUR"),
        method_token=alias,
        customer_token=None,
        statement_label="Mairie de Lavande",
    )


# -- signatures ---------------------------------------------------------------


def test_the_signature_follows_ogones_rule():
    # Upper-cased names, sorted, empty values left out, each followed by the passphrase.
    parameters = {"orderID": "1234", "amount": "1500", "CURRENCY": "EUR", "LANGUAGE": "", "PSPID": "MyPSPID"}
    text = "AMOUNT=1500Mysecretsig1875!?CURRENCY=EURMysecretsig1875!?ORDERID=1234Mysecretsig1875!?"
    text += "PSPID=MyPSPIDMysecretsig1875!?"
    assert sign(parameters, "Mysecretsig1875!?", "SHA-1") == hashlib.sha1(text.encode()).hexdigest().upper()


# -- hosted checkout and feedback ------------------------------------------------


def test_checkout_sends_the_payer_to_the_hosted_page_with_signed_parameters(fake_ogone):
    session = provider_for(fake_ogone).start_checkout(checkout_request())

    url = urlparse(session.redirect_url)
    query = dict(parse_qsl(url.query))
    assert url.path == "/ncol/test/orderstandard_utf8.asp"
    # 42.50 EUR is sent as 4250 (the amount times 100).
    assert query["AMOUNT"] == "4250"
    assert query["CURRENCY"] == "EUR"
    assert query["ORDERID"] == order_id_for("attempt-key-1") == session.provider_reference
    assert query["ACCEPTURL"] == "https://encaisse.example/portal/return/abc"
    assert query["CANCELURL"] == "https://encaisse.example/portal/cancel/abc"
    assert "ALIAS" not in query
    assert query["SHASIGN"] == sign(query, fake_ogone.sha_in, "SHA-512")


def test_two_tabs_of_one_attempt_ask_for_the_same_order(fake_ogone):
    provider = provider_for(fake_ogone)

    first = provider.start_checkout(checkout_request())
    second = provider.start_checkout(checkout_request())
    fake_ogone.pay_on_page(first.redirect_url)
    fake_ogone.pay_on_page(second.redirect_url)

    assert first.provider_reference == second.provider_reference
    assert len(fake_ogone.orders) == 1


def test_a_paid_feedback_is_succeeded_with_amount_and_attempt(fake_ogone):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request())
    feedback = fake_ogone.pay_on_page(session.redirect_url, status=9)

    event = provider.parse_webhook(body_of(feedback), {"Content-Type": "application/x-www-form-urlencoded"})

    assert event is not None
    assert event.outcome is Outcome.SUCCEEDED
    assert event.amount == Money(4250, "EUR")
    assert event.provider_reference == session.provider_reference
    assert event.attempt_id == "6f1d7c1e-0000-4000-8000-000000000001"
    assert event.event_id == f"{feedback['PAYID']}:9:0"
    assert event.saved_method is None
    assert "CARDNO" not in event.raw
    assert event.raw["CARD_LAST4"] == "1111"


def test_a_saved_card_comes_back_as_an_alias_with_what_a_person_recognises(fake_ogone):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request(save_method=True))
    query = dict(parse_qsl(urlparse(session.redirect_url).query))
    feedback = fake_ogone.pay_on_page(session.redirect_url, brand="MasterCard", cardno="XXXXXXXXXXXX4444")

    event = provider.parse_webhook(body_of(feedback), {})

    assert query["ALIAS"] == alias_for("attempt-key-1")
    assert query["ALIASUSAGE"]
    assert event is not None
    assert event.saved_method is not None
    assert event.saved_method.token == alias_for("attempt-key-1")
    assert event.saved_method.brand == "MasterCard"
    assert event.saved_method.last4 == "4444"
    assert (event.saved_method.exp_month, event.saved_method.exp_year) == (4, 2028)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (5, Outcome.SUCCEEDED),
        (51, Outcome.PENDING),
        (91, Outcome.PENDING),
        (52, Outcome.UNKNOWN),
        (92, Outcome.UNKNOWN),
        (2, Outcome.DECLINED),
        (93, Outcome.DECLINED),
    ],
)
def test_each_status_has_its_outcome(fake_ogone, status, outcome):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request())
    feedback = fake_ogone.pay_on_page(
        session.redirect_url, status=status, ncerror="30001301" if status in (2, 93) else "0"
    )

    event = provider.parse_webhook(body_of(feedback), {})

    assert event is not None
    assert event.outcome is outcome
    if outcome is Outcome.DECLINED:
        assert event.decline_code == "30001301"


def test_a_payer_who_cancels_is_declined_as_cancelled(fake_ogone):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request())
    feedback = fake_ogone.pay_on_page(session.redirect_url, status=1)

    event = provider.parse_webhook(body_of(feedback), {})

    assert event is not None
    assert event.outcome is Outcome.DECLINED
    assert event.decline_code == "cancelled"


@pytest.mark.parametrize(("name", "value"), [("amount", "0.01"), ("STATUS", "9"), ("orderID", "E0000")])
def test_a_tampered_return_is_forged(fake_ogone, name, value):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request())
    feedback = fake_ogone.pay_on_page(session.redirect_url, status=2, ncerror="30001301")
    feedback[name] = value

    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(body_of(feedback), {})


def test_a_feedback_signed_with_another_passphrase_is_forged(fake_ogone):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request())
    feedback = fake_ogone.pay_on_page(session.redirect_url)
    feedback["SHASIGN"] = sign(feedback, "not-the-sha-out", "SHA-512")

    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(body_of(feedback), {})


@pytest.mark.parametrize("body", [b"", b"STATUS=9&orderID=1", b"\xff\xfe"])
def test_an_unsigned_or_unreadable_feedback_is_forged(fake_ogone, body):
    with pytest.raises(ForgedWebhook):
        provider_for(fake_ogone).parse_webhook(body, {})


def test_a_repeated_parameter_is_forged(fake_ogone):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request())
    feedback = fake_ogone.pay_on_page(session.redirect_url)

    with pytest.raises(ForgedWebhook):
        provider.parse_webhook(body_of(feedback) + b"&STATUS=2", {})


def test_the_same_feedback_twice_has_the_same_event_id(fake_ogone):
    provider = provider_for(fake_ogone)
    session = provider.start_checkout(checkout_request())
    feedback = fake_ogone.pay_on_page(session.redirect_url)

    first = provider.parse_webhook(body_of(feedback), {})
    again = provider.parse_webhook(body_of(feedback), {})

    assert first is not None
    assert again is not None
    assert first.event_id == again.event_id


def test_a_status_encaisse_does_not_follow_is_ignored(fake_ogone):
    provider = provider_for(fake_ogone)
    feedback = {"orderID": "E1", "STATUS": "7", "PAYID": "1", "NCERROR": "0"}  # 7: payment deleted
    feedback["SHASIGN"] = sign(feedback, fake_ogone.sha_out, "SHA-512", None)

    assert provider.parse_webhook(body_of(feedback), {}) is None


# -- DirectLink: charging an alias ------------------------------------------------


def test_charging_a_saved_card_succeeds(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)

    result = provider.charge(charge_request(alias))

    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == Money(3000, "EUR")
    assert result.provider_reference == fake_ogone.orders[order_id_for("charge-key-1")].payid
    page, sent = fake_ogone.direct_requests[-1]
    assert page == "orderdirect.asp"
    assert sent["ECI"] == "9"
    assert sent["AMOUNT"] == "3000"


def test_the_same_key_twice_charges_once(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)

    first = provider.charge(charge_request(alias))
    second = provider.charge(charge_request(alias))

    assert first.outcome is Outcome.SUCCEEDED
    assert second.outcome is Outcome.SUCCEEDED
    assert second.provider_reference == first.provider_reference
    # The hosted payment that saved the card, and one charge.
    assert len(fake_ogone.orders) == 2


def test_a_declined_card_is_declined_with_ogones_code(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)
    fake_ogone.decline_next("30001301")

    result = provider.charge(charge_request(alias))

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "30001301"


def test_an_unknown_alias_is_not_processed(fake_ogone):
    result = provider_for(fake_ogone).charge(charge_request("ENCNOSUCHALIAS"))

    assert result.outcome is Outcome.NOT_PROCESSED
    assert result.decline_code == "50001184"


def test_a_wrong_sha_in_is_not_processed(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)

    result = provider_for(fake_ogone, sha_in="wrong").charge(charge_request(alias))

    assert result.outcome is Outcome.NOT_PROCESSED
    assert order_id_for("charge-key-1") not in fake_ogone.orders


def test_a_timeout_is_unknown_then_fetch_finds_the_charge(fake_ogone):
    provider = provider_for(fake_ogone, timeout_seconds=0.3)
    alias = saved_card(fake_ogone, provider)
    fake_ogone.stall_next(seconds=1.0)

    stalled = provider.charge(charge_request(alias))
    fetched = provider.fetch(idempotency_key="charge-key-1", provider_reference=None)

    assert stalled.outcome is Outcome.UNKNOWN
    assert fetched.outcome is Outcome.SUCCEEDED
    assert fetched.amount == Money(3000, "EUR")


def test_fetch_of_an_order_ogone_never_saw_is_not_processed(fake_ogone):
    result = provider_for(fake_ogone).fetch(idempotency_key="never-sent", provider_reference=None)

    assert result.outcome is Outcome.NOT_PROCESSED


def test_a_5xx_is_unknown(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)
    fake_ogone.fail_next_with_5xx()

    assert provider.charge(charge_request(alias)).outcome is Outcome.UNKNOWN


def test_a_dropped_connection_is_unknown(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)
    fake_ogone.drop_next()

    assert provider.charge(charge_request(alias)).outcome is Outcome.UNKNOWN


def test_a_fetch_that_fails_stays_unknown(fake_ogone):
    fake_ogone.fail_next_with_5xx()

    result = provider_for(fake_ogone).fetch(idempotency_key="charge-key-1", provider_reference=None)

    assert result.outcome is Outcome.UNKNOWN


def test_an_unreachable_ogone_is_not_processed():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: nothing listens there
    provider = OgoneProvider(
        pspid="P",
        sha_in="i",
        sha_out="o",
        api_user="u",
        api_password="p",
        api_base=f"http://127.0.0.1:{port}/ncol/test",
    )

    assert provider.charge(charge_request("ENCX")).outcome is Outcome.NOT_PROCESSED


# -- refunds -----------------------------------------------------------------------


def test_a_partial_then_the_rest_refunded(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)
    payment = provider.charge(charge_request(alias))  # 30.00 EUR

    partial = provider.refund(
        RefundRequest(
            attempt_id="r1",
            idempotency_key="refund-1",
            amount=Money.of("10.00", "EUR"),
            payment_reference=payment.provider_reference,
        )
    )
    rest = provider.refund(
        RefundRequest(
            attempt_id="r2",
            idempotency_key="refund-2",
            amount=Money.of("20.00", "EUR"),
            payment_reference=payment.provider_reference,
        )
    )
    # 10.00 + 20.00 = 30.00 refunded: nothing is left, so one cent more is refused.
    too_much = provider.refund(
        RefundRequest(
            attempt_id="r3",
            idempotency_key="refund-3",
            amount=Money.of("0.01", "EUR"),
            payment_reference=payment.provider_reference,
        )
    )

    assert partial.outcome is Outcome.SUCCEEDED
    assert partial.amount == Money(1000, "EUR")
    assert partial.provider_reference == f"{payment.provider_reference}/1"
    assert rest.outcome is Outcome.SUCCEEDED
    assert rest.provider_reference == f"{payment.provider_reference}/2"
    assert too_much.outcome is Outcome.NOT_PROCESSED
    assert fake_ogone.direct_requests[-2][1]["OPERATION"] == "RFD"


def test_a_refund_is_found_again_by_fetch(fake_ogone):
    provider = provider_for(fake_ogone)
    alias = saved_card(fake_ogone, provider)
    payment = provider.charge(charge_request(alias))
    refund = provider.refund(
        RefundRequest(
            attempt_id="r1",
            idempotency_key="refund-1",
            amount=Money.of("30.00", "EUR"),
            payment_reference=payment.provider_reference,
        )
    )

    fetched = provider.fetch(idempotency_key="refund-1", provider_reference=refund.provider_reference)

    assert fetched.outcome is Outcome.SUCCEEDED
    assert fetched.amount == Money(3000, "EUR")


def test_the_api_password_never_shows_in_the_adapters_repr(fake_ogone):
    assert fake_ogone.api_password not in repr(provider_for(fake_ogone))
    assert fake_ogone.sha_in not in repr(provider_for(fake_ogone))
