"""Paying a deposit request from its pay link: named as such, one at a time, nothing once deducted."""

import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from encaisse.invoicing.models import DepositRequest
from encaisse.invoicing.selectors import deposit_amount_due
from encaisse.invoicing.services import invoice_from_quote, issue_deposit_request, post_invoice, validate_invoice
from encaisse.invoicing.tests.quotes import deposits, sent_quote
from encaisse.payments.models import PaymentAttempt, ProviderAccount
from encaisse.payments.paylinks import pay_link

from .test_pay_online import CARD_OK, eur

MARCH_5 = date(2026, 3, 5)


@pytest.fixture
def sandbox(org) -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code="pressing-sandbox",
                                          name="Carte (sandbox)", settings={"settle_after_seconds": 0})


@pytest.fixture
def two_deposits(org, customer, clerk) -> list[DepositRequest]:
    """30 % (360.00) and 70 % (840.00) of a 1200.00 quote, both issued."""
    quote = sent_quote(org, customer, clerk, accepted=True)
    return [issue_deposit_request(deposit_id=d.pk, by=clerk, today=MARCH_5)
            for d in deposits(quote, "30", "70", by=clerk)]


def link_for(deposit: DepositRequest) -> str:
    return pay_link(organisation_id=deposit.organisation_id, line_ids=[deposit.receivable_line_id],
                    amount=deposit_amount_due(deposit))


def pay_online(client, deposit: DepositRequest, sandbox: ProviderAccount) -> None:
    response = client.post(link_for(deposit), {"provider": sandbox.code})
    assert response.status_code == 302
    client.post(response["Location"], {"card_number": CARD_OK})


@pytest.mark.django_db
def test_the_page_names_the_deposit_request_and_its_quote(client, two_deposits, sandbox):
    first = two_deposits[0]

    response = client.get(link_for(first), HTTP_ACCEPT_LANGUAGE="en")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Deposit request AC-2026-00001 for quote DE-2026-00001" in page
    assert "€360.00" in page
    assert sandbox.name in page
    assert "Invoice " not in page


@pytest.mark.django_db
def test_the_second_deposit_opens_no_checkout_while_the_first_is_unpaid(client, two_deposits, sandbox):
    second = two_deposits[1]

    shown = client.get(link_for(second), HTTP_ACCEPT_LANGUAGE="en")
    posted = client.post(link_for(second), {"provider": sandbox.code}, HTTP_ACCEPT_LANGUAGE="en")

    for response in (shown, posted):
        assert response.status_code == 409
        assert "Deposit request AC-2026-00001 must be paid first." in response.content.decode()
        assert 'name="provider"' not in response.content.decode()
    assert not PaymentAttempt.objects.exists()
    assert deposit_amount_due(second) == eur("840.00")


@pytest.mark.django_db
def test_once_the_first_is_paid_online_the_second_can_be_paid(client, two_deposits, sandbox):
    first, second = two_deposits

    pay_online(client, first, sandbox)

    assert deposit_amount_due(first) == eur("0.00")
    response = client.get(link_for(second), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert 'name="provider"' in response.content.decode()
    assert "€840.00" in response.content.decode()


@pytest.mark.django_db
def test_a_deducted_deposit_has_nothing_left_to_pay(client, two_deposits, sandbox, clerk):
    first = two_deposits[0]
    path = link_for(first)
    invoice = invoice_from_quote(quote_id=first.quote_id, by=clerk)
    validate_invoice(invoice_id=invoice.pk, by=clerk)
    post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 4, 1))

    response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "Nothing is left to pay" in response.content.decode()
    assert 'name="provider"' not in response.content.decode()


@pytest.mark.django_db
def test_pay_link_command_takes_a_deposit_request_number(client, two_deposits):
    out = StringIO()

    call_command("pay-link", "AC-2026-00002", "--json", stdout=out)

    data = json.loads(out.getvalue())
    assert (data["invoice"], data["kind"], data["amount_due"], data["currency"]) == (
        "AC-2026-00002", "deposit_request", "840.00", "EUR")
    assert data["url"].endswith(data["path"])
    assert "AC-2026-00002" in client.get(data["path"]).content.decode()
