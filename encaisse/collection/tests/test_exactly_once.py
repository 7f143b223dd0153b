"""Exactly once, on PostgreSQL: two workers running the same collection at once, and a run killed mid-charge.

The kill is real: `encaisse collect` runs in a subprocess against the fake
Stripe server, which does the charge and then SIGKILLs the subprocess before
answering — the charge is made at the provider, nothing of its answer is
recorded. The rerun finds the collection in flight, sends the attempt again
under the same idempotency key, the fake replays its first answer: one
charge, the invoice paid once.
"""

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from encaisse.ledger.models import Account
from encaisse.ledger.services import account_of_kind
from encaisse.ledger.verify import verify_ledger
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer
from encaisse.payments.methods import consent_text
from encaisse.payments.models import PaymentAttempt, SandboxPayment, SavedMethod
from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account
from encaisse.sepa.models import CreditorAccount, DirectDebit
from encaisse.sepa.tests.debit_fixtures import CREDITOR_IBAN, ICS, make_mandate
from encaisse.testing.concurrency import together
from encaisse.testing.stripe import SECRET_KEY

from ..models import Collection, CollectionRun, Outcome, SkipReason
from ..services import run_collection
from .helpers import card_customer, due, eur, invoice_for


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_same_collection_at_once_charge_every_invoice_once(org, clerk):
    sandbox = sandbox_account(org)
    customers = [card_customer(org, clerk, sandbox, ref=f"C{n}") for n in range(5)]
    invoices = [invoice_for(org, c, clerk) for c in customers]
    invoices.append(invoice_for(org, customers[0], clerk, "20.00"))  # a customer with two invoices
    on = invoices[0].due_on

    runs = together(2, lambda _i: run_collection(organisation=org, on=on))

    assert [run.status for run in runs] == ["done", "done"]
    for invoice in invoices:
        assert due(invoice) == eur("0.00")
        collection = Collection.objects.get(invoice=invoice)
        assert collection.status == "collected"
        assert SandboxPayment.objects.filter(idempotency_key=f"collection:{collection.pk}:try:1").count() == 1
        results = [item.outcome for run in runs for item in run.item_list if item.invoice_id == invoice.pk]
        assert Outcome.CHARGED in results
        assert set(results) <= {Outcome.CHARGED, Outcome.SKIPPED}
    assert SandboxPayment.objects.filter(idempotency_key__startswith="collection:").count() == len(invoices)
    assert verify_ledger(org).ok


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_workers_scheduling_the_same_direct_debits_at_once_schedule_each_invoice_once(org, clerk):
    org.creditor_id = ICS
    org.save()
    CreditorAccount.objects.create(organisation=org, name="Compte courant", iban=CREDITOR_IBAN, bic="BNPAFRPP",
                                   bank_account=account_of_kind(org, Account.Kind.BANK))
    invoices = []
    for n in range(6):
        customer = Customer.objects.create(organisation=org, ref=f"W{n}", name=f"Worker {n}",
                                           email=f"w{n}@example.org", collect_by=Customer.CollectBy.DIRECT_DEBIT)
        make_mandate(customer, f"UMR-W{n}")
        invoices.append(invoice_for(org, customer, clerk))
    day = invoices[0].due_on - timedelta(days=14)

    runs = together(2, lambda _i: run_collection(organisation=org, on=day))

    # The loser's chunk hits the one-open-collection-per-line index (or reads the winner's collections first):
    # each invoice comes out batched by one worker and in progress for the other, with one debit and one email.
    assert [run.status for run in runs] == ["done", "done"]
    for invoice in invoices:
        results = sorted((item.outcome, item.reason) for run in runs for item in run.item_list
                         if item.invoice_id == invoice.pk)
        assert results == [(Outcome.BATCHED, ""), (Outcome.SKIPPED, SkipReason.IN_PROGRESS)]
        debit = DirectDebit.objects.get(line_id=invoice.receivable_line_id)
        assert Collection.objects.get(invoice=invoice).direct_debit == debit
        assert OutboxMessage.objects.filter(related_object_id=str(debit.pk)).count() == 1
    assert verify_ledger(org).ok


def _collect(on, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "encaisse", "collect", "--on", on.isoformat(), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_between_the_charge_and_its_recording_charges_once_when_run_again(org, clerk, fake_stripe,
                                                                                       stripe_account):
    customer = Customer.objects.create(organisation=org, ref="K1", name="Killed", email="k1@example.org",
                                       collect_by=Customer.CollectBy.CARD)
    SavedMethod.objects.create(organisation=org, customer=customer, provider_account=stripe_account,
                               token="pm_card_visa", brand="visa", last4="4242", exp_month=12, exp_year=2034,
                               is_default=True, consent_text=consent_text(org), consent_at=timezone.now())
    invoice = invoice_for(org, customer, clerk)
    settings = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": (f"postgres://{settings['USER']}:{settings['PASSWORD'] or ''}@"
                                          f"{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"),
           "ENCAISSE_PROVIDER_PRESSING_STRIPE_SECRET_KEY": SECRET_KEY}

    killed = _collect(invoice.due_on, env)
    fake_stripe.kill_on_next_charge(killed.pid)
    killed.communicate(timeout=60)

    assert killed.returncode == -signal.SIGKILL
    assert fake_stripe.charges_made == 1  # the provider charged; we never heard
    collection = Collection.objects.get(invoice=invoice)
    attempt = PaymentAttempt.objects.get(idempotency_key=f"collection:{collection.pk}:try:1")
    assert (collection.status, collection.attempt, attempt.status) == ("in_flight", None, "sending")
    assert due(invoice) == eur("60.00")
    assert CollectionRun.objects.get().status == "running"  # the killed run stays as it was left

    rerun = _collect(invoice.due_on, env)
    out, err = rerun.communicate(timeout=60)

    assert rerun.returncode == 0, err
    answer = json.loads(out)
    assert [(i["invoice"], i["outcome"]) for i in answer["items"]] == [(invoice.number, "charged")]
    charges = [r for r in fake_stripe.requests if r[:2] == ("POST", "/v1/payment_intents")]
    assert len(charges) == 2  # sent twice ...
    assert {r[3]["idempotency-key"] for r in charges} == {attempt.idempotency_key}  # ... under the same key
    assert fake_stripe.charges_made == 1  # ... charged once: the second answer was the first one replayed
    collection.refresh_from_db()
    attempt.refresh_from_db()
    assert (collection.status, collection.attempt, attempt.status) == ("collected", attempt, "succeeded")
    assert due(invoice) == eur("0.00")
    assert verify_ledger(org).ok
