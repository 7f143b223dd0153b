"""Another customer's ids, in every portal address that takes one: 404, like a missing id, and logged."""

import logging
from typing import NamedTuple

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, Invoice
from encaisse.invoicing.services import issue_deposit_request
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.invoicing.tests.quotes import deposits, sent_quote
from encaisse.payments import online
from encaisse.payments.models import PaymentAttempt, ProviderAccount

from .helpers import sign_in_as


def records_of(owner, clerk):
    """A posted invoice, an issued deposit request and an online payment (checkout opened) of `owner`."""
    invoice = posted_invoice(owner.organisation, owner, clerk)
    quote = sent_quote(owner.organisation, owner, clerk, accepted=True)
    deposit = issue_deposit_request(deposit_id=deposits(quote, "30", by=clerk)[0].pk, by=clerk)
    sandbox = ProviderAccount.objects.create(organisation=owner.organisation, provider="sandbox",
                                             code=f"sandbox-{owner.pk}", name="Carte (sandbox)")
    attempt, _session = online.start_checkout(customer=owner, amount=Money.of("60.00", "EUR"),
                                              line_ids=[invoice.receivable_line_id], provider_account=sandbox,
                                              return_url="/pay/return/{attempt_id}/")
    return Records(invoice, deposit, attempt)


class Records(NamedTuple):
    invoice: Invoice
    deposit: DepositRequest
    attempt: PaymentAttempt


REQUESTS = {
    "invoice page": lambda client, r: client.get(f"/portal/invoices/{r.invoice.pk}/"),
    "deposit page": lambda client, r: client.get(f"/portal/deposits/{r.deposit.pk}/"),
    "payment page": lambda client, r: client.get(f"/portal/payments/{r.attempt.pk}/"),
    "pay an invoice": lambda client, r: client.post("/portal/pay/", {"only": f"invoice:{r.invoice.pk}"}),
    "pay a deposit": lambda client, r: client.post("/portal/pay/", {"only": f"deposit:{r.deposit.pk}"}),
    "pay selected": lambda client, r: client.post("/portal/pay/", {"invoice": [r.invoice.pk]}),
    "pay selected deposit": lambda client, r: client.post("/portal/pay/", {"deposit": [r.deposit.pk]}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("owner_fixture", ["neighbour", "stranger"])
@pytest.mark.parametrize("what", list(REQUESTS))
def test_another_customers_record_answers_404_and_is_logged(request, client, customer, clerk, caplog, what,
                                                            owner_fixture):
    owner = request.getfixturevalue(owner_fixture)  # same organisation, then another organisation
    records = records_of(owner, clerk if owner_fixture == "neighbour" else None)
    sign_in_as(client, customer)

    with caplog.at_level(logging.WARNING, logger="encaisse.portal"):
        response = REQUESTS[what](client, records)

    assert response.status_code == 404
    warnings = [r for r in caplog.records if r.name == "encaisse.portal" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"customer {customer.pk} " in warnings[0].getMessage()
    assert "/portal/" in warnings[0].getMessage()
    assert owner.name not in warnings[0].getMessage()
    assert owner.email not in warnings[0].getMessage()


@pytest.mark.django_db
def test_the_same_addresses_work_for_the_owner(client, customer, clerk):
    records = records_of(customer, clerk)
    sign_in_as(client, customer)

    for what, call in REQUESTS.items():
        assert call(client, records).status_code in (200, 302), what


@pytest.mark.django_db
def test_a_draft_invoice_of_the_viewer_is_not_shown_either(client, org, customer):
    from encaisse.invoicing.tests.factories import draft_invoice

    draft = draft_invoice(org, customer)
    sign_in_as(client, customer)

    assert client.get(f"/portal/invoices/{draft.pk}/").status_code == 404


@pytest.mark.django_db
def test_an_id_that_is_not_a_number_in_a_payment_request_answers_404(client, customer, caplog):
    sign_in_as(client, customer)

    with caplog.at_level(logging.WARNING, logger="encaisse.portal"):
        responses = [client.post("/portal/pay/", {"invoice": ["abc"]}),
                     client.post("/portal/pay/", {"only": "payment:1"}),
                     client.get("/portal/payments/not-a-uuid/")]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert sum(r.name == "encaisse.portal" for r in caplog.records) == 3
