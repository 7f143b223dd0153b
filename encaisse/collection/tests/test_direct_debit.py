"""Collection by SEPA direct debit: scheduled before the due date (pre-notification), followed to the bank's
answer; rejects and returns re-presented once for insufficient funds, the bank fee re-billed, or failed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from encaisse.core.models import AuditEvent
from encaisse.ledger.models import Account, Entry
from encaisse.ledger.verify import verify_ledger
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer
from encaisse.sepa.debits import schedule_direct_debit
from encaisse.sepa.export import export_direct_debits, settle_direct_debits
from encaisse.sepa.models import DirectDebit
from encaisse.sepa.returns import import_bank_file
from encaisse.sepa.tests.bank_answers import camt054, pain002
from encaisse.sepa.tests.debit_fixtures import make_mandate

from ..models import Collection, CollectionPolicy, Outcome, SkipReason
from ..services import handle_r_transactions, run_collection
from .helpers import due, eur, invoice_for


@pytest.fixture
def debtor(org, creditor):
    customer = Customer.objects.create(organisation=org, ref="D1", name="Paul Debit", email="paul@example.org",
                                       collect_by=Customer.CollectBy.DIRECT_DEBIT)
    make_mandate(customer, "UMR-D1")
    return customer


def debtors_with_mandates(org, prefix, count):
    """`count` customers collected by direct debit, each with an active mandate UMR-<prefix><n>."""
    debtors = []
    for n in range(count):
        customer = Customer.objects.create(organisation=org, ref=f"{prefix}{n}", name=f"Debtor {prefix}{n}",
                                           email=f"{prefix.lower()}{n}@example.org",
                                           collect_by=Customer.CollectBy.DIRECT_DEBIT)
        make_mandate(customer, f"UMR-{prefix}{n}")
        debtors.append(customer)
    return debtors


def items(run):
    return [(item.invoice.number, item.outcome, item.reason) for item in run.item_list]


def batched(org, invoice):
    """Run on the first day the debit may be scheduled (14 days' pre-notification), then export its file."""
    day = invoice.due_on - timedelta(days=14)
    run = run_collection(organisation=org, on=day)
    assert items(run) == [(invoice.number, Outcome.BATCHED, "")]
    collection = Collection.objects.get(invoice=invoice)
    files = export_direct_debits(organisation=org, today=day)
    return collection, collection.direct_debit, files[0], day


def reject(debit, debit_file, code):
    pmtinf = next(iter(debit_file.payment_info_ids.values()))
    return pain002(debit_file.message_id, pmtinf, [(debit.end_to_end_id, code, debit.amount.as_json())],
                   msg=f"STS-{debit.pk}")


@pytest.mark.django_db
def test_a_debit_is_scheduled_with_its_pre_notification_before_the_due_date_and_followed_to_the_bank(
        org, clerk, debtor):
    invoice = invoice_for(org, debtor, clerk)
    assert run_collection(organisation=org, on=invoice.due_on - timedelta(days=15)).item_list == []

    day = invoice.due_on - timedelta(days=14)
    run = run_collection(organisation=org, on=day)

    assert items(run) == [(invoice.number, Outcome.BATCHED, "")]
    collection = Collection.objects.get(invoice=invoice)
    debit = collection.direct_debit
    assert (collection.method, collection.status, run.item_list[0].direct_debit) == ("direct_debit", "in_flight",
                                                                                     debit)
    assert (debit.status, debit.amount, debit.line_id) == ("scheduled", eur("60.00"), invoice.receivable_line_id)
    assert debit.collection_date >= invoice.due_on
    assert OutboxMessage.objects.filter(template_code="direct_debit_prenotification", to__contains="paul").exists()
    # The same day again: already in progress, no second debit.
    assert items(run_collection(organisation=org, on=day)) == [(invoice.number, Outcome.SKIPPED,
                                                                SkipReason.IN_PROGRESS)]
    assert DirectDebit.objects.count() == 1

    export_direct_debits(organisation=org, today=day)
    assert due(invoice) == eur("0.00")  # pending until settled or returned
    assert run_collection(organisation=org, on=day + timedelta(days=1)).item_list == []
    settle_direct_debits(today=debit.collection_date, organisation=org)
    run_collection(organisation=org, on=debit.collection_date)

    collection.refresh_from_db()
    assert collection.status == "collected"
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_insufficient_funds_is_presented_again_once_then_the_collection_fails_with_the_pay_link(org, clerk, debtor):
    invoice = invoice_for(org, debtor, clerk)
    collection, debit, debit_file, day = batched(org, invoice)

    report = import_bank_file(organisation=org, data=reject(debit, debit_file, "AM04"), name="sts1.xml")
    handle_r_transactions(report.applied)
    handle_r_transactions(report.applied)  # twice: once

    collection.refresh_from_db()
    again = collection.direct_debit
    assert (again.represents, again.status, collection.status, collection.tries) == (debit, "scheduled",
                                                                                     "in_flight", 2)
    assert DirectDebit.objects.count() == 2
    assert due(invoice) == eur("60.00")
    # The run lists it as in progress and schedules nothing more.
    assert items(run_collection(organisation=org, on=day + timedelta(days=1))) == [
        (invoice.number, Outcome.SKIPPED, SkipReason.IN_PROGRESS)]

    second_file = export_direct_debits(organisation=org, today=day + timedelta(days=1))[0]
    again.refresh_from_db()
    report = import_bank_file(organisation=org, data=reject(again, second_file, "AM04"), name="sts2.xml")
    handle_r_transactions(report.applied)

    collection.refresh_from_db()
    assert (collection.status, DirectDebit.objects.count()) == ("failed", 2)  # re-presented once only
    email = OutboxMessage.objects.get(idempotency_key=f"collection:{collection.pk}:failed")
    assert email.template_code == "collection_failed"
    assert "/pay/" in email.body_text
    assert run_collection(organisation=org, on=day + timedelta(days=20)).item_list == []  # left to people
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_a_closed_account_fails_at_once_and_the_fee_is_re_billed_when_the_policy_says_so(org, clerk, debtor):
    CollectionPolicy.objects.create(organisation=org, rebill_bank_fee=True)
    invoice = invoice_for(org, debtor, clerk)
    collection, debit, _file, _day = batched(org, invoice)
    settle_direct_debits(today=debit.collection_date, organisation=org)
    returned = camt054([(debit.end_to_end_id, "60.00", "AC04", "7.50")], msg="NTF-R1",
                       booked=(debit.collection_date + timedelta(days=3)).isoformat())

    report = import_bank_file(organisation=org, data=returned, name="camt.xml")
    handle_r_transactions(report.applied)
    handle_r_transactions(report.applied)

    collection.refresh_from_db()
    assert collection.status == "failed"
    assert "AC04" in collection.reason
    assert DirectDebit.objects.count() == 1
    rebill = Entry.objects.get(idempotency_key=f"sepa:r:{debit.pk}:rebill")
    receivable = rebill.lines.get(account__kind=Account.Kind.RECEIVABLE)
    assert (receivable.debit_minor, receivable.party_id) == (750, debtor.pk)
    assert rebill.lines.get(account__code="627").credit_minor == 750
    assert due(invoice) == eur("60.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_direct_debit_skips_no_bank_account_and_a_lapsed_mandate(org, clerk, debtor, creditor):
    invoice = invoice_for(org, debtor, clerk)
    creditor.active = False
    creditor.save()

    run = run_collection(organisation=org, on=invoice.due_on)

    assert items(run) == [(invoice.number, Outcome.SKIPPED, SkipReason.NO_BANK_ACCOUNT)]
    debtor.mandates.update(status="lapsed")
    assert items(run_collection(organisation=org, on=invoice.due_on)) == [
        (invoice.number, Outcome.SKIPPED, SkipReason.MANDATE_LAPSED)]
    assert not Collection.objects.exists()


@pytest.mark.django_db
def test_a_run_schedules_its_debits_in_batches_and_a_line_taken_meanwhile_comes_out_in_progress(org, clerk, creditor):
    debtors = debtors_with_mandates(org, "B", 4)
    invoices = [invoice_for(org, customer, clerk) for customer in debtors]
    # The back office scheduled a debit of the third invoice by hand: its line is in flight without a collection.
    taken = invoices[2]
    schedule_direct_debit(mandate=debtors[2].mandates.get(), invoice=taken, line=taken.receivable_line,
                          amount=due(taken), due_on=taken.due_on, today=taken.due_on - timedelta(days=14),
                          prenotification_days=14, key="by-hand")
    day = invoices[0].due_on - timedelta(days=14)

    run = run_collection(organisation=org, on=day)

    assert items(run) == [(invoice.number, Outcome.BATCHED, "") if invoice != taken else
                          (invoice.number, Outcome.SKIPPED, SkipReason.IN_PROGRESS) for invoice in invoices]
    assert Collection.objects.count() == 3
    assert not Collection.objects.filter(invoice=taken).exists()
    assert all(c.direct_debit.line_id == c.line_id for c in Collection.objects.select_related("direct_debit"))
    assert OutboxMessage.objects.filter(template_code="direct_debit_prenotification").count() == 4
    # The trail: the debit scheduled by hand has its own event; the run's are told on the run, whose lines name
    # each debit (here in three batches of one, after the chunk met the line taken).
    by_hand = DirectDebit.objects.get(line_id=taken.receivable_line_id)
    assert list(AuditEvent.objects.filter(verb="direct_debit_scheduled").values_list("object_id", flat=True)) == [
        str(by_hand.pk)]
    on_run = AuditEvent.objects.filter(verb="direct_debits_scheduled", object_id=str(run.pk))
    assert sum(event.data["count"] for event in on_run) == 3
    assert sorted(i.direct_debit_id for i in run.items.filter(outcome=Outcome.BATCHED)) == sorted(
        Collection.objects.values_list("direct_debit_id", flat=True))
    # Saved in the same order as listed.
    assert [i.invoice_id for i in run.items.order_by("pk")] == [i.invoice_id for i in run.item_list]
    # The next run finds them all in progress and schedules nothing more.
    again = run_collection(organisation=org, on=day)
    assert {item.reason for item in again.item_list} == {SkipReason.IN_PROGRESS}
    assert DirectDebit.objects.count() == 4


@pytest.mark.django_db
def test_a_run_does_not_look_for_r_transactions_of_debits_still_with_the_bank(org, clerk, debtor):
    invoice = invoice_for(org, debtor, clerk)
    _collection, _debit, _file, day = batched(org, invoice)

    with CaptureQueriesContext(connection) as queries:
        run_collection(organisation=org, on=day + timedelta(days=1))

    assert not [q for q in queries.captured_queries if "rtransaction" in q["sql"].lower()]


@pytest.mark.django_db
def test_a_chunk_whose_run_lines_fail_keeps_none_of_its_debits(org, clerk, creditor, monkeypatch):
    from .. import services

    debtors = debtors_with_mandates(org, "F", 2)
    invoices = [invoice_for(org, customer, clerk) for customer in debtors]
    day = invoices[0].due_on - timedelta(days=14)
    # A full chunk of direct debits, whose run lines cannot be written once.
    monkeypatch.setattr(services, "CHUNK", 2)
    insert_rows, failures = services.insert_rows, []

    def failing_once(model, names, rows):
        if model is services.RunItem and not failures:
            failures.append(model)
            raise RuntimeError("disk full")
        insert_rows(model, names, rows)

    monkeypatch.setattr(services, "insert_rows", failing_once)

    run = run_collection(organisation=org, on=day)

    assert (run.status, run.error, run.counts) == ("failed", "RuntimeError: disk full", {})
    assert not DirectDebit.objects.exists()
    assert not Collection.objects.exists()
    assert not run.items.exists()
    again = run_collection(organisation=org, on=day)
    assert items(again) == [(invoice.number, Outcome.BATCHED, "") for invoice in invoices]
