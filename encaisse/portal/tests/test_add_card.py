"""Adding a card in the portal without paying: consent, the provider's page, the way back; own attempts only."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from encaisse.ledger.models import Entry
from encaisse.payments.models import AttemptKind, PaymentAttempt, SandboxPayment, SavedMethod
from encaisse.payments.providers.sandbox.adapter import SESSION_LIFETIME
from encaisse.payments.setup import start_method_setup

from .helpers import sign_in_as

pytestmark = pytest.mark.django_db
ADD = "/portal/methods/add/"


@pytest.fixture
def signed_in(client, customer):
    return sign_in_as(client, customer)


def form(answer) -> dict:
    return {"provider": "pressing-sandbox", "key": answer.context["key"], "consent": "1"}


def test_the_addresses_the_methods_page_links_to():
    assert reverse("portal:method_add") == ADD


def test_the_page_offers_the_providers_that_keep_a_card_and_asks_for_consent(signed_in, sandbox):
    answer = signed_in.get(ADD)

    page = answer.content.decode()
    assert answer.status_code == 200
    assert "Carte (sandbox)" in page
    assert 'name="consent" value="1" required' in page
    assert "to keep this payment method with its payment provider" in page
    assert "csrfmiddlewaretoken" in page


def test_without_a_provider_that_can_the_page_says_so(signed_in):
    answer = signed_in.get(ADD)

    assert "can keep a card without a payment" in answer.content.decode()
    assert 'name="consent"' not in answer.content.decode()


def test_without_consent_nothing_is_opened(signed_in, sandbox):
    data = {**form(signed_in.get(ADD)), "consent": ""}

    answer = signed_in.post(ADD, data)

    assert answer.status_code == 400
    assert "you must agree" in answer.content.decode()
    assert not PaymentAttempt.objects.exists()


def test_a_card_entered_on_the_sandbox_page_is_saved_and_said_so(signed_in, customer, sandbox):
    hosted = signed_in.post(ADD, form(signed_in.get(ADD)), REMOTE_ADDR="198.51.100.4")
    assert hosted.status_code == 302
    assert hosted["Location"].startswith("/sandbox/pay/sbx_set_")
    assert "No money is taken now." in signed_in.get(hosted["Location"]).content.decode()

    back = signed_in.post(hosted["Location"], {"card_number": "4242 4242 4242 4242", "expiry": "10/31"})
    attempt = PaymentAttempt.objects.get()
    assert back["Location"] == f"http://testserver/portal/methods/add/{attempt.pk}/"
    answer = signed_in.get(back["Location"])

    assert "Your card Visa •••• 4242 is saved." in answer.content.decode()
    assert reverse("portal:methods") in answer.content.decode()
    method = SavedMethod.objects.get()
    assert (method.customer, method.consent_ip, method.exp_month, method.exp_year) == (customer, "198.51.100.4",
                                                                                      10, 2031)
    assert attempt.kind == AttemptKind.SETUP
    assert not Entry.objects.filter(idempotency_key__startswith=f"attempt:{attempt.pk}").exists()


def test_the_same_form_sent_twice_opens_one_page(signed_in, sandbox):
    data = form(signed_in.get(ADD))

    first = signed_in.post(ADD, data)
    second = signed_in.post(ADD, data)

    assert first["Location"] == second["Location"]
    assert PaymentAttempt.objects.count() == 1


def test_a_declined_card_is_not_saved_and_the_page_says_why(signed_in, sandbox):
    hosted = signed_in.post(ADD, form(signed_in.get(ADD)))
    back = signed_in.post(hosted["Location"], {"card_number": "4000 0000 0000 0002"})

    answer = signed_in.get(back["Location"])

    assert "Your card was not saved: your bank declined it." in answer.content.decode()
    assert not SavedMethod.objects.exists()


def test_a_page_left_without_a_card_until_it_expired_says_so(signed_in, sandbox):
    signed_in.post(ADD, form(signed_in.get(ADD)))
    attempt = PaymentAttempt.objects.get()
    SandboxPayment.objects.filter(idempotency_key=attempt.idempotency_key).update(
        created_at=timezone.now() - SESSION_LIFETIME - timedelta(minutes=1))  # the payer never came back

    answer = signed_in.get(reverse("portal:method_added", args=[attempt.pk]))

    assert "Your card was not saved: no card was entered before the page closed." in answer.content.decode()
    assert 'role="alert"' in answer.content.decode()
    assert not SavedMethod.objects.exists()


def test_a_card_not_yet_confirmed_is_said_to_be_confirmed(signed_in, sandbox):
    sandbox.settings = {"settle_after_seconds": 3600}
    sandbox.save()
    hosted = signed_in.post(ADD, form(signed_in.get(ADD)))
    back = signed_in.post(hosted["Location"], {"card_number": "4000 0000 0000 0077"})

    answer = signed_in.get(back["Location"])

    assert "Your card is being confirmed." in answer.content.decode()
    assert not SavedMethod.objects.exists()


def test_another_customers_attempt_is_not_found_and_logged(signed_in, neighbour, sandbox, caplog):
    theirs, _url = start_method_setup(customer=neighbour, account=sandbox, consent=True, ip=None,
                                      return_url="/r/{attempt_id}/", key="theirs")

    with caplog.at_level(logging.WARNING, logger="encaisse.portal"):
        answer = signed_in.get(reverse("portal:method_added", args=[theirs.pk]))

    assert answer.status_code == 404
    assert len([r for r in caplog.records if r.name == "encaisse.portal"]) == 1
    assert "Paul" not in caplog.text


def test_a_checkout_is_not_a_setup_to_show_here(signed_in, customer, sandbox):
    payment = PaymentAttempt.objects.create(
        organisation=customer.organisation, customer=customer, provider_account=sandbox, kind=AttemptKind.CHECKOUT,
        amount_minor=100, currency="EUR", line_ids=[], idempotency_key="checkout:x")

    assert signed_in.get(reverse("portal:method_added", args=[payment.pk])).status_code == 404


def test_the_pages_need_a_signed_in_customer(client):
    assert client.get(ADD).status_code == 302
