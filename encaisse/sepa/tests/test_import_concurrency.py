"""Two imports of the same bank file at once on PostgreSQL: each R-transaction is applied once, nothing fails."""

import pytest

from encaisse.invoicing.selectors import amount_due
from encaisse.ledger.models import Entry
from encaisse.ledger.verify import verify_ledger
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer
from encaisse.sepa.export import export_direct_debits
from encaisse.sepa.models import BankFile, DirectDebit, RTransaction
from encaisse.sepa.returns import import_bank_file
from encaisse.testing.concurrency import together

from .bank_answers import pain002
from .debit_fixtures import TODAY, make_mandate, schedule


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_applies_each_reject_once(org, clerk, creditor):
    debits = []
    for n in range(6):
        customer = Customer.objects.create(organisation=org, ref=f"C{n}", name=f"Client {n}",
                                           email=f"c{n}@example.org")
        debits.append(schedule(make_mandate(customer, f"UMR-{n}"), clerk))
    debit_file = export_direct_debits(organisation=org, today=TODAY)[0]
    pmtinf = next(iter(debit_file.payment_info_ids.values()))
    rejects = [(d.end_to_end_id, "AM04", str(d.amount.to_decimal())) for d in debits]
    data = pain002(debit_file.message_id, pmtinf, rejects)
    entries = Entry.objects.count()

    reports = together(2, lambda _i: import_bank_file(organisation=org, data=data, name="sts.xml"))

    applied = [r.direct_debit_id for report in reports for r in report.applied]
    assert sorted(applied) == sorted(d.pk for d in debits)  # each reject in exactly one of the two reports
    assert sorted(report.already_imported for report in reports) == [False, True]
    assert RTransaction.objects.count() == len(debits)
    assert Entry.objects.count() == entries + len(debits)  # one reversing entry per debit
    assert OutboxMessage.objects.filter(template_code="direct_debit_returned").count() == len(debits)
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {DirectDebit.Status.REJECTED}
    for debit in debits:
        assert amount_due(debit.invoice) == debit.amount
    kept = BankFile.objects.get()
    assert len(kept.report["applied"]) == len(debits)  # the file's report names every reject it brought
    assert verify_ledger(org).ok
