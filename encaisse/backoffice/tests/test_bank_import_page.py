"""The bank's answers uploaded from the back office: the report shown, a bad file refused with nothing kept."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from encaisse.collection.models import Collection, Method
from encaisse.invoicing.selectors import amount_due
from encaisse.ledger.models import Account
from encaisse.ledger.services import account_of_kind
from encaisse.notifications.models import OutboxMessage
from encaisse.sepa.export import export_direct_debits
from encaisse.sepa.models import BankFile, CreditorAccount, DirectDebit, RTransaction
from encaisse.sepa.tests.bank_answers import pain002
from encaisse.sepa.tests.debit_fixtures import CREDITOR_IBAN, ICS, TODAY, make_mandate, schedule

DATA = Path(__file__).resolve().parents[2] / "sepa" / "tests" / "data"


def upload(staff, org, name: str, data: bytes):
    return staff.post(reverse("staff:bank_import"), {"organisation": org.pk,
                                                     "file": SimpleUploadedFile(name, data, "application/xml")})


@pytest.mark.django_db
def test_a_malformed_bank_file_is_refused_with_its_reason_and_nothing_is_kept(staff, org, media_in_tmp):
    response = upload(staff, org, "garbage.xml", b"<Document><not-closed>")

    assert response.status_code == 200
    assert "This bank file cannot be read" in response.content.decode()
    assert not BankFile.objects.exists()


@pytest.mark.django_db
def test_a_bank_file_matching_nothing_is_reported_and_the_same_file_again_changes_nothing(staff, org,
                                                                                        media_in_tmp):
    data = (DATA / "pain.002.001.03-rejects.xml").read_bytes()

    first = upload(staff, org, "rejects.xml", data).content.decode()
    assert "E2E-0001" in first  # unmatched: no direct debit of ours
    assert BankFile.objects.count() == 1

    again = upload(staff, org, "rejects.xml", data).content.decode()
    assert "already imported" in again
    assert BankFile.objects.count() == 1


@pytest.fixture
def exported(org, customer, clerk, media_in_tmp):
    """One direct debit of 60.00 for a collection, in an exported file."""
    org.creditor_id = ICS
    org.save()
    CreditorAccount.objects.create(organisation=org, name="Compte courant", iban=CREDITOR_IBAN, bic="BNPAFRPP",
                                   bank_account=account_of_kind(org, Account.Kind.BANK))
    debit = schedule(make_mandate(customer, "UMR-0001"), clerk)
    Collection.objects.create(organisation=org, invoice=debit.invoice, line=debit.line, customer=customer,
                              method=Method.DIRECT_DEBIT, tries=1, direct_debit=debit)
    debit_file = export_direct_debits(organisation=org, today=TODAY)[0]
    debit.refresh_from_db()
    return debit, debit_file


@pytest.mark.django_db
def test_a_reject_is_applied_shown_with_its_meaning_and_handed_to_the_collection_once(staff, org, clerk,
                                                                                     exported):
    debit, debit_file = exported
    pmtinf = next(iter(debit_file.payment_info_ids.values()))
    data = pain002(debit_file.message_id, pmtinf, [(debit.end_to_end_id, "AM04", "60.00")])

    page = upload(staff, org, "sts.xml", data).content.decode()

    assert "AM04 – Insufficient funds" in page
    assert debit.end_to_end_id in page
    assert amount_due(debit.invoice).minor == 6000  # owed again
    collection = Collection.objects.get(invoice=debit.invoice)
    assert collection.direct_debit.represents == debit  # the policy re-presents insufficient funds once
    assert collection.direct_debit.created_by == clerk
    email = OutboxMessage.objects.get(template_code="direct_debit_returned")
    assert "/pay/" in email.body_text  # the customer can pay the invoice online instead

    again = upload(staff, org, "sts.xml", data).content.decode()
    assert "already imported" in again
    assert RTransaction.objects.count() == 1
    assert DirectDebit.objects.filter(represents=debit).count() == 1
