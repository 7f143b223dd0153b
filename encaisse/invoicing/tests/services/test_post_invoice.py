from concurrent.futures import ThreadPoolExecutor
from datetime import date
from threading import Barrier

import pytest
from django.db import connection

from encaisse.core.errors import ImmutableRecord
from encaisse.core.money import Money
from encaisse.invoicing.errors import InvoiceNotPostable
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due, display_status
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.errors import PeriodClosed
from encaisse.ledger.models import Entry
from encaisse.ledger.services import close_period

MARCH_1 = date(2026, 3, 1)


@pytest.mark.django_db
def test_posting_puts_the_total_with_vat_on_the_customer_account(org, customer, clerk):
    # 3 × 4.50 = 13.50 and 1 × 0.99: nets 14.49, VAT 20 % on the sum = 2.898 → 2.90. Total 17.39.
    invoice = draft_invoice(org, customer, ("Chemise", "3", "4.50"), ("Cintre", "1", "0.99"),
                            status=Invoice.Status.VALIDATED)

    posted = post_invoice(invoice_id=invoice.pk, by=clerk, today=MARCH_1)

    assert posted.status == Invoice.Status.POSTED
    assert posted.number == "F-2026-00001"
    assert posted.total == Money.of("17.39", "EUR")
    assert posted.vat == Money.of("2.90", "EUR")
    assert posted.due_on == date(2026, 3, 31)
    assert amount_due(posted) == Money.of("17.39", "EUR")
    assert posted.entry.debit_total() == posted.entry.credit_total() == 1739
    receivable = posted.entry.lines.get(account__code="411")
    assert (receivable.party, receivable.debit_minor, receivable.due_on) == (customer, 1739, date(2026, 3, 31))
    assert display_status(posted, today=MARCH_1) == "to_pay"
    assert display_status(posted, today=date(2026, 4, 1)) == "overdue"


@pytest.mark.django_db
def test_posting_a_posted_invoice_changes_nothing(org, customer, clerk):
    invoice = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    first = post_invoice(invoice_id=invoice.pk, by=clerk, today=MARCH_1)

    again = post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 3, 2))

    assert (again.number, again.issued_on) == (first.number, MARCH_1)
    assert Entry.objects.count() == 1


@pytest.mark.django_db
def test_a_draft_cannot_be_posted_and_nothing_is_written(org, customer, clerk):
    invoice = draft_invoice(org, customer)

    with pytest.raises(InvoiceNotPostable, match="cannot be posted while it is Draft"):
        post_invoice(invoice_id=invoice.pk, by=clerk)

    invoice.refresh_from_db()
    assert invoice.number is None
    assert Entry.objects.count() == 0


@pytest.mark.django_db
def test_a_closed_period_refuses_the_posting_and_the_number_is_given_back(org, customer, clerk):
    close_period(organisation=org, month=MARCH_1, by=clerk)
    invoice = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)

    with pytest.raises(PeriodClosed):
        post_invoice(invoice_id=invoice.pk, by=clerk, today=MARCH_1)

    later = post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 4, 2))
    assert later.number == "F-2026-00001"


@pytest.mark.django_db
def test_a_posted_invoice_refuses_every_edit(org, customer, clerk):
    invoice = post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk,
                           by=clerk, today=MARCH_1)
    fresh = Invoice.objects.get(pk=invoice.pk)
    fresh.notes = "changed"

    with pytest.raises(ImmutableRecord):
        fresh.save()
    with pytest.raises(ImmutableRecord):
        Invoice.objects.filter(pk=invoice.pk).update(total_minor=1)
    with pytest.raises(ImmutableRecord):
        fresh.lines.first().save()
    with pytest.raises(ImmutableRecord):
        invoice.entry.lines.first().delete()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_postgresql_triggers_refuse_raw_sql_updates_of_posted_rows(org, customer, clerk):
    from django.db import DatabaseError, transaction

    invoice = post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk,
                           by=clerk, today=MARCH_1)
    for sql in (
        f"UPDATE invoicing_invoice SET total_minor = 1 WHERE id = {invoice.pk}",
        f"UPDATE ledger_entryline SET debit_minor = 1 WHERE entry_id = {invoice.entry_id}",
        f"DELETE FROM ledger_entry WHERE id = {invoice.entry_id}",
    ):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_clerks_posting_at_once_get_one_entry_per_invoice_and_no_gap(org, customer, clerk):
    invoices = [draft_invoice(org, customer, status=Invoice.Status.VALIDATED) for _ in range(6)]
    ids = [i.pk for i in invoices] * 2  # every invoice asked twice, by two threads
    start_together = Barrier(len(ids))

    def post(invoice_id: int) -> str:
        start_together.wait()
        try:
            return post_invoice(invoice_id=invoice_id, by=clerk, today=MARCH_1).number
        finally:
            connection.close()  # each thread opened its own connection

    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        numbers = list(pool.map(post, ids))

    assert Entry.objects.count() == 6
    assert sorted(set(numbers)) == [f"F-2026-{n:05d}" for n in range(1, 7)]
    assert numbers[:6] == numbers[6:]  # both askers got the same number for the same invoice
