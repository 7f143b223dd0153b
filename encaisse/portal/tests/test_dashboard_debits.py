"""The dashboard says when a direct debit is announced for an invoice to pay, so nobody pays it twice by hand."""

import pytest
from django.urls import reverse

from encaisse.ledger.models import Account
from encaisse.ledger.services import account_of_kind
from encaisse.portal.tests.helpers import sign_in_as
from encaisse.sepa.models import CreditorAccount
from encaisse.sepa.tests.debit_fixtures import CREDITOR_IBAN, ICS, make_mandate, schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def creditor(org, media_in_tmp):
    org.creditor_id = ICS
    org.save()
    return CreditorAccount.objects.create(organisation=org, name="Compte courant", iban=CREDITOR_IBAN,
                                          bic="BNPAFRPP", bank_account=account_of_kind(org, Account.Kind.BANK))


def test_an_invoice_with_a_debit_announced_shows_its_date_and_only_to_its_customer(
        client, customer, neighbour, creditor, clerk):
    debit = schedule(make_mandate(customer, "UMR-0001"), clerk)
    other = schedule(make_mandate(neighbour, "UMR-0002"), clerk, price="80.00")

    page = sign_in_as(client, customer).get(reverse("portal:home")).content.decode()

    assert debit.invoice.number in page
    assert f"Direct debit on {debit.collection_date:%B} {debit.collection_date.day}, {debit.collection_date.year}" \
        in page
    assert other.invoice.number not in page
    assert page.count("Direct debit on") == 1


def test_no_debit_announced_no_mention(client, customer, invoice):
    page = sign_in_as(client, customer).get(reverse("portal:home")).content.decode()

    assert invoice.number in page
    assert "Direct debit on" not in page
