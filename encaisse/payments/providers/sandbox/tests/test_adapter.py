"""The sandbox as a provider: saved cards, off-session charges and refunds, each answered once per key."""

import pytest

from encaisse.core.money import Money
from encaisse.payments.models import SandboxPayment
from encaisse.payments.providers.base import ChargeRequest, CheckoutRequest, Outcome, RefundRequest
from encaisse.payments.providers.sandbox import SandboxProvider
from encaisse.payments.providers.sandbox.models import SandboxRefund

ACCOUNT = "shop-sandbox"


@pytest.fixture
def sandbox() -> SandboxProvider:
    return SandboxProvider(secret="s3cret", account_code=ACCOUNT, settle_after_seconds=0)


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


def checkout(sandbox, key="checkout:1", *, save=True, amount="60.00"):
    session = sandbox.start_checkout(CheckoutRequest(
        attempt_id="a1", idempotency_key=key, amount=eur(amount), reference="F-1", description="F-1",
        payer_email="", return_url="/back/", cancel_url="/back/", notify_url="/hooks/x/", save_method=save))
    return SandboxPayment.objects.get(reference=session.provider_reference)


def paid(sandbox, card="4242 4242 4242 4242", key="checkout:1", **extra):
    payment = checkout(sandbox, key, **extra)
    assert sandbox.enter_card(payment, card, expiry=(12, 2030))
    if payment.status == "authenticating":
        sandbox.authenticate(payment, approved=True)
    return payment


def kept_token(sandbox, card="4242 4242 4242 4242", key="checkout:1") -> str:
    payment = paid(sandbox, card, key)
    return sandbox.fetch(idempotency_key=key, provider_reference=payment.reference).saved_method.token


def charge(sandbox, token, key="charge:1", amount="30.00"):
    return sandbox.charge(ChargeRequest(attempt_id="c1", idempotency_key=key, amount=eur(amount),
                                        method_token=token, customer_token=None, statement_label="Shop"))


def refund(sandbox, reference, key="refund:1", amount="10.00"):
    return sandbox.refund(RefundRequest(attempt_id="r1", idempotency_key=key, amount=eur(amount),
                                        payment_reference=reference))


@pytest.mark.django_db
def test_a_checkout_asked_to_keep_the_card_reports_it_in_fetch_and_notification(sandbox):
    payment = paid(sandbox)

    fetched = sandbox.fetch(idempotency_key="checkout:1", provider_reference=payment.reference)
    event = sandbox.parse_webhook(*sandbox.notification(payment))

    assert fetched.outcome is Outcome.SUCCEEDED
    info = fetched.saved_method
    assert (info.brand, info.last4, info.exp_month, info.exp_year) == ("visa", "4242", 12, 2030)
    assert info.token.startswith("sbx_pm_")
    assert event.saved_method == info


@pytest.mark.django_db
def test_a_checkout_not_asked_to_keep_the_card_reports_none(sandbox):
    payment = paid(sandbox, save=False)

    assert sandbox.fetch(idempotency_key="checkout:1", provider_reference=payment.reference).saved_method is None
    assert sandbox.parse_webhook(*sandbox.notification(payment)).saved_method is None


@pytest.mark.django_db
def test_a_declined_checkout_keeps_no_card(sandbox):
    payment = paid(sandbox, "4000 0000 0000 0002")

    result = sandbox.fetch(idempotency_key="checkout:1", provider_reference=payment.reference)

    assert (result.outcome, result.saved_method) == (Outcome.DECLINED, None)


@pytest.mark.django_db
def test_a_charge_succeeds_once_per_key_and_fetch_finds_it(sandbox):
    token = kept_token(sandbox)

    first = charge(sandbox, token)
    again = charge(sandbox, token)
    other = charge(sandbox, token, key="charge:2")

    assert first.outcome is Outcome.SUCCEEDED
    assert first.amount == eur("30.00")
    assert again.provider_reference == first.provider_reference
    assert other.provider_reference != first.provider_reference
    assert SandboxPayment.objects.filter(reference__startswith="sbx_ch_").count() == 2
    found = sandbox.fetch(idempotency_key="charge:1", provider_reference=None)
    assert (found.outcome, found.provider_reference) == (Outcome.SUCCEEDED, first.provider_reference)


@pytest.mark.django_db
@pytest.mark.parametrize(("card", "code"), [("4000 0000 0000 0341", "card_declined"),
                                            ("4000 0027 6000 3184", "authentication_required")])
def test_cards_kept_fine_whose_charges_are_declined(sandbox, card, code):
    token = kept_token(sandbox, card)

    result = charge(sandbox, token)

    assert (result.outcome, result.decline_code) == (Outcome.DECLINED, code)


@pytest.mark.django_db
def test_an_unknown_token_is_not_processed(sandbox):
    assert charge(sandbox, "sbx_pm_nothing").outcome is Outcome.NOT_PROCESSED


@pytest.mark.django_db
def test_the_lost_answer_card_takes_the_charge_raises_then_replays_it(sandbox):
    token = kept_token(sandbox, "4000 0000 0000 0119")

    with pytest.raises(TimeoutError):
        charge(sandbox, token)

    assert sandbox.fetch(idempotency_key="charge:1", provider_reference=None).outcome is Outcome.SUCCEEDED
    assert charge(sandbox, token).outcome is Outcome.SUCCEEDED  # the same key: the first answer, no new charge
    assert SandboxPayment.objects.filter(idempotency_key="charge:1").count() == 1


@pytest.mark.django_db
def test_refunds_in_parts_up_to_what_was_paid_and_not_beyond(sandbox):
    payment = paid(sandbox)  # 60.00

    first = refund(sandbox, payment.reference, "refund:1", "40.00")
    replay = refund(sandbox, payment.reference, "refund:1", "40.00")
    second = refund(sandbox, payment.reference, "refund:2", "20.00")
    too_much = refund(sandbox, payment.reference, "refund:3", "0.01")

    assert (first.outcome, first.amount) == (Outcome.SUCCEEDED, eur("40.00"))
    assert replay.provider_reference == first.provider_reference
    assert second.outcome is Outcome.SUCCEEDED
    assert (too_much.outcome, too_much.decline_code) == (Outcome.NOT_PROCESSED, "amount_too_large")
    assert "only 0.00 EUR of this payment can still be refunded" in too_much.message
    assert SandboxRefund.objects.filter(status="succeeded").count() == 2
    found = sandbox.fetch(idempotency_key="refund:2", provider_reference=None)
    assert (found.outcome, found.provider_reference) == (Outcome.SUCCEEDED, second.provider_reference)
    assert sandbox.fetch(idempotency_key="x", provider_reference=first.provider_reference).amount == eur("40.00")


@pytest.mark.django_db
def test_a_charge_can_be_refunded_and_an_unknown_payment_cannot(sandbox):
    paid_charge = charge(sandbox, kept_token(sandbox))

    assert refund(sandbox, paid_charge.provider_reference, amount="30.00").outcome is Outcome.SUCCEEDED
    unknown = refund(sandbox, "sbx_nothing", key="refund:2")
    assert (unknown.outcome, unknown.decline_code) == (Outcome.NOT_PROCESSED, "no_such_payment")
