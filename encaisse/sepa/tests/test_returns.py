"""The bank's answers read back: each reject, return or refund reverses its payment once and reopens the invoice."""

from datetime import date

import pytest

from encaisse.core.errors import DomainError
from encaisse.invoicing.selectors import amount_due
from encaisse.ledger.models import Entry, EntryLine
from encaisse.ledger.verify import verify_ledger
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer, Organisation
from encaisse.sepa.export import export_direct_debits, settle_direct_debits
from encaisse.sepa.models import BankFile, DebitFile, DirectDebit, Mandate, RTransaction
from encaisse.sepa.returns import import_bank_file

from .bank_answers import camt054, pain002
from .debit_fixtures import TODAY, make_mandate, schedule


def balance(org, code: str) -> int:
    return sum(line.debit_minor - line.credit_minor
               for line in EntryLine.objects.filter(organisation=org, account__code=code))


@pytest.fixture
def exported(mandate, clerk, org):
    """One debit of 60.00 in an exported file (collection date 16 March 2026)."""
    debit = schedule(mandate, clerk)
    debit_file = export_direct_debits(organisation=org, today=TODAY)[0]
    debit.refresh_from_db()
    return debit, debit_file


def reject(debit, debit_file, code: str, **extra) -> bytes:
    pmtinf = next(iter(debit_file.payment_info_ids.values()))
    return pain002(debit_file.message_id, pmtinf, [(debit.end_to_end_id, code, "60.00")], **extra)


def test_a_reject_for_insufficient_funds_reopens_the_invoice_and_keeps_the_mandate(exported, org, mandate):
    debit, debit_file = exported
    assert amount_due(debit.invoice).minor == 0

    report = import_bank_file(organisation=org, data=reject(debit, debit_file, "AM04"), name="sts.xml")

    assert not report.already_imported
    assert [r.reason_code for r in report.applied] == ["AM04"]
    rtx = report.applied[0]
    assert (rtx.kind, rtx.amount_minor, rtx.fee_minor) == (RTransaction.Kind.REJECT, 6000, 0)
    debit.refresh_from_db()
    assert (debit.status, debit.reason_code) == (DirectDebit.Status.REJECTED, "AM04")
    assert amount_due(debit.invoice).minor == 6000
    assert balance(org, "5113") == 0  # rejected before settlement: never reached the bank account
    assert balance(org, "512") == 0
    mandate.refresh_from_db()
    assert mandate.status == Mandate.Status.ACTIVE
    assert verify_ledger(org).ok
    email = OutboxMessage.objects.get(template_code="direct_debit_returned")
    assert "AM04" in email.body_text
    assert debit.invoice.number in email.body_text


@pytest.mark.parametrize("code", ["AC04", "MD01", "MD07"])
def test_a_reject_saying_the_mandate_is_unusable_revokes_it(exported, org, mandate, code):
    debit, debit_file = exported

    import_bank_file(organisation=org, data=reject(debit, debit_file, code))

    mandate.refresh_from_db()
    assert mandate.status == Mandate.Status.REVOKED
    assert code in mandate.revoked_reason


def test_a_return_after_settlement_with_a_fee_books_the_fee(exported, org):
    debit, _file = exported
    settle_direct_debits(today=date(2026, 3, 16))

    report = import_bank_file(organisation=org, data=camt054([(debit.end_to_end_id, "60.00", "AM04", "3.00")]))

    rtx = report.applied[0]
    assert (rtx.kind, rtx.fee_minor) == (RTransaction.Kind.RETURN, 300)
    assert rtx.fee_entry is not None
    assert balance(org, "627") == 300
    assert balance(org, "512") == 6000 - 6000 - 300
    debit.refresh_from_db()
    assert debit.status == DirectDebit.Status.RETURNED
    assert amount_due(debit.invoice).minor == 6000
    assert verify_ledger(org).ok


def test_a_refund_md06_keeps_the_mandate(exported, org, mandate):
    debit, _file = exported
    settle_direct_debits(today=date(2026, 3, 16))

    report = import_bank_file(organisation=org, data=camt054([(debit.end_to_end_id, "60.00", "MD06", "")]))

    assert report.applied[0].kind == RTransaction.Kind.REFUND
    debit.refresh_from_db()
    assert debit.status == DirectDebit.Status.REFUNDED
    mandate.refresh_from_db()
    assert mandate.status == Mandate.Status.ACTIVE
    assert amount_due(debit.invoice).minor == 6000


def test_the_same_file_twice_changes_nothing(exported, org):
    debit, debit_file = exported
    data = reject(debit, debit_file, "AM04")
    import_bank_file(organisation=org, data=data)
    entries = Entry.objects.count()

    again = import_bank_file(organisation=org, data=data)

    assert again.already_imported
    assert again.applied == []
    assert Entry.objects.count() == entries
    assert BankFile.objects.count() == 1


def test_a_reject_then_the_same_in_a_camt054_is_applied_once(exported, org):
    debit, debit_file = exported
    import_bank_file(organisation=org, data=reject(debit, debit_file, "AM04"))

    report = import_bank_file(organisation=org, data=camt054([(debit.end_to_end_id, "60.00", "AM04", "")]))

    assert report.applied == []
    assert report.already_known == [debit.end_to_end_id]
    assert RTransaction.objects.count() == 1
    assert amount_due(debit.invoice).minor == 6000
    assert verify_ledger(org).ok


def test_a_file_matching_nothing_is_reported_and_kept(exported, org):
    report = import_bank_file(organisation=org, data=camt054([("NOT-OURS-1", "12.00", "AC04", "")]))

    assert report.applied == []
    assert [(u["end_to_end_id"], u["why"]) for u in report.unmatched] == [("NOT-OURS-1", "unknown")]
    kept = BankFile.objects.get()
    assert kept.report["unmatched"][0]["why"] == "unknown"


def test_an_amount_that_differs_is_not_applied(exported, org):
    debit, _file = exported

    report = import_bank_file(organisation=org, data=camt054([(debit.end_to_end_id, "59.00", "AM04", "")]))

    assert [u["why"] for u in report.unmatched] == ["amount_differs"]
    assert not RTransaction.objects.exists()


def test_a_malformed_file_is_refused_and_nothing_is_written(org):
    with pytest.raises(DomainError) as refused:
        import_bank_file(organisation=org, data=b"<Document><oops></Document>")

    assert "cannot be read" in str(refused.value)
    assert not BankFile.objects.exists()


def test_another_organisations_debit_is_not_matched(exported):
    debit, _file = exported
    other = Organisation.objects.create(name="Autre", slug="autre")

    report = import_bank_file(organisation=other, data=camt054([(debit.end_to_end_id, "60.00", "AC04", "")]))

    assert [u["why"] for u in report.unmatched] == ["other_organisation"]
    debit.refresh_from_db()
    assert debit.status == DirectDebit.Status.EXPORTED


def test_a_whole_batch_reject_covers_every_debit_of_the_batch(mandate, clerk, org, customer):
    other = make_mandate(Customer.objects.create(organisation=org, ref="C2", name="Paul", email="paul@example.org"),
                         "UMR-0002")
    first, second = schedule(mandate, clerk), schedule(other, clerk)
    debit_file = export_direct_debits(organisation=org, today=TODAY)[0]
    pmtinf = next(iter(debit_file.payment_info_ids.values()))

    report = import_bank_file(organisation=org, data=pain002(debit_file.message_id, pmtinf, batch_reason="AG02"))

    assert sorted(r.direct_debit_id for r in report.applied) == sorted([first.pk, second.pk])
    assert {r.reason_code for r in report.applied} == {"AG02"}
    assert verify_ledger(org).ok


def test_a_whole_file_reject_covers_every_debit_of_the_file(exported, org):
    debit, debit_file = exported

    report = import_bank_file(organisation=org, data=pain002(debit_file.message_id, "", group_reason="FF01"))

    assert [r.direct_debit_id for r in report.applied] == [debit.pk]
    debit_file.refresh_from_db()
    settle_direct_debits(today=date(2026, 3, 16))
    debit_file.refresh_from_db()
    assert debit_file.status == DebitFile.Status.REJECTED
    assert balance(org, "512") == 0


def test_a_credit_in_a_camt054_settles_the_file_early(exported, org):
    debit, _debit_file = exported

    report = import_bank_file(organisation=org, data=camt054([(debit.end_to_end_id, "60.00", "CRDT", "")]))

    assert report.settled == [debit.end_to_end_id]
    debit.refresh_from_db()
    assert debit.status == DirectDebit.Status.SETTLED
    assert balance(org, "512") == 6000
