"""post_entry_lines: one entry of many lines given as tuples, under post_entries' rules."""

from datetime import date

import pytest

from encaisse.ledger.errors import EmptyEntry, ForeignAccount, PeriodClosed, UnbalancedEntry
from encaisse.ledger.models import Entry, EntryLine, LedgerHead
from encaisse.ledger.services import close_period, create_default_chart, post_entry_lines
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Customer, Organisation

MARCH_2 = date(2026, 3, 2)

pytestmark = pytest.mark.django_db


def post(org, lines, *, key="file:1", on=MARCH_2, label="Direct debits"):
    return post_entry_lines(org, journal=org.journals.get(code="BQ"), day=on, label=label, currency="EUR",
                            lines=lines, idempotency_key=key)


def collection_lines(org, customers, amounts):
    """5113 debited with the total, 411 credited per customer: what a direct-debit file books."""
    receivable = org.accounts.get(code="411").pk
    pairs = enumerate(zip(customers, amounts, strict=True))
    return [(org.accounts.get(code="5113").pk, None, sum(amounts), 0, "File"),
            *((receivable, c.pk, 0, amount, f"debit {n}") for n, (c, amount) in pairs)]


def test_lines_are_written_in_order_and_their_ids_follow_them(org, customer):
    second = Customer.objects.create(organisation=org, ref="C2", name="Deux")
    customers, amounts = [customer, second, customer, second], [1000, 2500, 1, 999]

    posted = post(org, collection_lines(org, customers, amounts))

    rows = [EntryLine.objects.values_list("party_id", "credit_minor", "label").get(pk=pk) for pk in posted.line_ids]
    assert rows[1:] == [(c.pk, a, f"debit {n}") for n, (c, a) in enumerate(zip(customers, amounts, strict=True))]
    assert rows[0] == (None, 0, "File")
    assert posted.line_ids == sorted(posted.line_ids)
    assert list(posted.entry.lines.values_list("pk", flat=True)) == posted.line_ids
    assert (posted.entry.sequence, posted.entry.journal.code) == (1, "BQ")
    assert LedgerHead.objects.get(organisation=org).last_hash == posted.entry.hash
    assert verify_ledger(org).ok  # the hash is the one post_entries would chain, line by line


def test_an_unbalanced_entry_is_refused_and_nothing_is_written(org, customer):
    lines = collection_lines(org, [customer], [1000])
    lines[0] = (*lines[0][:2], 999, *lines[0][3:])  # 5113 one cent short

    with pytest.raises(UnbalancedEntry, match=r"0\.01 EUR"):
        post(org, lines)

    assert not Entry.objects.exists()
    assert not EntryLine.objects.exists()
    assert LedgerHead.objects.get(organisation=org).last_sequence == 0


def test_the_same_key_returns_the_first_entry_and_its_lines_and_writes_once(org, customer):
    first = post(org, collection_lines(org, [customer, customer], [100, 200]))

    again = post(org, collection_lines(org, [customer], [999_999]))

    assert (again.entry.pk, again.line_ids) == (first.entry.pk, first.line_ids)
    assert Entry.objects.count() == 1
    assert EntryLine.objects.count() == 3


def test_empty_foreign_closed_or_non_integer_is_refused_before_writing(org, customer, clerk):
    other = Organisation.objects.create(name="Autre", slug="autre")
    create_default_chart(other)
    foreign = collection_lines(org, [customer], [500])
    foreign[1] = (other.accounts.get(code="411").pk, *foreign[1][1:])
    floats = collection_lines(org, [customer], [500])
    floats[1] = (*floats[1][:3], 500.0, floats[1][4])

    with pytest.raises(EmptyEntry):
        post(org, [])
    with pytest.raises(ForeignAccount, match="411"):
        post(org, foreign)
    with pytest.raises(TypeError):
        post(org, floats)
    close_period(organisation=org, month=MARCH_2, by=clerk)
    with pytest.raises(PeriodClosed):
        post(org, collection_lines(org, [customer], [500]))

    assert not Entry.objects.exists()
    assert not EntryLine.objects.exists()


def test_it_follows_and_is_followed_by_the_chain_of_post_entries(org, customer):
    from encaisse.ledger.tests.test_services import invoice_like, payment

    invoice_like(org, customer, key="invoice:1")
    posted = post(org, collection_lines(org, [customer], [12000]))
    after = payment(org, customer, key="pay:1")

    assert (posted.entry.sequence, after.sequence) == (2, 3)
    assert verify_ledger(org).ok
