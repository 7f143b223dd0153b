"""Keeping a payment method from the public pay page: only with the payer's consent, recorded word for word."""

from datetime import timedelta

import pytest

from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.payments.methods import consent_text
from encaisse.payments.models import PaymentAttempt, SandboxPayment, SavedMethod
from encaisse.payments.paylinks import pay_link
from encaisse.payments.providers.sandbox.tests.helpers import CARD_OK, CARD_PENDING_OK, sandbox_account

PAYER_IP = "198.51.100.4"


@pytest.fixture
def sandbox(org):
    return sandbox_account(org)


@pytest.fixture
def invoice(org, customer, clerk):
    return posted_invoice(org, customer, clerk)  # 60.00 due


def pay_page(invoice) -> str:
    return pay_link(organisation_id=invoice.organisation_id, line_ids=[invoice.receivable_line_id],
                    amount=amount_due(invoice))


def pay(client, invoice, sandbox, card, *, keep: bool, expiry: str = "09/31"):
    form = {"provider": sandbox.code, **({"save_method": "1"} if keep else {})}
    hosted = client.post(pay_page(invoice), form, REMOTE_ADDR=PAYER_IP)
    assert hosted.status_code == 302
    back = client.post(hosted["Location"], {"card_number": card, "expiry": expiry})
    assert back.status_code == 302
    attempt = PaymentAttempt.objects.get()
    client.get(f"/pay/return/{attempt.pk}/")  # the return page asks the provider
    attempt.refresh_from_db()
    return attempt


@pytest.mark.django_db
def test_the_pay_page_offers_to_keep_the_method_with_the_consent_text(client, org, invoice, sandbox):
    page = client.get(pay_page(invoice), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'name="save_method"' in page
    assert consent_text(org) in page


@pytest.mark.django_db
@pytest.mark.parametrize("card", [CARD_OK, CARD_PENDING_OK])
def test_paying_with_consent_keeps_the_card_with_the_text_shown_the_time_and_the_payers_address(
        client, org, customer, invoice, sandbox, card):
    attempt = pay(client, invoice, sandbox, card, keep=True)

    assert attempt.status == "succeeded"
    method = SavedMethod.objects.get()
    assert method.consent_text == consent_text(org)  # exactly the sentence the page showed
    assert method.consent_ip == PAYER_IP
    assert abs(method.consent_at - attempt.created_at) < timedelta(minutes=1)  # when the payer ticked the box
    assert (method.customer, method.source_attempt, method.last4) == (customer, attempt, card[-4:])
    assert (method.exp_month, method.exp_year, method.is_default) == (9, 2031, True)


@pytest.mark.django_db
@pytest.mark.parametrize("card", [CARD_OK, CARD_PENDING_OK])
def test_paying_without_consent_keeps_nothing(client, invoice, sandbox, card):
    attempt = pay(client, invoice, sandbox, card, keep=False)

    assert attempt.status == "succeeded"
    assert "consent" not in attempt.request
    assert SavedMethod.objects.count() == 0


@pytest.mark.django_db
def test_the_sandbox_page_says_the_card_will_be_kept_and_refuses_a_past_expiry(client, invoice, sandbox):
    hosted = client.post(pay_page(invoice), {"provider": sandbox.code, "save_method": "1"})
    page = client.get(hosted["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "You asked to keep this card" in page
    assert "4000 0000 0000 0341" in page  # the test cards for automatic charges are listed

    refused = client.post(hosted["Location"], {"card_number": CARD_OK, "expiry": "01/20"},
                          HTTP_ACCEPT_LANGUAGE="en")

    assert refused.status_code == 400
    assert "Enter the expiry date as MM/YY" in refused.content.decode()
    assert SandboxPayment.objects.get().status == "open"
