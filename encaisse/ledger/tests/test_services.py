from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError

from encaisse.core.errors import ImmutableRecord
from encaisse.core.money import Money
from encaisse.ledger.errors import EmptyEntry, ForeignAccount, PeriodClosed, SettlementRefused, UnbalancedEntry
from encaisse.ledger.models import Entry, EntryLine, LedgerHead, Settlement
from encaisse.ledger.selectors import customer_balance, open_amount
from encaisse.ledger.services import (
    EntryDraft,
    LineDraft,
    close_period,
    create_default_chart,
    post_entries,
    post_entry,
    reverse_entry,
    settle,
)
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Customer, Organisation

MARCH_1 = date(2026, 3, 1)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def draft(org, *lines, journal="OD", on=MARCH_1, label="Test"):
    """lines: (account code, signed amount, customer or None)."""
    return EntryDraft(
        journal=org.journals.get(code=journal), date=on, label=label,
        lines=tuple(LineDraft.signed(org.accounts.get(code=code), eur(amount), party=party,
                                     due_on=on if party else None) for code, amount, party in lines),
    )


def invoice_like(org, customer, amount="120.00", key="test:1"):
    """411 debited for the customer, 706 credited: what an invoice leaves on the ledger."""
    return post_entry(org, draft(org, ("411", amount, customer), ("706", f"-{amount}", None), journal="VE"),
                      idempotency_key=key)


def payment(org, customer, amount="120.00", key="test:pay"):
    return post_entry(org, draft(org, ("512", amount, None), ("411", f"-{amount}", customer), journal="BQ"),
                      idempotency_key=key)


def receivable(entry):
    return entry.lines.get(account__code__in=("411", "419"), party__isnull=False)


def fresh(org):
    return Organisation.objects.get(pk=org.pk)


@pytest.mark.django_db
def test_an_unbalanced_entry_is_refused_and_nothing_is_written(org, customer):
    # 411 debited 100.00, 706 credited 99.99: off by one cent.
    with pytest.raises(UnbalancedEntry, match=r"0\.01 EUR"):
        post_entry(org, draft(org, ("411", "100.00", customer), ("706", "-99.99", None)), idempotency_key="k")

    assert Entry.objects.count() == 0
    assert LedgerHead.objects.get(organisation=org).last_sequence == 0


@pytest.mark.django_db
def test_an_entry_without_lines_or_with_another_organisations_account_is_refused(org, customer):
    other = Organisation.objects.create(name="Autre", slug="autre")
    create_default_chart(other)
    foreign = EntryDraft(journal=org.journals.get(code="OD"), date=MARCH_1, label="Mixed", lines=(
        LineDraft.signed(org.accounts.get(code="512"), eur("10")),
        LineDraft.signed(other.accounts.get(code="706"), eur("-10"))))

    with pytest.raises(EmptyEntry):
        post_entry(org, EntryDraft(journal=org.journals.get(code="OD"), date=MARCH_1, label="Empty", lines=()),
                   idempotency_key="empty")
    with pytest.raises(ForeignAccount):
        post_entry(org, foreign, idempotency_key="foreign")
    assert Entry.objects.count() == 0


@pytest.mark.django_db
def test_the_same_idempotency_key_returns_the_first_entry_and_writes_once(org, customer):
    first = invoice_like(org, customer, "120.00", key="invoice:7:post")

    again = invoice_like(org, customer, "999.00", key="invoice:7:post")

    assert again.pk == first.pk
    assert Entry.objects.count() == 1
    assert customer_balance(customer) == eur("120.00")


@pytest.mark.django_db
def test_a_batch_with_one_key_twice_writes_it_once(org, customer):
    d = draft(org, ("411", "10.00", customer), ("706", "-10.00", None))

    entries = post_entries(org, [(d, "a"), (d, "a"), (d, "b")])

    assert [e.sequence for e in entries] == [1, 1, 2]
    assert EntryLine.objects.count() == 4
    assert verify_ledger(fresh(org)).ok


@pytest.mark.django_db
def test_entries_are_chained_in_sequence(org, customer):
    first = invoice_like(org, customer, key="a")
    second = invoice_like(org, customer, key="b")

    assert (first.sequence, second.sequence) == (1, 2)
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    head = LedgerHead.objects.get(organisation=org)
    assert (head.last_sequence, head.last_hash) == (2, second.hash)


@pytest.mark.django_db
def test_reversing_an_entry_writes_its_mirror_and_cancels_its_effect(org, customer):
    original = invoice_like(org, customer, "120.00")

    mirror = reverse_entry(entry=original, on=date(2026, 3, 5), label="Annulation", idempotency_key="test:1:reverse")

    assert mirror.reverses == original
    assert sorted((ln.account.code, ln.debit_minor, ln.credit_minor, ln.party_id) for ln in mirror.lines.all()) == [
        ("411", 0, 12000, customer.pk), ("706", 12000, 0, None)]
    assert customer_balance(customer) == Money.zero("EUR")
    assert Entry.objects.get(pk=original.pk).hash == original.hash  # the original is untouched
    assert verify_ledger(fresh(org)).ok


@pytest.mark.django_db
def test_settling_matches_a_debit_with_a_credit_up_to_what_both_have_open(org, customer):
    invoice = receivable(invoice_like(org, customer, "120.00"))
    paid = receivable(payment(org, customer, "50.00"))

    settlement = settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="s1")

    assert settlement.amount == eur("50.00")
    assert open_amount(invoice) == eur("70.00")
    assert open_amount(paid) == Money.zero("EUR")
    # Replaying the same key gives back the same settlement.
    assert settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="s1").pk == settlement.pk
    assert Settlement.objects.count() == 1


@pytest.mark.django_db
def test_settling_more_than_is_open_is_refused(org, customer):
    invoice = receivable(invoice_like(org, customer, "120.00"))
    paid = receivable(payment(org, customer, "150.00"))

    with pytest.raises(SettlementRefused, match=r"only 120\.00 EUR is open"):
        settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, amount=eur("120.01"), idempotency_key="s")

    assert Settlement.objects.count() == 0
    # Without an amount, what is open on both sides is settled: 120.00, leaving 30.00 of credit.
    settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="s")
    assert open_amount(paid) == eur("30.00")
    assert settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="s2") is None


# What booking one payment costs the ledger, counted inside the test's transaction (post_entries and settle take no
# savepoint there). Posting: the head under its lock, the key, the period, the entry, its lines, the head moved on.
# Settling: both lines under their locks, what settled them so far (and the key), the settlement. A collection run
# books thousands of charges: raise a bound only for a new durable write, never for a re-read.
POST_QUERIES, SETTLE_QUERIES = 6, 3


@pytest.mark.django_db
def test_posting_a_payment_and_settling_it_costs_a_fixed_number_of_queries(
        org, customer, django_assert_max_num_queries, django_assert_num_queries):
    invoice = receivable(invoice_like(org, customer, "120.00"))  # the month's period exists from here on
    received = draft(org, ("512", "120.00", None), ("411", "-120.00", customer), journal="BQ")

    with django_assert_max_num_queries(POST_QUERIES):
        entry = post_entry(org, received, idempotency_key="pay")
    with django_assert_num_queries(0):  # a new entry comes back with its lines and their accounts
        (paid,) = [line for line in entry.lines.all() if line.account.code == "411"]
    with django_assert_max_num_queries(SETTLE_QUERIES):
        settlement = settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="pay:settle")

    assert settlement.amount == eur("120.00")
    assert paid == receivable(entry)
    assert paid.credit == eur("120.00")
    assert open_amount(invoice) == Money.zero("EUR")
    assert verify_ledger(fresh(org)).ok


@pytest.mark.django_db
def test_an_entry_whose_lines_fail_to_be_written_leaves_the_callers_transaction_to_roll_back(org, customer):
    # One line on both sides at once balances (10 - 10) but breaks the lines' one-side constraint: the entry row is
    # written, then its lines fail. The caller cannot go on and commit an entry without its lines.
    both_sides = LineDraft(account=org.accounts.get(code="512"), debit=eur("10.00"), credit=eur("10.00"))
    journal = org.journals.get(code="OD")

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            post_entry(org, EntryDraft(journal=journal, date=MARCH_1, label="Both", lines=(both_sides,)),
                       idempotency_key="both")
        with pytest.raises(TransactionManagementError):
            Entry.objects.count()
        transaction.set_rollback(True)  # what leaving the block with the error would do

    assert Entry.objects.count() == 0
    assert LedgerHead.objects.get(organisation=org).last_sequence == 0
    invoice_like(org, customer)  # the ledger goes on from where it was
    assert verify_ledger(fresh(org)).ok


@pytest.mark.django_db
def test_lines_of_two_accounts_or_two_customers_cannot_be_settled_together(org, customer):
    neighbour = Customer.objects.create(organisation=org, ref="C002", name="Paul Durand")
    invoice = receivable(invoice_like(org, customer, "120.00"))
    advance = receivable(post_entry(org, draft(org, ("512", "40.00", None), ("419", "-40.00", customer)),
                                    idempotency_key="advance"))
    other_payment = receivable(payment(org, neighbour, "40.00", key="neighbour"))

    with pytest.raises(SettlementRefused, match="not the same customer account"):
        settle(debit_line_id=invoice.pk, credit_line_id=advance.pk, idempotency_key="x1")
    with pytest.raises(SettlementRefused, match="not the same customer account"):
        settle(debit_line_id=invoice.pk, credit_line_id=other_payment.pk, idempotency_key="x2")
    with pytest.raises(SettlementRefused, match="a debit line and a credit line"):
        settle(debit_line_id=invoice.pk, credit_line_id=invoice.pk, idempotency_key="x3")
    assert Settlement.objects.count() == 0


@pytest.mark.django_db
def test_a_closed_period_refuses_entries_dated_in_it_and_only_in_it(org, customer, clerk):
    close_period(organisation=org, month=MARCH_1, by=clerk)

    with pytest.raises(PeriodClosed):
        post_entry(org, draft(org, ("411", "10", customer), ("706", "-10", None), on=date(2026, 3, 31)),
                   idempotency_key="late")
    april = post_entry(org, draft(org, ("411", "10", customer), ("706", "-10", None), on=date(2026, 4, 1)),
                       idempotency_key="april")

    assert april.sequence == 1
    assert Entry.objects.count() == 1


@pytest.mark.django_db
def test_posted_entries_and_lines_refuse_every_change(org, customer):
    entry = invoice_like(org, customer)
    line = entry.lines.first()
    line.debit_minor += 1

    with pytest.raises(ImmutableRecord):
        line.save()
    with pytest.raises(ImmutableRecord):
        entry.delete()
    with pytest.raises(ImmutableRecord):
        EntryLine.objects.filter(entry=entry).update(label="x")


def _tamper(sql: str, table: str) -> None:
    """Change a row behind the application's back, as a console user could on SQLite.

    On PostgreSQL a trigger refuses such changes; it is switched off inside
    the test's transaction, which rolls back at the end.
    """
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgresql:
            # ALTER TABLE waits for no deferred foreign-key check: run those now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute(sql)
        if postgresql:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@pytest.mark.django_db
def test_verify_finds_a_line_altered_after_posting(org, customer):
    invoice_like(org, customer, key="a")
    altered = invoice_like(org, customer, key="b")
    invoice_like(org, customer, key="c")
    assert verify_ledger(fresh(org)).ok

    line = altered.lines.get(account__code="411")
    _tamper(f"UPDATE ledger_entryline SET debit_minor = 1 WHERE id = {line.pk}", "ledger_entryline")

    problems = {(p.code, p.entry_id) for p in verify_ledger(fresh(org)).problems}
    assert problems == {("unbalanced", altered.pk), ("hash_mismatch", altered.pk)}


@pytest.mark.django_db
def test_verify_finds_a_broken_chain_and_a_missing_entry(org, customer):
    invoice_like(org, customer, key="a")
    second = invoice_like(org, customer, key="b")
    third = invoice_like(org, customer, key="c")

    _tamper(f"UPDATE ledger_entry SET prev_hash = '{'1' * 64}' WHERE id = {third.pk}", "ledger_entry")
    problems = {(p.code, p.entry_id) for p in verify_ledger(fresh(org)).problems}
    assert ("chain_broken", third.pk) in problems

    _tamper(f"UPDATE ledger_entry SET sequence = 30 WHERE id = {second.pk}", "ledger_entry")
    codes = {p.code for p in verify_ledger(fresh(org)).problems}
    assert {"sequence_gap", "hash_mismatch"} <= codes
