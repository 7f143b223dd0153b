"""Direct debits from scheduling to the bank: pre-notification, the pain.008 file and its entry, settlement."""

from datetime import date
from pathlib import Path

import pytest
from django.db import IntegrityError
from lxml import etree

from encaisse.core.money import Money
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.ledger.models import Entry, EntryLine
from encaisse.ledger.services import account_of_kind, journal_of_kind
from encaisse.ledger.verify import verify_ledger
from encaisse.notifications.models import OutboxMessage
from encaisse.notifications.services import render_pending
from encaisse.parties.models import Customer
from encaisse.payments.services import book_receipt
from encaisse.sepa.debits import (
    DirectDebitRefused,
    MandateChangeRefused,
    change_mandate_account,
    lapse_mandates,
    schedule_direct_debit,
)
from encaisse.sepa.export import export_direct_debits, settle_direct_debits
from encaisse.sepa.models import DebitFile, DirectDebit, Mandate

from .debit_fixtures import DEBTOR_IBAN, OTHER_IBAN, TODAY, make_mandate, schedule

SHARED_XSD = Path(__file__).resolve().parents[4] / "shared" / "data" / "xsd"
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"}


def xml_of(debit_file: DebitFile) -> etree._Element:
    debit_file.content.open("rb")
    try:
        data = debit_file.content.read()
    finally:
        debit_file.content.close()
    root = etree.fromstring(data)
    xsd = SHARED_XSD / f"{debit_file.schema}.xsd"
    if not xsd.exists():  # the repository keeps its own copies of the same schemas
        xsd = Path(__file__).resolve().parents[1] / "xsd" / f"{debit_file.schema}.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(root), schema.error_log
    return root


def balance(org, code: str) -> int:
    lines = EntryLine.objects.filter(organisation=org, account__code=code)
    return sum(line.debit_minor - line.credit_minor for line in lines)


# --- scheduling ------------------------------------------------------------------------------------------------

def test_scheduling_prenotifies_the_customer_and_dates_the_collection(mandate, clerk):
    debit = schedule(mandate, clerk)

    assert debit.status == DirectDebit.Status.SCHEDULED
    assert debit.sequence_type == "FRST"
    assert debit.amount.as_json() == "60.00"
    # Pre-notified today (2 March): 14 days later is 16 March, a Monday and a TARGET day.
    assert debit.collection_date == date(2026, 3, 16)
    assert debit.prenotified_at is not None
    assert len(debit.end_to_end_id) <= 35
    message = render_pending(OutboxMessage.objects.get(template_code="direct_debit_prenotification"))  # at sending
    assert "UMR-0001" in message.body_text
    assert "FR72ZZZ123456" in message.body_text
    assert "60,00" in message.body_text
    assert debit.invoice.number in message.body_text
    assert "Pressing du Centre" in message.body_text


def test_the_same_key_gives_the_same_debit_and_one_email(mandate, clerk, org, customer):
    invoice = posted_invoice(org, customer, clerk)
    first = schedule(mandate, clerk, invoice=invoice, key="collection:1:try:1")
    again = schedule(mandate, clerk, invoice=invoice, key="collection:1:try:1")

    assert again.pk == first.pk
    assert OutboxMessage.objects.filter(template_code="direct_debit_prenotification").count() == 1


def test_a_second_debit_in_flight_for_the_same_line_is_refused_by_the_database(mandate, clerk, org, customer):
    invoice = posted_invoice(org, customer, clerk)
    schedule(mandate, clerk, invoice=invoice, key="a")

    with pytest.raises(IntegrityError):
        schedule(mandate, clerk, invoice=invoice, key="b")


@pytest.mark.parametrize("problem", ["revoked", "no_ics", "no_account", "dollars", "no_email"])
def test_scheduling_refused_writes_nothing(mandate, clerk, org, customer, creditor, problem):
    invoice = posted_invoice(org, customer, clerk)
    amount = invoice.total
    if problem == "revoked":
        Mandate.objects.filter(pk=mandate.pk).update(status=Mandate.Status.REVOKED)
        mandate.refresh_from_db()
    elif problem == "no_ics":
        org.creditor_id = ""
        org.save()
    elif problem == "no_account":
        creditor.active = False
        creditor.save()
    elif problem == "dollars":
        amount = Money(6000, "USD")
    else:
        Customer.objects.filter(pk=customer.pk).update(email="")
        mandate.customer.refresh_from_db()

    with pytest.raises(DirectDebitRefused):
        schedule_direct_debit(mandate=mandate, invoice=invoice, line=invoice.receivable_line, amount=amount,
                              due_on=TODAY, today=TODAY, prenotification_days=14, key="k")
    assert not DirectDebit.objects.exists()
    assert not OutboxMessage.objects.filter(template_code="direct_debit_prenotification").exists()


def test_the_collection_date_skips_target_holidays(mandate, clerk):
    # Sent on 11 December 2026, pre-notified for 14 days: 25 December, then Saturday, Sunday → Monday 28th.
    debit = schedule(mandate, clerk, today=date(2026, 12, 11))

    assert debit.collection_date == date(2026, 12, 28)


# --- export ----------------------------------------------------------------------------------------------------

def test_export_writes_a_valid_file_books_it_and_the_invoice_shows_nothing_due(mandate, clerk, org):
    debit = schedule(mandate, clerk)
    invoice = debit.invoice

    files = export_direct_debits(organisation=org, today=TODAY, by=clerk)

    assert len(files) == 1
    debit_file = files[0]
    root = xml_of(debit_file)
    assert root.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS) == debit_file.message_id
    assert root.findtext(".//p:EndToEndId", namespaces=NS) == debit.end_to_end_id
    assert root.findtext(".//p:SeqTp", namespaces=NS) == "FRST"
    assert root.findtext(".//p:ReqdColltnDt", namespaces=NS) == "2026-03-16"
    assert root.findtext(".//p:CdtrSchmeId/p:Id/p:PrvtId/p:Othr/p:Id", namespaces=NS) == "FR72ZZZ123456"
    assert (debit_file.count, debit_file.control_sum.as_json()) == (1, "60.00")
    debit.refresh_from_db()
    assert debit.status == DirectDebit.Status.EXPORTED
    assert debit.file == debit_file
    assert debit.payment_line.entry_id == debit_file.entry_id
    assert amount_due(invoice).minor == 0
    assert balance(org, "5113") == 6000
    assert verify_ledger(org).ok
    mandate.refresh_from_db()
    assert mandate.last_used_on == date(2026, 3, 16)
    # Nothing left to export: a second run writes no file.
    assert export_direct_debits(organisation=org, today=TODAY) == []


def test_files_are_split_by_collection_date_and_filtered_on_request(mandate, clerk, org, customer):
    schedule(mandate, clerk)
    schedule(mandate, clerk, today=date(2026, 3, 10))

    files = export_direct_debits(organisation=org, today=TODAY, collection_date=date(2026, 3, 24))

    assert [(f.collection_date, f.count) for f in files] == [(date(2026, 3, 24), 1)]
    rest = export_direct_debits(organisation=org, today=TODAY)
    assert [(f.collection_date, f.count) for f in rest] == [(date(2026, 3, 16), 1)]
    assert len({f.message_id for f in files + rest}) == 2


def test_first_then_recurring(mandate, clerk, org):
    schedule(mandate, clerk)
    export_direct_debits(organisation=org, today=TODAY)

    second = schedule(mandate, clerk)

    assert second.sequence_type == "RCUR"


def test_a_late_export_moves_the_collection_date_to_the_earliest_the_bank_accepts(mandate, clerk, org):
    debit = schedule(mandate, clerk)  # 16 March

    files = export_direct_debits(organisation=org, today=date(2026, 3, 20))  # a Friday

    assert files[0].collection_date == date(2026, 3, 23)
    debit.refresh_from_db()
    assert debit.collection_date == date(2026, 3, 23)


def test_a_debit_whose_mandate_was_revoked_meanwhile_is_cancelled(mandate, clerk, org):
    debit = schedule(mandate, clerk)
    Mandate.objects.filter(pk=mandate.pk).update(status=Mandate.Status.REVOKED)

    assert export_direct_debits(organisation=org, today=TODAY) == []
    debit.refresh_from_db()
    assert debit.status == DirectDebit.Status.CANCELLED
    assert not Entry.objects.filter(idempotency_key__startswith="sepa:").exists()


@pytest.mark.parametrize(("paid", "collected"), [("60.00", None), ("20.00", "40.00")])
def test_a_debit_paid_meanwhile_collects_only_what_is_left(mandate, clerk, org, customer, paid, collected):
    debit = schedule(mandate, clerk)
    book_receipt(customer=customer, amount=Money.of(paid, "EUR"), money_account=account_of_kind(org, "bank"),
                 journal=journal_of_kind(org, "bank"), on=TODAY, label="Virement", key="transfer",
                 line_ids=[debit.line_id])

    files = export_direct_debits(organisation=org, today=TODAY)

    debit.refresh_from_db()
    if collected is None:
        assert files == []
        assert debit.status == DirectDebit.Status.CANCELLED
    else:
        assert files[0].control_sum.as_json() == collected
        assert debit.amount.as_json() == collected
        assert amount_due(debit.invoice).minor == 0
    assert verify_ledger(org).ok


def test_an_iban_change_is_sent_as_an_amendment_then_cleared(mandate, clerk, org):
    change_mandate_account(mandate=mandate, iban=OTHER_IBAN, by=clerk)
    change_mandate_account(mandate=mandate, iban="FR1420041010050500013M02606", by=clerk)
    mandate.refresh_from_db()
    assert mandate.original_iban == DEBTOR_IBAN  # the account the debtor's bank knows
    schedule(mandate, clerk)

    debit_file = export_direct_debits(organisation=org, today=TODAY)[0]

    root = xml_of(debit_file)
    assert root.findtext(".//p:AmdmntInd", namespaces=NS) == "true"
    assert root.findtext(".//p:OrgnlDbtrAcct/p:Id/p:IBAN", namespaces=NS) == DEBTOR_IBAN
    assert root.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == "FR1420041010050500013M02606"
    mandate.refresh_from_db()
    assert (mandate.original_iban, mandate.original_reference) == ("", "")
    schedule(mandate, clerk)
    second = export_direct_debits(organisation=org, today=TODAY)[0]
    assert xml_of(second).findtext(".//p:AmdmntInd", namespaces=NS) is None


def test_an_invalid_new_iban_is_refused_masked(mandate):
    with pytest.raises(MandateChangeRefused) as refused:
        change_mandate_account(mandate=mandate, iban="FR7630006000011234567890100")

    assert "0100" in str(refused.value)
    assert "300060000112345" not in str(refused.value)
    mandate.refresh_from_db()
    assert (mandate.iban, mandate.original_iban) == (DEBTOR_IBAN, "")


# --- settlement ------------------------------------------------------------------------------------------------

def test_settlement_on_the_collection_date_moves_the_money_to_the_bank_once(mandate, clerk, org):
    debit = schedule(mandate, clerk)
    debit_file = export_direct_debits(organisation=org, today=TODAY)[0]

    assert settle_direct_debits(today=date(2026, 3, 13)) == 0
    assert settle_direct_debits(today=date(2026, 3, 16)) == 1
    assert settle_direct_debits(today=date(2026, 3, 17)) == 0

    debit.refresh_from_db()
    debit_file.refresh_from_db()
    assert debit.status == DirectDebit.Status.SETTLED
    assert debit_file.status == DebitFile.Status.SETTLED
    assert debit_file.settlement_entry is not None
    assert (balance(org, "5113"), balance(org, "512")) == (0, 6000)
    assert verify_ledger(org).ok


# --- mandates lapse ------------------------------------------------------------------------------------------

def test_mandates_unused_for_36_months_lapse(customer, creditor, clerk):
    old = make_mandate(customer, "OLD", signed_on=date(2023, 1, 10))
    used = make_mandate(customer, "USED", signed_on=date(2022, 1, 10), last_used_on=date(2023, 2, 27))
    recent = make_mandate(customer, "RECENT", signed_on=date(2022, 1, 10), last_used_on=date(2024, 1, 1))

    assert lapse_mandates(today=date(2026, 3, 2)) == 2

    statuses = {m.reference: m.status for m in Mandate.objects.filter(pk__in=[old.pk, used.pk, recent.pk])}
    assert statuses == {"OLD": "lapsed", "USED": "lapsed", "RECENT": "active"}
    assert lapse_mandates(today=date(2026, 3, 2)) == 0
