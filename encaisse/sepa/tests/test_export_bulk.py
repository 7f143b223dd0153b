"""Exporting many debits at once: each debit gets its own payment line and lettering, whatever its neighbours."""

from datetime import date

from encaisse.core.models import AuditEvent
from encaisse.core.money import Money
from encaisse.invoicing.selectors import amount_due
from encaisse.ledger.models import EntryLine, Settlement
from encaisse.ledger.services import account_of_kind, journal_of_kind
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Customer
from encaisse.payments.services import book_receipt
from encaisse.sepa.debits import change_mandate_account
from encaisse.sepa.export import export_direct_debits, export_settlement_key
from encaisse.sepa.models import DirectDebit, Mandate

from .debit_fixtures import DEBTOR_IBAN, OTHER_IBAN, TODAY, make_mandate, schedule


def test_a_mixed_file_letters_each_debit_with_its_own_line(org, clerk, creditor):
    mandates = []
    for n in range(5):
        customer = Customer.objects.create(organisation=org, ref=f"C{n}", name=f"Client {n}",
                                           email=f"c{n}@example.org")
        mandates.append(make_mandate(customer, f"UMR-{n}"))
    prices = ["10.00", "20.00", "30.00", "40.00", "50.00", "60.00"]
    debits = [schedule(mandates[n % 5], clerk, price=price) for n, price in enumerate(prices)]  # C0 twice
    revoked, partly_paid, amended = debits[1], debits[2], debits[3]
    Mandate.objects.filter(pk=revoked.mandate_id).update(status=Mandate.Status.REVOKED)
    book_receipt(customer=partly_paid.customer, amount=Money.of("5.00", "EUR"),
                 money_account=account_of_kind(org, "bank"), journal=journal_of_kind(org, "bank"), on=TODAY,
                 label="Virement", key="transfer", line_ids=[partly_paid.line_id])
    change_mandate_account(mandate=amended.mandate, iban=OTHER_IBAN, by=clerk)
    events_before = AuditEvent.objects.filter(verb="debit_file_exported").count()

    [debit_file] = export_direct_debits(organisation=org, today=TODAY, by=clerk)

    for debit in debits:
        debit.refresh_from_db()
    assert revoked.status == DirectDebit.Status.CANCELLED
    exported = [d for d in debits if d is not revoked]
    assert [d.amount_minor for d in exported] == [1200, 3100, 4800, 6000, 7200]  # 20 % VAT; 5.00 paid on one
    assert (debit_file.count, debit_file.control_sum_minor) == (5, sum(d.amount_minor for d in exported))
    for debit in exported:
        assert (debit.status, debit.file_id, debit.collection_date) == (
            DirectDebit.Status.EXPORTED, debit_file.pk, date(2026, 3, 16))
        line = EntryLine.objects.get(pk=debit.payment_line_id)
        assert (line.entry_id, line.party_id, line.credit_minor) == (
            debit_file.entry_id, debit.customer_id, debit.amount_minor)
        assert debit.end_to_end_id in line.label
        settlement = Settlement.objects.get(idempotency_key=export_settlement_key(debit.pk))
        assert (settlement.debit_line_id, settlement.credit_line_id, settlement.amount_minor) == (
            debit.line_id, line.pk, debit.amount_minor)
        assert settlement.created_by == clerk
        assert amount_due(debit.invoice).minor == 0
        assert debit.mandate.last_used_on == date(2026, 3, 16)
    assert amended.amendment == {"original_iban": DEBTOR_IBAN}
    assert [d.amendment for d in exported if d is not amended] == [{}] * 4
    amended.mandate.refresh_from_db()
    assert amended.mandate.original_iban == ""
    revoked.mandate.refresh_from_db()
    assert revoked.mandate.last_used_on is None
    assert AuditEvent.objects.filter(verb="debit_file_exported").count() == events_before + 1
    assert verify_ledger(org).ok


def test_an_amendment_withdrawn_since_scheduling_is_not_sent_nor_kept(org, clerk, mandate):
    debit = schedule(mandate, clerk)
    # Recorded at scheduling, the mandate's amendment has since been told to the bank by another file.
    DirectDebit.objects.filter(pk=debit.pk).update(amendment={"original_iban": OTHER_IBAN})

    export_direct_debits(organisation=org, today=TODAY)

    debit.refresh_from_db()
    assert (debit.status, debit.amendment) == (DirectDebit.Status.EXPORTED, {})
