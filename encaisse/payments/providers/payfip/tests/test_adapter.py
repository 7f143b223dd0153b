"""The PayFiP adapter against a local server speaking PayFiP's SOAP web service."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from encaisse.core.money import Money
from encaisse.payments.providers.base import (
    Capability,
    ChargeRequest,
    CheckoutRequest,
    ForgedWebhook,
    Outcome,
    RefundRequest,
)
from encaisse.payments.providers.payfip import CheckoutFailed, PayFiPProvider, reference_for

from .fake_payfip import FakePayFiP


@pytest.fixture
def fake_payfip() -> Iterator[FakePayFiP]:
    fake = FakePayFiP(numcli="012345")
    fake.start()
    yield fake
    fake.stop()


def provider_for(fake: FakePayFiP, **settings: object) -> PayFiPProvider:
    return PayFiPProvider(
        client_number="012345",
        environment="activation",
        api_base=fake.url,
        **settings,  # type: ignore[arg-type]
    )


def checkout_request(key: str = "attempt-key-1", amount: str = "42.50") -> CheckoutRequest:
    return CheckoutRequest(
        attempt_id="6f1d7c1e-0000-4000-8000-000000000001",
        idempotency_key=key,
        amount=Money.of(amount, "EUR"),
        reference="F-2026-00017",
        description="Cantine scolaire — mars",
        payer_email="parent@example.org",
        return_url="https://encaisse.example/portal/return/abc",
        cancel_url="https://encaisse.example/portal/cancel/abc",
        notify_url="https://encaisse.example/webhooks/payfip-mairie",
    )


def test_checkout_sends_the_payer_to_payfip_with_the_operation_id(fake_payfip):
    session = provider_for(fake_payfip).start_checkout(checkout_request())

    url = urlparse(session.redirect_url)
    assert url.path == "/tpa/paiementws.web"
    assert parse_qs(url.query) == {"idop": [session.provider_reference]}
    sent = fake_payfip.operations[session.provider_reference].arguments
    # 42.50 EUR = 4250 cents; X is PayFiP's activation mode.
    assert sent["montant"] == "4250"
    assert sent["numcli"] == "012345"
    assert sent["saisie"] == "X"
    assert sent["mel"] == "parent@example.org"
    assert sent["urlnotif"] == "https://encaisse.example/webhooks/payfip-mairie"
    assert sent["urlredirect"] == "https://encaisse.example/portal/return/abc"
    assert sent["objet"] == "F 2026 00017 Cantine scolaire mars"


def test_the_reference_sent_is_the_same_on_every_retry_of_an_attempt(fake_payfip):
    provider = provider_for(fake_payfip)

    first = provider.start_checkout(checkout_request(key="attempt-key-1"))
    retry = provider.start_checkout(checkout_request(key="attempt-key-1"))
    other = provider.start_checkout(checkout_request(key="attempt-key-2"))

    refdets = [fake_payfip.operations[s.provider_reference].arguments["refdet"] for s in (first, retry, other)]
    assert refdets[0] == refdets[1] == reference_for("attempt-key-1")
    assert refdets[2] != refdets[0]
    assert len(refdets[0]) == 30
    assert refdets[0].isalnum()


def test_a_paid_operation_is_succeeded_with_the_amount_payfip_reports(fake_payfip):
    provider = provider_for(fake_payfip)
    session = provider.start_checkout(checkout_request())
    fake_payfip.pay(session.provider_reference, "P")

    result = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.SUCCEEDED
    assert result.amount == Money(4250, "EUR")
    assert result.provider_reference == session.provider_reference
    assert result.raw["refdet"] == reference_for("attempt-key-1")


def test_a_direct_debit_payment_is_succeeded_too(fake_payfip):
    provider = provider_for(fake_payfip)
    session = provider.start_checkout(checkout_request())
    fake_payfip.pay(session.provider_reference, "V")

    result = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.SUCCEEDED


@pytest.mark.parametrize("resultrans", ["R", "Z", "A"])
def test_a_refused_or_abandoned_payment_is_declined_with_payfips_code(fake_payfip, resultrans):
    provider = provider_for(fake_payfip)
    session = provider.start_checkout(checkout_request())
    fake_payfip.pay(session.provider_reference, resultrans)

    result = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == resultrans


def test_a_payer_still_on_the_page_is_pending(fake_payfip):
    provider = provider_for(fake_payfip)
    session = provider.start_checkout(checkout_request())

    result = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.PENDING
    assert result.decline_code == "P5"


def test_an_operation_payfip_does_not_know_is_declined(fake_payfip):
    result = provider_for(fake_payfip).fetch(idempotency_key="attempt-key-1", provider_reference="99999999-nope")

    assert result.outcome is Outcome.DECLINED
    assert result.decline_code == "P1"


def test_fetch_without_an_operation_id_is_not_processed(fake_payfip):
    result = provider_for(fake_payfip).fetch(idempotency_key="attempt-key-1", provider_reference=None)

    assert result.outcome is Outcome.NOT_PROCESSED
    assert fake_payfip.requests == []


def test_another_attempts_paid_operation_is_not_believed(fake_payfip):
    # A cheap payment of 1.00 EUR, paid, and a 42.50 EUR attempt: asking about
    # the first operation under the second attempt's key must not say paid.
    provider = provider_for(fake_payfip)
    cheap = provider.start_checkout(checkout_request(key="cheap", amount="1.00"))
    fake_payfip.pay(cheap.provider_reference, "P")

    result = provider.fetch(idempotency_key="attempt-key-1", provider_reference=cheap.provider_reference)

    assert result.outcome is Outcome.UNKNOWN


def test_a_notification_only_says_which_operation_to_ask_about(fake_payfip):
    provider = provider_for(fake_payfip)
    session = provider.start_checkout(checkout_request())
    idop = session.provider_reference
    # Someone adds a paid status and a tiny amount to the notification or return URL.
    body = f"idop={idop}&resultrans=P&montant=1".encode()

    event = provider.parse_webhook(body, {"Content-Type": "application/x-www-form-urlencoded"})

    assert event is not None
    assert event.outcome is Outcome.PENDING
    assert event.amount is None
    assert event.provider_reference == idop
    assert event.event_id == f"payfip-notification:{idop}"
    # And PayFiP, asked, says the payer has not paid at all.
    assert provider.fetch(idempotency_key="attempt-key-1", provider_reference=idop).outcome is Outcome.PENDING


def test_the_same_notification_twice_has_the_same_event_id(fake_payfip):
    provider = provider_for(fake_payfip)

    first = provider.parse_webhook(b"idop=00000001-fake-idop", {})
    again = provider.parse_webhook(b"idop=00000001-fake-idop", {})

    assert first is not None
    assert again is not None
    assert first.event_id == again.event_id


@pytest.mark.parametrize("body", [b"", b"resultrans=P", b"idop=<script>", b"idop=a&idop=b", b"\xff\xfe"])
def test_a_notification_without_a_well_formed_idop_is_refused(fake_payfip, body):
    with pytest.raises(ForgedWebhook):
        provider_for(fake_payfip).parse_webhook(body, {})


def test_a_timeout_while_asking_is_unknown_then_fetch_resolves_it(fake_payfip):
    provider = provider_for(fake_payfip, timeout_seconds=0.3)
    session = provider.start_checkout(checkout_request())
    fake_payfip.pay(session.provider_reference, "P")
    fake_payfip.stall_next(seconds=1.0)

    stalled = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)
    later = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)

    assert stalled.outcome is Outcome.UNKNOWN
    assert later.outcome is Outcome.SUCCEEDED


def test_a_timeout_while_opening_the_checkout_says_unknown(fake_payfip):
    fake_payfip.stall_next(seconds=1.0)

    with pytest.raises(CheckoutFailed) as failure:
        provider_for(fake_payfip, timeout_seconds=0.3).start_checkout(checkout_request())

    assert failure.value.outcome is Outcome.UNKNOWN


def test_a_5xx_is_unknown(fake_payfip):
    provider = provider_for(fake_payfip)
    session = provider.start_checkout(checkout_request())
    fake_payfip.fail_next_with_5xx()

    result = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.UNKNOWN


def test_a_dropped_connection_is_unknown(fake_payfip):
    fake_payfip.drop_next()

    with pytest.raises(CheckoutFailed) as failure:
        provider_for(fake_payfip).start_checkout(checkout_request())

    assert failure.value.outcome is Outcome.UNKNOWN


def test_a_technical_fault_while_asking_is_unknown(fake_payfip):
    provider = provider_for(fake_payfip)
    session = provider.start_checkout(checkout_request())
    fake_payfip.fault_next("T9", kind="TechIndisponibiliteErreur")

    result = provider.fetch(idempotency_key="attempt-key-1", provider_reference=session.provider_reference)

    assert result.outcome is Outcome.UNKNOWN
    assert result.decline_code == "T9"


def test_a_request_payfip_refuses_as_invalid_is_not_processed(fake_payfip):
    provider = PayFiPProvider(client_number="999999", environment="activation", api_base=fake_payfip.url)

    with pytest.raises(CheckoutFailed) as failure:
        provider.start_checkout(checkout_request())

    assert failure.value.outcome is Outcome.NOT_PROCESSED
    assert failure.value.code == "C1"
    assert fake_payfip.operations == {}


def test_an_unreachable_payfip_is_not_processed():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: nothing listens there
    provider = PayFiPProvider(client_number="012345", api_base=f"http://127.0.0.1:{port}/tpa")

    with pytest.raises(CheckoutFailed) as failure:
        provider.start_checkout(checkout_request())

    assert failure.value.outcome is Outcome.NOT_PROCESSED


def test_payfip_cannot_charge_a_saved_method_or_refund(fake_payfip):
    provider = provider_for(fake_payfip)
    charge = ChargeRequest(
        attempt_id="a",
        idempotency_key="k",
        amount=Money(100, "EUR"),
        method_token="tok",
        customer_token=None,
        statement_label="Mairie",
    )
    refund = RefundRequest(attempt_id="a", idempotency_key="k", amount=Money(100, "EUR"), payment_reference="x")

    assert provider.charge(charge).outcome is Outcome.NOT_PROCESSED
    assert provider.refund(refund).outcome is Outcome.NOT_PROCESSED
    assert provider.capabilities == frozenset({Capability.HOSTED_CHECKOUT})
    assert fake_payfip.requests == []


def test_the_mode_follows_the_environment(fake_payfip):
    production = PayFiPProvider(client_number="012345", environment="production", api_base=fake_payfip.url)

    session = production.start_checkout(checkout_request())

    assert fake_payfip.operations[session.provider_reference].arguments["saisie"] == "W"


def test_payfip_takes_euros_only(fake_payfip):
    request = CheckoutRequest(**{**_fields(checkout_request()), "amount": Money(100, "USD")})

    with pytest.raises(ValueError, match="euros"):
        provider_for(fake_payfip).start_checkout(request)


def _fields(request: CheckoutRequest) -> dict[str, object]:
    return {name: getattr(request, name) for name in request.__dataclass_fields__}
