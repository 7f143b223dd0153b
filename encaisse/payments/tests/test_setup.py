"""Keeping a card without paying: consent required, nothing booked, the method recorded once whatever brings it."""

import json

import pytest

from encaisse.core.audit import AuditEvent
from encaisse.ledger.models import Entry, Settlement
from encaisse.parties.models import Organisation
from encaisse.payments import online
from encaisse.payments.errors import RefundRefused
from encaisse.payments.methods import consent_text
from encaisse.payments.models import AttemptKind, PaymentAttempt, ProviderAccount, SandboxPayment, SavedMethod
from encaisse.payments.providers import adapter_for
from encaisse.payments.providers.sandbox.tests.helpers import eur, sandbox_account
from encaisse.payments.providers.stripe.tests.fake_stripe import sign
from encaisse.payments.refunds import refund_attempt
from encaisse.payments.selectors import accounts_keeping_cards, attempts_for
from encaisse.payments.setup import SetupRefused, start_method_setup
from encaisse.testing.stripe import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db
IP = "203.0.113.9"


@pytest.fixture
def sandbox(org):
    return sandbox_account(org)


@pytest.fixture
def other_org_account(db):
    """A sandbox account of another organisation (its books are not needed: nothing is booked to them)."""
    other = Organisation.objects.create(name="Mairie de Bourg", slug="bourg")
    return sandbox_account(other, code="bourg-sandbox")


def open_setup(customer, account, *, consent=True, key="form-1"):
    return start_method_setup(customer=customer, account=account, consent=consent, ip=IP,
                              return_url="https://shop.example/portal/methods/add/{attempt_id}/",
                              cancel_url="https://shop.example/portal/methods/add/", key=key)


def enter_card(attempt, card="4242 4242 4242 4242"):
    payment = SandboxPayment.objects.get(reference=attempt.provider_reference)
    assert adapter_for(attempt.provider_account).enter_card(payment, card, expiry=(11, 2031))
    return payment


def test_a_setup_is_a_zero_attempt_naming_no_items_with_the_consent_stored(customer, sandbox):
    attempt, redirect_url = open_setup(customer, sandbox)

    assert redirect_url == f"/sandbox/pay/{attempt.provider_reference}/"
    assert (attempt.kind, attempt.amount_minor, attempt.currency, attempt.line_ids, attempt.status) == (
        AttemptKind.SETUP, 0, "EUR", [], "pending")
    stored = attempt.request["consent"]
    assert (stored["text"], stored["ip"]) == (consent_text(customer.organisation), IP)
    assert SandboxPayment.objects.get(reference=attempt.provider_reference).return_url == (
        f"https://shop.example/portal/methods/add/{attempt.pk}/")


def test_without_consent_nothing_is_opened(customer, sandbox):
    with pytest.raises(SetupRefused, match="you must agree"):
        open_setup(customer, sandbox, consent=False)

    assert not PaymentAttempt.objects.exists()
    assert not SandboxPayment.objects.exists()


def test_an_account_of_another_organisation_or_inactive_is_refused(customer, sandbox, other_org_account):
    with pytest.raises(SetupRefused, match="not available"):
        open_setup(customer, other_org_account)
    sandbox.active = False
    sandbox.save()
    with pytest.raises(SetupRefused, match="not available"):
        open_setup(customer, sandbox, key="form-2")

    assert not PaymentAttempt.objects.exists()


def test_a_provider_that_keeps_cards_only_while_paying_is_refused_and_not_offered(org, customer, sandbox):
    payfip = ProviderAccount.objects.create(organisation=org, provider="payfip", code="pressing-payfip",
                                            name="PayFiP", settings={"client_number": "123456"})

    with pytest.raises(SetupRefused, match="only while paying"):
        open_setup(customer, payfip)
    assert accounts_keeping_cards(viewer=customer) == [sandbox]


def test_the_same_form_twice_opens_one_page(customer, sandbox):
    first, first_url = open_setup(customer, sandbox)
    second, second_url = open_setup(customer, sandbox)

    assert (second.pk, second_url) == (first.pk, first_url)
    assert SandboxPayment.objects.count() == 1


def test_a_kept_card_is_recorded_with_the_consent_and_no_money_is_booked(customer, sandbox):
    attempt, _url = open_setup(customer, sandbox)
    enter_card(attempt)

    attempt = online.refresh_attempt(attempt)

    assert attempt.status == "succeeded"
    assert attempt.settled_entry_id is None
    assert not Entry.objects.filter(idempotency_key__startswith=f"attempt:{attempt.pk}").exists()
    assert not Settlement.objects.exists()
    method = SavedMethod.objects.get()
    assert (method.customer, method.source_attempt, method.last4, method.exp_month, method.exp_year) == (
        customer, attempt, "4242", 11, 2031)
    assert (method.consent_text, method.consent_ip, method.is_default) == (
        consent_text(customer.organisation), IP, True)
    assert not AuditEvent.objects.filter(object_id=str(attempt.pk), verb="booked").exists()


def test_the_notification_then_the_return_page_then_again_keep_one_method(client, customer, sandbox):
    attempt, _url = open_setup(customer, sandbox)
    payment = enter_card(attempt)
    body, headers = adapter_for(sandbox).notification(payment)

    online.receive_webhook(code=sandbox.code, body=body, headers=headers)
    online.refresh_attempt(attempt)
    online.apply_provider_result(attempt_id=attempt.pk, result=adapter_for(sandbox).fetch(
        idempotency_key=attempt.idempotency_key, provider_reference=attempt.provider_reference))

    assert SavedMethod.objects.count() == 1
    assert not Entry.objects.filter(idempotency_key__startswith=f"attempt:{attempt.pk}").exists()


def test_a_declined_card_keeps_nothing(customer, sandbox):
    attempt, _url = open_setup(customer, sandbox)
    enter_card(attempt, "4000 0000 0000 0002")

    assert online.refresh_attempt(attempt).status == "declined"
    assert not SavedMethod.objects.exists()


def test_a_setup_is_neither_a_payment_listed_nor_refundable(customer, sandbox, clerk):
    attempt, _url = open_setup(customer, sandbox)
    enter_card(attempt)
    attempt = online.refresh_attempt(attempt)

    assert list(attempts_for(viewer=customer)) == []
    with pytest.raises(RefundRefused, match="only a succeeded payment"):
        refund_attempt(attempt=attempt, amount=eur("1.00"), reason="test", key="refund-1", by=clerk)


def test_the_sweep_asks_about_a_setup_left_pending_and_books_nothing(customer, sandbox):
    attempt, _url = open_setup(customer, sandbox)
    enter_card(attempt)
    PaymentAttempt.objects.filter(pk=attempt.pk).update(created_at=attempt.created_at.replace(year=2020))

    assert online.resolve_unknown_attempts() == {"succeeded": 1}
    assert SavedMethod.objects.count() == 1
    assert not Entry.objects.filter(idempotency_key__startswith=f"attempt:{attempt.pk}").exists()


def test_a_card_saved_on_stripe_arrives_by_webhook_then_the_return_page_finds_the_same(
        client, customer, fake_stripe, stripe_account):
    attempt, redirect_url = open_setup(customer, stripe_account)
    assert redirect_url.startswith(fake_stripe.url)
    assert fake_stripe.objects[attempt.provider_reference]["mode"] == "setup"

    body = json.dumps(fake_stripe.complete_setup(attempt.provider_reference, "pm_card_mastercard")).encode()
    answer = client.post("/hooks/pressing-stripe/", body, content_type="application/json",
                         HTTP_STRIPE_SIGNATURE=sign(body, WEBHOOK_SECRET))
    assert answer.status_code == 200
    online.refresh_attempt(PaymentAttempt.objects.get(pk=attempt.pk))

    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    method = SavedMethod.objects.get()
    assert (method.token, method.brand, method.last4) == ("pm_card_mastercard", "mastercard", "4444")
    assert method.customer_token.startswith("cus_")
    assert attempt.settled_entry_id is None


def test_the_stripe_return_page_alone_records_the_card(customer, fake_stripe, stripe_account):
    attempt, _url = open_setup(customer, stripe_account)
    fake_stripe.complete_setup(attempt.provider_reference)

    assert online.refresh_attempt(attempt).status == "succeeded"
    assert SavedMethod.objects.get().last4 == "4242"


def test_a_second_card_on_stripe_belongs_to_the_same_stripe_customer(customer, fake_stripe, stripe_account):
    first, _url = open_setup(customer, stripe_account)
    fake_stripe.complete_setup(first.provider_reference)
    online.refresh_attempt(first)

    second, _url = open_setup(customer, stripe_account, key="form-2")

    assert fake_stripe.objects[second.provider_reference]["customer"] == SavedMethod.objects.get().customer_token
    assert [o.get("object") for o in fake_stripe.objects.values()].count("customer") == 1
