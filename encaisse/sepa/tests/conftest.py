"""Fixtures of the direct-debit tests: a creditor ready to collect and a customer's mandate."""

from typing import Any

import pytest

from encaisse.ledger.models import Account
from encaisse.ledger.services import account_of_kind
from encaisse.parties.models import Customer
from encaisse.sepa.models import CreditorAccount, Mandate

from .debit_fixtures import CREDITOR_IBAN, ICS, make_mandate


@pytest.fixture
def creditor(org: Any, media_in_tmp: Any) -> CreditorAccount:
    org.creditor_id = ICS
    org.save()
    return CreditorAccount.objects.create(organisation=org, name="Compte courant", iban=CREDITOR_IBAN,
                                          bic="BNPAFRPP", bank_account=account_of_kind(org, Account.Kind.BANK))


@pytest.fixture
def mandate(customer: Customer, creditor: CreditorAccount) -> Mandate:
    return make_mandate(customer, "UMR-0001")
