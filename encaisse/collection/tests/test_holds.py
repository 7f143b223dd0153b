"""Collection holds: staff block a customer or dispute an invoice, runs skip what is held with the reason and write
nothing for it, and collect again once the hold is lifted; holds are kept, never deleted."""

import json
import re
from datetime import timedelta
from io import StringIO
from threading import Thread

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from encaisse.core.audit import events_for
from encaisse.core.models import AuditEvent
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.parties.models import Customer, Organisation
from encaisse.payments.methods import set_default_method
from encaisse.payments.models import PaymentAttempt, SandboxPayment
from encaisse.payments.providers.sandbox.tests.helpers import CARD_CHARGES_DECLINED, sandbox_account
from encaisse.sepa.export import export_direct_debits
from encaisse.sepa.models import DirectDebit
from encaisse.sepa.returns import import_bank_file
from encaisse.sepa.tests.bank_answers import pain002
from encaisse.sepa.tests.debit_fixtures import make_mandate
from encaisse.testing.concurrency import others_wait_for_locks, together

from .. import selectors, services
from ..holds import HoldRefused, block_customer, dispute_invoice, holds_in_force, lift_hold
from ..models import Collection, CollectionHold, HoldKept, HoldKind, Outcome, RunItem, SkipReason
from ..services import handle_r_transactions, run_collection
from .helpers import add_card, card_customer, due, eur, invoice_for


@pytest.fixture
def sandbox(org):
    return sandbox_account(org)


def debtor(org, ref):
    customer = Customer.objects.create(organisation=org, ref=ref, name=f"Debtor {ref}", email=f"{ref}@example.org",
                                       collect_by=Customer.CollectBy.DIRECT_DEBIT)
    make_mandate(customer, f"UMR-{ref}")
    return customer


def lines(run):
    """(invoice number, outcome, reason, message) of each line of the run."""
    return {item.invoice.number: (item.outcome, item.reason, item.message) for item in run.item_list}


def collection_attempts():
    return PaymentAttempt.objects.filter(idempotency_key__startswith="collection:").count()


# --- placing and lifting ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_blocking_a_customer_keeps_who_why_and_when_and_is_recorded_on_the_customer(org, clerk, customer):
    hold = block_customer(organisation=org, customer=customer, reason="  Disputes  every\ninvoice ", by=clerk)

    hold.refresh_from_db()
    assert (hold.kind, hold.customer, hold.invoice, hold.reason, hold.created_by) == (
        HoldKind.CUSTOMER_BLOCKED, customer, None, "Disputes every invoice", clerk)
    assert hold.in_force
    events = AuditEvent.objects.filter(verb="collection_held")
    assert {(e.content_type.model, e.object_id, e.by) for e in events} == {
        ("collectionhold", str(hold.pk), clerk), ("customer", str(customer.pk), clerk)}
    assert events.first().data == {"hold": hold.pk, "kind": "customer_blocked", "reason": "Disputes every invoice"}


@pytest.mark.django_db
def test_lifting_dates_and_signs_the_hold_and_a_second_lift_is_refused_and_changes_nothing(org, clerk, customer):
    hold = block_customer(organisation=org, customer=customer, reason="Unpaid cheque", by=clerk)

    lift_hold(hold=hold, by=clerk)

    hold.refresh_from_db()
    lifted_at = hold.lifted_at
    assert (hold.lifted_by, hold.in_force) == (clerk, False)
    assert events_for(customer).filter(verb="collection_hold_lifted").exists()
    with pytest.raises(HoldRefused, match=r"already lifted on .* by clerk"):
        lift_hold(hold=CollectionHold.objects.get(pk=hold.pk), by=None)
    hold.refresh_from_db()
    assert (hold.lifted_at, hold.lifted_by) == (lifted_at, clerk)
    assert AuditEvent.objects.filter(verb="collection_hold_lifted").count() == 2  # the hold and the customer, once
    # Lifted, the customer may be blocked again: a new hold, the old one kept.
    block_customer(organisation=org, customer=customer, reason="Again", by=clerk)
    assert CollectionHold.objects.filter(customer=customer).count() == 2


@pytest.mark.django_db
def test_refusals_say_why_and_write_nothing(org, clerk, customer):
    other = Organisation.objects.create(name="Mairie de Bourg", slug="bourg")
    stranger = Customer.objects.create(organisation=other, ref="B1", name="Paul Secret", email="p@example.org")
    posted = invoice_for(org, customer, clerk)
    draft = draft_invoice(org, customer)
    validated = draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    cancelled = draft_invoice(org, customer, status=Invoice.Status.CANCELLED)
    credit_note = draft_invoice(org, customer, kind=Invoice.Kind.CREDIT_NOTE, credited_invoice=posted)
    block_customer(organisation=org, customer=customer, reason="First", by=clerk)
    dispute_invoice(organisation=org, invoice=posted, reason="Wrong quantity", by=clerk)
    holds, events = CollectionHold.objects.count(), AuditEvent.objects.count()

    refusals = [
        (lambda: block_customer(organisation=org, customer=stranger, reason="x", by=clerk),
         re.escape("Paul Secret (B1) is a customer of another organisation.")),
        (lambda: block_customer(organisation=org, customer=customer, reason="Twice", by=clerk),
         re.escape("Jeanne Martin (C001) is already blocked: lift that hold first.")),
        (lambda: block_customer(organisation=other, customer=stranger, reason="   ", by=clerk),
         "Give the reason for the hold"),
        (lambda: block_customer(organisation=other, customer=stranger, reason="x" * 301, by=clerk),
         "at most 300 characters"),
        (lambda: dispute_invoice(organisation=org, invoice=draft, reason="x", by=clerk),
         "Only a posted invoice can be disputed; .* is Draft."),
        (lambda: dispute_invoice(organisation=org, invoice=validated, reason="x", by=clerk), "is Validated."),
        (lambda: dispute_invoice(organisation=org, invoice=cancelled, reason="x", by=clerk), "is Cancelled."),
        (lambda: dispute_invoice(organisation=org, invoice=credit_note, reason="x", by=clerk),
         "is a credit note: only an invoice can be disputed."),
        (lambda: dispute_invoice(organisation=other, invoice=posted, reason="x", by=clerk),
         f"Invoice {posted.display_name} belongs to another organisation."),
        (lambda: dispute_invoice(organisation=org, invoice=posted, reason="Twice", by=clerk),
         f"Invoice {posted.display_name} is already disputed."),
    ]
    for refuse, message in refusals:
        with pytest.raises(HoldRefused, match=message) as refused:
            refuse()
        assert refused.value.as_dict()["code"] == "collection_hold_refused"

    assert (CollectionHold.objects.count(), AuditEvent.objects.count()) == (holds, events)


@pytest.mark.django_db
def test_the_database_keeps_one_hold_in_force_each_a_dispute_names_its_invoice_and_no_hold_is_deleted(
        org, clerk, customer):
    invoice = invoice_for(org, customer, clerk)
    block = block_customer(organisation=org, customer=customer, reason="Blocked", by=clerk)
    dispute = dispute_invoice(organisation=org, invoice=invoice, reason="Disputed", by=clerk)
    bad_rows = [
        {"kind": HoldKind.CUSTOMER_BLOCKED},  # a second block in force
        {"kind": HoldKind.DISPUTED, "invoice": invoice},  # a second dispute in force
        {"kind": HoldKind.DISPUTED},  # a dispute of no invoice
        {"kind": HoldKind.CUSTOMER_BLOCKED, "invoice": invoice, "lifted_at": block.created_at},  # a block naming one
        {"kind": HoldKind.CUSTOMER_BLOCKED, "reason": "", "lifted_at": block.created_at},  # no reason
    ]
    for row in bad_rows:
        with pytest.raises(IntegrityError), transaction.atomic():
            CollectionHold.objects.create(**{"organisation": org, "customer": customer, "reason": "raw"} | row)

    with pytest.raises(HoldKept):
        dispute.delete()
    assert CollectionHold.objects.count() == 2


@pytest.mark.django_db
def test_the_holds_in_force_are_read_in_one_query(org, clerk, customer):
    other = Customer.objects.create(organisation=org, ref="C2", name="Other", email="o@example.org")
    invoice = invoice_for(org, other, clerk)
    block = block_customer(organisation=org, customer=customer, reason="Blocked", by=clerk)
    dispute = dispute_invoice(organisation=org, invoice=invoice, reason="Disputed", by=clerk)
    lift_hold(hold=block_customer(organisation=org, customer=other, reason="Lifted", by=clerk), by=clerk)

    with CaptureQueriesContext(connection) as queries:
        holds = holds_in_force(org)

    assert len(queries) == 1
    assert (holds.blocked, holds.disputed) == ({customer.pk: block}, {invoice.pk: dispute})
    assert holds.on(customer_id=other.pk, invoice_id=invoice.pk) == dispute
    assert holds.on(customer_id=other.pk, invoice_id=invoice.pk + 1) is None


# --- what runs do with them -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_blocked_customers_card_and_direct_debit_invoices_are_skipped_with_the_reason_and_nothing_written(
        org, clerk, sandbox, creditor):
    by_card = card_customer(org, clerk, sandbox, ref="C1")
    by_debit = debtor(org, "D1")
    card_invoice, debit_invoice = invoice_for(org, by_card, clerk), invoice_for(org, by_debit, clerk)
    block_customer(organisation=org, customer=by_card, reason="Card holder deceased", by=clerk)
    block_customer(organisation=org, customer=by_debit, reason="Bank account closed", by=clerk)
    charges = SandboxPayment.objects.count()

    sepa_run = run_collection(organisation=org, on=debit_invoice.due_on - timedelta(days=14))
    card_run = run_collection(organisation=org, on=card_invoice.due_on)

    assert lines(sepa_run) == {
        debit_invoice.number: (Outcome.SKIPPED, SkipReason.CUSTOMER_BLOCKED, "Bank account closed")}
    assert lines(card_run) == {
        card_invoice.number: (Outcome.SKIPPED, SkipReason.CUSTOMER_BLOCKED, "Card holder deceased"),
        debit_invoice.number: (Outcome.SKIPPED, SkipReason.CUSTOMER_BLOCKED, "Bank account closed")}
    item = RunItem.objects.get(run=card_run, invoice=card_invoice)
    assert (item.method, item.collection, item.amount) == ("card", None, eur("60.00"))
    assert RunItem.objects.get(run=sepa_run).method == "direct_debit"
    assert card_run.counts == {"skipped": 2}
    assert not Collection.objects.exists()
    assert not DirectDebit.objects.exists()
    assert (collection_attempts(), SandboxPayment.objects.count()) == (0, charges)
    assert (due(card_invoice), due(debit_invoice)) == (eur("60.00"), eur("60.00"))


@pytest.mark.django_db
def test_a_disputed_invoice_is_skipped_while_the_same_customers_other_invoice_is_collected(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox)
    disputed, other = invoice_for(org, customer, clerk), invoice_for(org, customer, clerk, "20.00")
    dispute_invoice(organisation=org, invoice=disputed, reason="Service not delivered", by=clerk)

    run = run_collection(organisation=org, on=disputed.due_on)

    assert lines(run) == {disputed.number: (Outcome.SKIPPED, SkipReason.DISPUTED, "Service not delivered"),
                          other.number: (Outcome.CHARGED, "", "")}
    assert list(Collection.objects.values_list("invoice", flat=True)) == [other.pk]
    assert (due(disputed), due(other)) == (eur("60.00"), eur("0.00"))


@pytest.mark.django_db
def test_once_the_hold_is_lifted_the_next_run_collects(org, clerk, sandbox, creditor):
    by_card = card_customer(org, clerk, sandbox, ref="C1")
    by_debit = debtor(org, "D1")
    card_invoice, debit_invoice = invoice_for(org, by_card, clerk), invoice_for(org, by_debit, clerk)
    holds = [block_customer(organisation=org, customer=by_card, reason="Checking", by=clerk),
             dispute_invoice(organisation=org, invoice=debit_invoice, reason="Checking", by=clerk)]
    day = card_invoice.due_on
    assert {outcome for outcome, _r, _m in lines(run_collection(organisation=org, on=day)).values()} == {"skipped"}

    for hold in holds:
        lift_hold(hold=hold, by=clerk)
    run = run_collection(organisation=org, on=day + timedelta(days=1))

    assert lines(run) == {card_invoice.number: (Outcome.CHARGED, "", ""),
                          debit_invoice.number: (Outcome.BATCHED, "", "")}
    assert due(card_invoice) == eur("0.00")
    assert DirectDebit.objects.get().invoice == debit_invoice


@pytest.mark.django_db
def test_a_due_card_retry_of_a_blocked_customer_is_not_charged_and_waits_for_the_hold_to_be_lifted(
        org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox, card=CARD_CHARGES_DECLINED)
    invoice = invoice_for(org, customer, clerk)
    day = invoice.due_on
    assert lines(run_collection(organisation=org, on=day))[invoice.number][0] == Outcome.DECLINED
    collection = Collection.objects.get()
    assert (collection.status, collection.next_try_on) == ("retry", day + timedelta(days=3))
    hold = block_customer(organisation=org, customer=customer, reason="Asked us to stop", by=clerk)
    set_default_method(add_card(customer, clerk, sandbox), by=None)  # a card that would pay
    attempts = collection_attempts()

    dry = run_collection(organisation=org, on=day + timedelta(days=3), dry_run=True)
    held = run_collection(organisation=org, on=day + timedelta(days=3))

    expected = {invoice.number: (Outcome.SKIPPED, SkipReason.CUSTOMER_BLOCKED, "Asked us to stop")}
    assert lines(dry) == lines(held) == expected
    assert RunItem.objects.get(run=held).collection == collection
    assert collection_attempts() == attempts
    collection.refresh_from_db()
    assert (collection.status, collection.tries) == ("retry", 1)  # still waiting, not cancelled

    lift_hold(hold=hold, by=clerk)
    retried = run_collection(organisation=org, on=day + timedelta(days=4))

    assert lines(retried) == {invoice.number: (Outcome.CHARGED, "", "")}
    collection.refresh_from_db()
    assert (collection.status, collection.tries) == ("collected", 2)
    assert due(invoice) == eur("0.00")


@pytest.mark.django_db
def test_a_dry_run_lists_the_holds_as_the_run_then_does(org, clerk, sandbox, creditor):
    by_card = card_customer(org, clerk, sandbox, ref="C1")
    by_debit = debtor(org, "D1")
    card_invoice, debit_invoice = invoice_for(org, by_card, clerk), invoice_for(org, by_debit, clerk)
    dispute_invoice(organisation=org, invoice=card_invoice, reason="Wrong price", by=clerk)
    block_customer(organisation=org, customer=by_debit, reason="Moving abroad", by=clerk)

    dry = run_collection(organisation=org, on=card_invoice.due_on, dry_run=True)
    real = run_collection(organisation=org, on=card_invoice.due_on)

    assert lines(dry) == lines(real) == {
        card_invoice.number: (Outcome.SKIPPED, SkipReason.DISPUTED, "Wrong price"),
        debit_invoice.number: (Outcome.SKIPPED, SkipReason.CUSTOMER_BLOCKED, "Moving abroad")}
    assert not Collection.objects.exists()


@pytest.mark.django_db
def test_holds_cost_a_run_no_query_per_invoice(org, clerk, creditor):
    def run_queries():
        with CaptureQueriesContext(connection) as queries:
            run = run_collection(organisation=org, on=invoices[0].due_on)
        assert {item.reason for item in RunItem.objects.filter(run=run)} == {SkipReason.CUSTOMER_BLOCKED}
        return len(queries)

    first = debtor(org, "D0")
    invoices = [invoice_for(org, first, clerk)]
    block_customer(organisation=org, customer=first, reason="Held", by=clerk)
    one = run_queries()
    for n in range(1, 6):
        customer = debtor(org, f"D{n}")
        invoices.append(invoice_for(org, customer, clerk))
        block_customer(organisation=org, customer=customer, reason="Held", by=clerk)

    assert run_queries() == one


def returned_while_disputed(org, clerk, code):
    """An invoice's debit exported, the invoice disputed, then the bank's reject with `code` read back: (invoice,
    its collection, the hold, the day of the run)."""
    invoice = invoice_for(org, debtor(org, "D1"), clerk)
    day = invoice.due_on - timedelta(days=14)
    run_collection(organisation=org, on=day)
    collection = Collection.objects.get()
    debit = collection.direct_debit
    debit_file = export_direct_debits(organisation=org, today=day)[0]
    hold = dispute_invoice(organisation=org, invoice=invoice, reason="Contests the amount", by=clerk)
    pmtinf = next(iter(debit_file.payment_info_ids.values()))
    answer = pain002(debit_file.message_id, pmtinf, [(debit.end_to_end_id, code, debit.amount.as_json())])
    handle_r_transactions(import_bank_file(organisation=org, data=answer, name="sts.xml").applied)
    return invoice, collection, hold, day


@pytest.mark.django_db
def test_a_debit_returned_for_insufficient_funds_is_not_presented_again_while_the_invoice_is_disputed(
        org, clerk, creditor):
    invoice, collection, hold, day = returned_while_disputed(org, clerk, "AM04")

    collection.refresh_from_db()
    assert (collection.status, collection.reason) == ("cancelled", "Invoice disputed: Contests the amount")
    assert DirectDebit.objects.count() == 1  # not presented again
    assert due(invoice) == eur("60.00")
    lift_hold(hold=hold, by=clerk)
    again = run_collection(organisation=org, on=day + timedelta(days=1))
    assert lines(again) == {invoice.number: (Outcome.BATCHED, "", "")}
    assert DirectDebit.objects.count() == 2


@pytest.mark.django_db
def test_a_debit_rejected_for_good_on_a_disputed_invoice_is_cancelled_without_pay_link_or_reminders(
        org, clerk, creditor):
    from encaisse.notifications.models import OutboxMessage

    invoice, collection, _hold, _day = returned_while_disputed(org, clerk, "MD06")

    collection.refresh_from_db()
    # Without the hold: FAILED, the pay link emailed, reminders and a credit block requested.
    assert (collection.status, collection.reason) == ("cancelled", "Invoice disputed: Contests the amount")
    assert not OutboxMessage.objects.filter(template_code="collection_failed").exists()
    assert not AuditEvent.objects.filter(verb__in=["collection_failed", "reminders_requested",
                                                   "credit_block_requested"]).exists()
    assert due(invoice) == eur("60.00")  # reopened by the return all the same


@pytest.mark.django_db
def test_collect_json_shows_the_hold_and_its_reason(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox, ref="C1")
    invoice = invoice_for(org, customer, clerk)
    block_customer(organisation=org, customer=customer, reason="Insolvency proceedings", by=clerk)
    out = StringIO()

    call_command("collect", "--on", invoice.due_on.isoformat(), "--json", stdout=out)

    answer = json.loads(out.getvalue())
    assert answer["counts"] == {"skipped": 1}
    assert answer["items"] == [
        {"invoice": invoice.number, "customer": "C1", "amount": "60.00", "method": "card", "outcome": "skipped",
         "reason": "customer_blocked", "code": "", "message": "Insolvency proceedings"}]


@pytest.mark.postgresql  # needs two real connections at once: skipped on SQLite, run in CI
@pytest.mark.django_db(transaction=True)
def test_two_clerks_blocking_the_same_customer_at_once_get_one_hold_and_one_refusal(org, clerk, customer):
    reasons = ["First clerk", "Second clerk"]

    def block(i):
        try:
            return block_customer(organisation=org, customer=customer, reason=reasons[i], by=clerk)
        except HoldRefused as refused:
            return refused

    results = together(2, block)

    assert sorted(type(result).__name__ for result in results) == ["CollectionHold", "HoldRefused"]
    assert CollectionHold.objects.filter(customer=customer).count() == 1
    assert "already blocked" in str(next(r for r in results if isinstance(r, HoldRefused)))


# --- holds placed while a run is under way ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_hold_placed_after_a_run_read_the_holds_stops_what_the_run_had_not_claimed_yet(
        org, clerk, sandbox, creditor, monkeypatch):
    retried = card_customer(org, clerk, sandbox, ref="C0", card=CARD_CHARGES_DECLINED)
    retry_invoice = invoice_for(org, retried, clerk)
    day = retry_invoice.due_on
    run_collection(organisation=org, on=day)  # declined: tried again in 3 days
    set_default_method(add_card(retried, clerk, sandbox), by=None)  # a card that would pay
    by_card, by_debit = card_customer(org, clerk, sandbox, ref="C1"), debtor(org, "D1")
    card_invoice, debit_invoice = invoice_for(org, by_card, clerk), invoice_for(org, by_debit, clerk)
    attempts, charges = collection_attempts(), SandboxPayment.objects.count()
    read_due_invoices = selectors.due_invoices

    def clerks_block_then_the_run_reads_the_due_invoices(*args, **kwargs):
        # The run read the holds in force when it started (none); the clerks' blocks commit now.
        for customer in (retried, by_card, by_debit):
            block_customer(organisation=org, customer=customer, reason=f"Blocked meanwhile {customer.ref}", by=clerk)
        return read_due_invoices(*args, **kwargs)

    monkeypatch.setattr(selectors, "due_invoices", clerks_block_then_the_run_reads_the_due_invoices)
    run = run_collection(organisation=org, on=day + timedelta(days=3))

    blocked = (Outcome.SKIPPED, SkipReason.CUSTOMER_BLOCKED)
    assert lines(run) == {retry_invoice.number: (*blocked, "Blocked meanwhile C0"),
                          card_invoice.number: (*blocked, "Blocked meanwhile C1"),
                          debit_invoice.number: (*blocked, "Blocked meanwhile D1")}
    assert (collection_attempts(), SandboxPayment.objects.count()) == (attempts, charges)
    assert not DirectDebit.objects.exists()
    retry = Collection.objects.get()  # the retry's, still waiting; none for the other two
    assert (retry.invoice, retry.status, retry.tries) == (retry_invoice, "retry", 1)
    assert RunItem.objects.get(run=run, invoice=retry_invoice).collection == retry
    assert (due(retry_invoice), due(card_invoice), due(debit_invoice)) == (eur("60.00"),) * 3


@pytest.mark.postgresql  # needs two real connections at once: skipped on SQLite, run in CI
@pytest.mark.django_db(transaction=True)
def test_a_block_placed_while_a_run_writes_its_debits_waits_for_them_so_nothing_is_batched_after_it(
        org, clerk, creditor, monkeypatch):
    customer = debtor(org, "D1")
    invoice = invoice_for(org, customer, clerk)
    schedule, seen = services.schedule_direct_debits, {}

    def block():
        try:
            block_customer(organisation=org, customer=customer, reason="Blocked meanwhile", by=clerk)
            seen["debit already there when the block committed"] = DirectDebit.objects.filter(
                invoice=invoice).exists()
        finally:
            connection.close()  # the thread opened its own connection

    def schedule_while_a_clerk_blocks(**kwargs):
        # Inside the chunk's transaction, once it has looked for holds: a clerk blocks the customer now.
        seen["clerk"] = Thread(target=block)
        seen["clerk"].start()
        seen["clerk waited for the run's lock"] = others_wait_for_locks(1)
        return schedule(**kwargs)

    monkeypatch.setattr(services, "schedule_direct_debits", schedule_while_a_clerk_blocks)
    run = run_collection(organisation=org, on=invoice.due_on - timedelta(days=14))
    seen["clerk"].join(timeout=30)

    assert lines(run) == {invoice.number: (Outcome.BATCHED, "", "")}
    assert seen["clerk waited for the run's lock"] is True
    assert seen["debit already there when the block committed"] is True
    assert CollectionHold.objects.get().in_force
    again = run_collection(organisation=org, on=invoice.due_on - timedelta(days=13))
    assert lines(again) == {invoice.number: (Outcome.SKIPPED, SkipReason.IN_PROGRESS, "")}
