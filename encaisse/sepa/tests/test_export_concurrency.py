"""Two exports at once on PostgreSQL: every debit lands in exactly one file, booked once."""

import pytest

from encaisse.invoicing.selectors import amount_due
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Customer
from encaisse.sepa.export import export_direct_debits
from encaisse.sepa.models import DebitFile, DirectDebit
from encaisse.testing.concurrency import together

from .debit_fixtures import TODAY, make_mandate, schedule


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_exports_at_once_put_each_debit_in_one_file(org, clerk, creditor):
    debits = []
    for n in range(6):
        customer = Customer.objects.create(organisation=org, ref=f"C{n}", name=f"Client {n}",
                                           email=f"c{n}@example.org")
        debits.append(schedule(make_mandate(customer, f"UMR-{n}"), clerk))

    files = together(2, lambda _i: export_direct_debits(organisation=org, today=TODAY))

    written = [f for result in files for f in result]
    assert len(written) == 1
    assert DebitFile.objects.count() == 1
    assert written[0].count == len(debits)
    assert set(DirectDebit.objects.values_list("status", flat=True)) == {DirectDebit.Status.EXPORTED}
    for debit in debits:
        assert amount_due(debit.invoice).minor == 0
    assert verify_ledger(org).ok
