"""The return page leads a payer signed in to the portal back to their account, and no one else."""

import pytest

from encaisse.parties.models import Customer
from encaisse.payments.models import PaymentAttempt
from encaisse.portal.tests.helpers import sign_in_as

from . import test_pay_online as shared
from .test_pay_online import CARD_OK
from .test_pay_pages import link_for

invoice, sandbox = shared.invoice, shared.sandbox  # the fixtures, shared with the service tests

BACK = "Back to your account"


def paid_return_page(client, invoice, sandbox) -> str:
    """Pay the invoice from its emailed link with a good card; the return page's HTML."""
    location = client.post(link_for(invoice), {"provider": sandbox.code})["Location"]
    client.post(location, {"card_number": CARD_OK})
    attempt = PaymentAttempt.objects.get()
    return client.get(f"/pay/return/{attempt.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


@pytest.mark.django_db
def test_a_payer_signed_in_as_the_owner_is_offered_the_way_back_to_their_account(client, invoice, sandbox, customer):
    sign_in_as(client, customer)

    page = paid_return_page(client, invoice, sandbox)

    assert "Payment received" in page
    assert BACK in page
    assert 'href="/portal/"' in page


@pytest.mark.django_db
def test_an_anonymous_payer_of_an_emailed_link_sees_the_result_and_no_account_link(client, invoice, sandbox):
    page = paid_return_page(client, invoice, sandbox)

    assert "Payment received" in page
    assert BACK not in page
    assert "/portal/" not in page


@pytest.mark.django_db
def test_a_payer_signed_in_as_another_customer_gets_no_link_to_an_account_that_did_not_pay(client, invoice, sandbox,
                                                                                         org):
    other = Customer.objects.create(organisation=org, ref="C009", name="Paul Durand", email="paul@example.org")
    sign_in_as(client, other)

    page = paid_return_page(client, invoice, sandbox)

    assert "Payment received" in page
    assert BACK not in page


@pytest.mark.django_db
def test_a_card_kept_without_paying_is_not_shown_as_a_payment(client, customer, org):
    from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account
    from encaisse.payments.tests.test_setup import enter_card, open_setup

    attempt, _url = open_setup(customer, sandbox_account(org))
    enter_card(attempt)

    assert client.get(f"/pay/return/{attempt.pk}/").status_code == 404
