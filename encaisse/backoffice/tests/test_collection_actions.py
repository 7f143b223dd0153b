"""Staff act on automatic collection from the back office: run it, export the files, import the bank's answers,
change a mandate's IBAN — through the real services; a refusal is shown and changes nothing."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from encaisse.collection.models import Collection, CollectionRun, Outcome, RunItem
from encaisse.collection.tests.helpers import card_customer, due, eur, invoice_for
from encaisse.core.money import Money
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.ledger.models import Account
from encaisse.ledger.services import account_of_kind
from encaisse.payments.models import AttemptKind, PaymentAttempt, SandboxPayment
from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account
from encaisse.sepa.debits import schedule_direct_debit
from encaisse.sepa.models import CreditorAccount, DebitFile, Mandate

IBAN = "FR7630006000011234567890189"
NEW_IBAN = "FR1420041010050500013M02606"


@pytest.mark.django_db
def test_a_dry_run_lists_what_would_be_done_and_charges_nothing(staff, org, clerk):
    customer = card_customer(org, clerk, sandbox_account(org))
    invoice = invoice_for(org, customer, clerk)
    charges = SandboxPayment.objects.count()

    response = staff.post(reverse("staff:collection_run"), {
        "organisation": org.pk, "on": invoice.due_on.isoformat(), "dry_run": "on"})

    assert response.status_code == 200
    page = response.content.decode()
    assert invoice.display_name in page
    assert "Charged" in page
    assert not CollectionRun.objects.exists()
    assert SandboxPayment.objects.count() == charges
    assert due(invoice) == eur("60.00")


@pytest.mark.django_db
def test_a_confirmed_run_collects_and_opens_the_runs_page(staff, org, clerk):
    customer = card_customer(org, clerk, sandbox_account(org))
    invoice = invoice_for(org, customer, clerk)

    response = staff.post(reverse("staff:collection_run"), {
        "organisation": org.pk, "on": invoice.due_on.isoformat(), "confirm": "on"})

    run = CollectionRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:collection_collectionrun_change", args=[run.pk])
    assert (run.trigger, run.started_by, run.dry_run) == ("backoffice", clerk, False)
    assert RunItem.objects.get(run=run).outcome == Outcome.CHARGED
    assert due(invoice) == eur("0.00")
    assert invoice.display_name in staff.get(response["Location"]).content.decode()


@pytest.fixture
def scheduled(org, customer, clerk):
    """A direct debit scheduled today for a posted invoice, from the customer's mandate."""
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    CreditorAccount.objects.create(organisation=org, name="Compte principal", iban=IBAN, bic="BNPAFRPP",
                                   bank_account=account_of_kind(org, Account.Kind.BANK))
    mandate = Mandate.objects.create(organisation=org, customer=customer, reference="UMR-PRESS-1", iban=NEW_IBAN,
                                     signed_on=timezone.localdate())
    invoice = posted_invoice(org, customer, clerk)
    today = timezone.localdate()
    return schedule_direct_debit(mandate=mandate, invoice=invoice, line=invoice.receivable_line,
                                 amount=Money.of("60.00", "EUR"), due_on=today, today=today,
                                 prenotification_days=14, key="backoffice-test:1", by=clerk)


@pytest.mark.django_db
def test_export_writes_the_files_and_lists_them_to_download(staff, org, scheduled, media_in_tmp):
    refused = staff.post(reverse("staff:debits_export"), {"organisation": org.pk})
    assert "I confirm" in refused.content.decode()
    assert not DebitFile.objects.exists()

    response = staff.post(reverse("staff:debits_export"), {"organisation": org.pk, "confirm": "on"})

    assert response.status_code == 200
    debit_file = DebitFile.objects.get()
    page = response.content.decode()
    assert debit_file.message_id in page
    download = reverse("staff:debit_file_download", args=[debit_file.pk])
    assert download in page
    xml = b"".join(staff.get(download).streaming_content)
    assert scheduled.end_to_end_id.encode() in xml


@pytest.mark.django_db
def test_export_without_creditor_identifier_says_so_and_writes_nothing(staff, org, scheduled, media_in_tmp):
    org.creditor_id = ""
    org.save()

    response = staff.post(reverse("staff:debits_export"), {"organisation": org.pk, "confirm": "on"})

    assert "no SEPA creditor identifier" in response.content.decode()
    assert not DebitFile.objects.exists()


@pytest.mark.django_db
def test_changing_the_iban_of_a_mandate_is_an_amendment_and_a_bad_iban_changes_nothing(staff, org, customer):
    mandate = Mandate.objects.create(organisation=org, customer=customer, reference="UMR-1", iban=IBAN,
                                     signed_on=timezone.localdate())
    url = reverse("staff:mandate_change_account", args=[mandate.pk])

    refused = staff.post(url, {"iban": "FR76 3000 6000 0112 3456 7890 188", "bic": ""})
    assert refused.status_code == 200
    assert "is not a valid IBAN" in refused.content.decode()
    assert Mandate.objects.get(pk=mandate.pk).iban == IBAN

    response = staff.post(url, {"iban": "fr14 2004 1010 0505 0001 3m02 606", "bic": ""})
    assert response.status_code == 302
    changed = Mandate.objects.get(pk=mandate.pk)
    assert (changed.iban, changed.original_iban) == (NEW_IBAN, IBAN)


@pytest.mark.django_db
def test_the_invoice_and_collection_pages_list_the_card_charge_of_the_collection_only(staff, org, clerk):
    customer = card_customer(org, clerk, sandbox_account(org))
    invoice = invoice_for(org, customer, clerk)
    staff.post(reverse("staff:collection_run"), {
        "organisation": org.pk, "on": invoice.due_on.isoformat(), "confirm": "on"})
    charge = PaymentAttempt.objects.get(kind=AttemptKind.CHARGE)
    earlier_sale = PaymentAttempt.objects.exclude(pk=charge.pk).get()  # how the card was kept: not this invoice's

    for page in (staff.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk])),
                 staff.get(reverse("admin:collection_collection_change", args=[Collection.objects.get().pk]))):
        attempts = re.search(r'id="card-attempts".*?</table>', page.content.decode(), re.S).group(0)
        assert reverse("admin:payments_paymentattempt_change", args=[charge.pk]) in attempts
        assert reverse("admin:payments_paymentattempt_change", args=[earlier_sale.pk]) not in attempts
