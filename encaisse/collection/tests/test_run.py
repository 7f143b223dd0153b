"""Running collection: which invoices are due, what is skipped and why, cards charged, declined, retried, failed."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from encaisse.core.audit import AuditEvent
from encaisse.ledger.verify import verify_ledger
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer
from encaisse.payments.methods import set_default_method
from encaisse.payments.models import PaymentAttempt, SandboxPayment
from encaisse.payments.providers.sandbox.tests.helpers import (
    CARD_CHARGE_ANSWER_LOST,
    CARD_CHARGES_DECLINED,
    sandbox_account,
)
from encaisse.sepa.models import Mandate

from .. import tasks
from ..models import Collection, CollectionPolicy, CollectionRun, Outcome, RunItem, SkipReason
from ..services import policy_for, run_collection
from .helpers import IBAN, add_card, card_customer, due, eur, invoice_for


@pytest.fixture
def sandbox(org):
    return sandbox_account(org)


def outcomes(run: CollectionRun) -> dict[str, tuple[str, str]]:
    return {item.invoice.number: (item.outcome, item.reason) for item in run.item_list}


@pytest.mark.django_db
def test_an_invoice_is_charged_on_its_due_date_not_before(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox)
    invoice = invoice_for(org, customer, clerk)

    before = run_collection(organisation=org, on=invoice.due_on - timedelta(days=1))
    assert before.item_list == []
    assert before.status == "done"
    assert due(invoice) == eur("60.00")

    run = run_collection(organisation=org, on=invoice.due_on)

    assert run.status == "done"
    assert run.counts == {"charged": 1}
    item = RunItem.objects.get(run=run)
    assert (item.invoice, item.outcome, item.method, item.amount) == (invoice, Outcome.CHARGED, "card", eur("60.00"))
    assert item.attempt.status == "succeeded"
    collection = Collection.objects.get(invoice=invoice)
    assert (collection.status, collection.tries, collection.attempt) == ("collected", 1, item.attempt)
    assert due(invoice) == eur("0.00")
    assert verify_ledger(org).ok
    # The next day nothing is left to collect.
    assert run_collection(organisation=org, on=invoice.due_on + timedelta(days=1)).item_list == []
    assert SandboxPayment.objects.filter(idempotency_key__startswith="collection:").count() == 1


@pytest.mark.django_db
def test_a_policy_collecting_days_after_issue_and_an_inactive_one(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox)
    invoice = invoice_for(org, customer, clerk)
    policy = CollectionPolicy.objects.create(organisation=org, start="after_issue", days_after_issue=2)
    assert policy_for(invoice) == policy

    assert run_collection(organisation=org, on=invoice.issued_on + timedelta(days=1)).item_list == []
    policy.active = False
    policy.save()
    assert run_collection(organisation=org, on=invoice.issued_on + timedelta(days=2)).item_list == []
    policy.active = True
    policy.save()
    assert outcomes(run_collection(organisation=org, on=invoice.issued_on + timedelta(days=2))) == {
        invoice.number: (Outcome.CHARGED, "")}


@pytest.mark.django_db
def test_the_invoice_types_policy_wins_over_the_default_and_the_built_in_default_is_not_saved(org, clerk,
                                                                                              customer):
    from encaisse.invoicing.tests.factories import posted_invoice

    invoice = posted_invoice(org, customer, clerk)
    built_in = policy_for(invoice)
    assert built_in.pk is None
    assert built_in.active
    assert built_in.card_retry_days == [3, 7, 14]
    default = CollectionPolicy.objects.create(organisation=org, minimum_amount_minor=500)
    assert policy_for(invoice) == default
    own = CollectionPolicy.objects.create(organisation=org, invoice_type=invoice.invoice_type)
    assert policy_for(invoice) == own


@pytest.mark.django_db
def test_every_skip_reason_is_listed(org, clerk, sandbox):
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    nothing = Customer.objects.create(organisation=org, ref="N1", name="Pays by hand", email="n1@example.org")
    lapsed = Customer.objects.create(organisation=org, ref="L1", name="Lapsed", email="l1@example.org",
                                     collect_by=Customer.CollectBy.DIRECT_DEBIT)
    Mandate.objects.create(organisation=org, customer=lapsed, reference="UMR-L1", iban=IBAN, signed_on="2020-01-01",
                           status=Mandate.Status.LAPSED)
    no_bank = Customer.objects.create(organisation=org, ref="D1", name="Debited", email="d1@example.org",
                                      collect_by=Customer.CollectBy.DIRECT_DEBIT)
    Mandate.objects.create(organisation=org, customer=no_bank, reference="UMR-D1", iban=IBAN, signed_on="2025-01-01")
    small = card_customer(org, clerk, sandbox, ref="S1")
    busy = card_customer(org, clerk, sandbox, ref="B1")
    invoices = {
        "no_method": invoice_for(org, nothing, clerk),
        "mandate_lapsed": invoice_for(org, lapsed, clerk),
        "no_bank_account": invoice_for(org, no_bank, clerk),
        "below_minimum": invoice_for(org, small, clerk, "0.50"),
        "in_progress": invoice_for(org, busy, clerk),
    }
    busy_invoice = invoices["in_progress"]
    waiting = Collection.objects.create(organisation=org, invoice=busy_invoice, line=busy_invoice.receivable_line,
                                        customer=busy, method="card", status="retry", tries=1,
                                        next_try_on=busy_invoice.due_on + timedelta(days=3))

    run = run_collection(organisation=org, on=busy_invoice.due_on)

    assert outcomes(run) == {invoice.number: (Outcome.SKIPPED, reason) for reason, invoice in invoices.items()}
    assert run.counts == {"skipped": 5}
    assert RunItem.objects.get(run=run, invoice=busy_invoice).collection == waiting
    assert not PaymentAttempt.objects.filter(idempotency_key__startswith="collection:").exists()
    assert Collection.objects.count() == 1

    # A policy that does not charge cards: the card customers' invoices are "method not allowed".
    CollectionPolicy.objects.create(organisation=org, use_cards=False, minimum_amount_minor=0)
    run = run_collection(organisation=org, on=busy_invoice.due_on)
    assert outcomes(run)[invoices["below_minimum"].number] == (Outcome.SKIPPED, SkipReason.METHOD_NOT_ALLOWED)


@pytest.mark.django_db
def test_a_declined_card_is_tried_again_three_days_later_and_a_new_card_pays(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox, card=CARD_CHARGES_DECLINED)
    invoice = invoice_for(org, customer, clerk)
    day = invoice.due_on

    first = run_collection(organisation=org, on=day)

    item = first.item_list[0]
    assert (item.outcome, item.code) == (Outcome.DECLINED, "card_declined")
    collection = Collection.objects.get(invoice=invoice)
    assert (collection.status, collection.tries, collection.next_try_on) == ("retry", 1, day + timedelta(days=3))
    assert due(invoice) == eur("60.00")
    # Before the retry day the collection waits, listed as in progress; nothing is charged.
    waiting = run_collection(organisation=org, on=day + timedelta(days=2))
    assert outcomes(waiting) == {invoice.number: (Outcome.SKIPPED, SkipReason.IN_PROGRESS)}
    # The customer adds a working card and makes it their default.
    set_default_method(add_card(customer, clerk, sandbox), by=None)

    retry = run_collection(organisation=org, on=day + timedelta(days=3))

    assert outcomes(retry) == {invoice.number: (Outcome.CHARGED, "")}
    collection.refresh_from_db()
    assert (collection.status, collection.tries) == ("collected", 2)
    assert collection.attempt.idempotency_key == f"collection:{collection.pk}:try:2"
    assert due(invoice) == eur("0.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_after_every_try_the_collection_fails_and_the_customer_gets_the_pay_link(org, clerk, sandbox):
    CollectionPolicy.objects.create(organisation=org, card_retry_days=[3, 7, 14], max_card_attempts=4,
                                    start_reminders_on_failure=True, block_credit_on_failure=True)
    customer = card_customer(org, clerk, sandbox, card=CARD_CHARGES_DECLINED)
    invoice = invoice_for(org, customer, clerk)
    day = invoice.due_on
    results = []
    for offset in (0, 3, 7, 14):
        run = run_collection(organisation=org, on=day + timedelta(days=offset))
        results.append(outcomes(run)[invoice.number][0])

    assert results == [Outcome.DECLINED, Outcome.DECLINED, Outcome.DECLINED, Outcome.FAILED]
    collection = Collection.objects.get(invoice=invoice)
    assert (collection.status, collection.tries, collection.next_try_on) == ("failed", 4, None)
    keys = set(PaymentAttempt.objects.filter(customer=customer, idempotency_key__startswith="collection:")
               .values_list("idempotency_key", flat=True))
    assert keys == {f"collection:{collection.pk}:try:{n}" for n in (1, 2, 3, 4)}
    email = OutboxMessage.objects.get(idempotency_key=f"collection:{collection.pk}:failed")
    assert email.to == [customer.email] or customer.email in str(email.to)
    assert "/pay/" in email.body_text
    assert invoice.number in email.body_text
    verbs = set(AuditEvent.objects.filter(object_id=str(customer.pk)).values_list("verb", flat=True))
    assert {"reminders_requested", "credit_block_requested"} <= verbs
    # Failed is final: later runs leave it to people (and the pay link).
    assert run_collection(organisation=org, on=day + timedelta(days=30)).item_list == []
    assert OutboxMessage.objects.filter(idempotency_key__startswith="collection:").count() == 1


@pytest.mark.django_db
def test_a_dry_run_writes_nothing_and_lists_what_the_run_then_does(org, clerk, sandbox):
    charged = card_customer(org, clerk, sandbox, ref="C1")
    nothing = Customer.objects.create(organisation=org, ref="N1", name="By hand", email="n@example.org")
    first, second = invoice_for(org, charged, clerk), invoice_for(org, nothing, clerk)
    counts = (CollectionRun.objects.count(), RunItem.objects.count(), Collection.objects.count(),
              PaymentAttempt.objects.count(), SandboxPayment.objects.count())

    dry = run_collection(organisation=org, on=first.due_on, dry_run=True)

    assert dry.pk is not None
    assert dry._state.adding
    assert counts == (CollectionRun.objects.count(), RunItem.objects.count(), Collection.objects.count(),
                      PaymentAttempt.objects.count(), SandboxPayment.objects.count())
    assert outcomes(dry) == {first.number: (Outcome.CHARGED, ""), second.number: (Outcome.SKIPPED, "no_method")}
    real = run_collection(organisation=org, on=first.due_on)
    assert outcomes(real) == outcomes(dry)
    assert due(first) == eur("0.00")
    # Both lists come with their invoices and customers (the CLI shows each one's reference): no query per line.
    for run in (dry, real):
        with CaptureQueriesContext(connection) as queries:
            assert sorted(item.invoice.party.ref for item in run.item_list) == ["C1", "N1"]
        assert len(queries) <= 1


@pytest.mark.django_db
def test_shards_split_the_customers_between_workers(org, clerk, sandbox):
    customers = [card_customer(org, clerk, sandbox, ref=f"C{n}") for n in range(4)]
    invoices = [invoice_for(org, c, clerk) for c in customers]
    on = invoices[0].due_on

    seen = []
    for k in range(2):
        run = run_collection(organisation=org, on=on, shard=(k, 2))
        assert all(item.customer_id % 2 == k for item in run.item_list)
        seen += [item.invoice_id for item in run.item_list]

    assert sorted(seen) == sorted(i.pk for i in invoices)
    assert all(due(i) == eur("0.00") for i in invoices)
    with pytest.raises(ValueError, match="shard"):
        run_collection(organisation=org, on=on, shard=(2, 2))


@pytest.mark.django_db
def test_an_unexpected_error_stops_the_run_failed_and_the_next_run_finishes_the_work(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox, card=CARD_CHARGES_DECLINED)
    invoice = invoice_for(org, customer, clerk)
    policy = CollectionPolicy.objects.create(organisation=org, card_retry_days=["three"])  # bad data

    run = run_collection(organisation=org, on=invoice.due_on)

    run.refresh_from_db()
    assert run.status == "failed"
    assert "ValueError" in run.error
    assert run.finished_at
    collection = Collection.objects.get(invoice=invoice)  # the decline came back; its recording was rolled back
    assert (collection.status, collection.attempt) == ("in_flight", None)
    policy.card_retry_days = [3]
    policy.save()

    again = run_collection(organisation=org, on=invoice.due_on)

    assert again.status == "done"
    assert outcomes(again) == {invoice.number: (Outcome.DECLINED, "")}
    collection.refresh_from_db()
    assert (collection.status, collection.tries) == ("retry", 1)
    assert SandboxPayment.objects.filter(idempotency_key__startswith="collection:").count() == 1


@pytest.mark.django_db
def test_the_daily_task_collects_every_organisation_on_todays_date(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox)
    invoice = invoice_for(org, customer, clerk)

    with time_machine.travel(invoice.due_on.isoformat() + " 06:00:00+01:00", tick=False):
        counts = tasks.collect_due_invoices.call()

    assert counts == {"pressing": {"status": "done", "charged": 1}}
    run = CollectionRun.objects.get()
    assert (run.run_on, run.trigger) == (invoice.due_on, "schedule")
    assert due(invoice) == eur("0.00")


@pytest.mark.django_db
def test_a_charge_whose_answer_was_lost_is_asked_again_under_the_same_key_by_the_next_run(org, clerk, sandbox):
    customer = card_customer(org, clerk, sandbox, card=CARD_CHARGE_ANSWER_LOST)
    invoice = invoice_for(org, customer, clerk)

    first = run_collection(organisation=org, on=invoice.due_on)

    assert outcomes(first) == {invoice.number: (Outcome.UNKNOWN, "")}
    collection = Collection.objects.get(invoice=invoice)
    assert (collection.status, collection.attempt.status) == ("in_flight", "unknown")
    assert due(invoice) == eur("60.00")

    second = run_collection(organisation=org, on=invoice.due_on + timedelta(days=1))

    assert outcomes(second) == {invoice.number: (Outcome.CHARGED, "")}
    collection.refresh_from_db()
    assert (collection.status, collection.tries) == ("collected", 1)
    assert SandboxPayment.objects.filter(idempotency_key=f"collection:{collection.pk}:try:1").count() == 1
    assert due(invoice) == eur("0.00")
    assert verify_ledger(org).ok
