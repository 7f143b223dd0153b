"""Postings at the same moment on PostgreSQL: the head's lock serializes them, each takes the next number and hash.

post_entries takes no savepoint of its own and reads the head with a read
compiled once per connection (core.prepared): each thread here has its own
connection, so its own compiled reads, and the lock is the only order.
"""

from threading import Event

import pytest
from django.db import transaction

from encaisse.ledger.models import Entry, LedgerHead
from encaisse.ledger.services import post_entry
from encaisse.ledger.tests.test_services import draft, fresh
from encaisse.ledger.verify import verify_ledger
from encaisse.testing.concurrency import others_wait_for_locks, together

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_a_posting_waits_for_the_one_holding_the_head_and_follows_it_in_the_chain(org, customer):
    # The first posting keeps its transaction open until the second is seen waiting on a lock. Were the head read
    # without its lock, the second would take the same sequence and fail on it once the first commits.
    first_draft = draft(org, ("411", "100.00", customer), ("706", "-100.00", None), journal="VE")
    second_draft = draft(org, ("512", "40.00", None), ("411", "-40.00", customer), journal="BQ")
    first_posted = Event()
    saw_waiting = []

    def work(i: int) -> int:
        if i == 0:
            with transaction.atomic():
                entry = post_entry(org, first_draft, idempotency_key="first")
                first_posted.set()
                saw_waiting.append(others_wait_for_locks())
            return entry.pk
        assert first_posted.wait(10)
        return post_entry(org, second_draft, idempotency_key="second").pk

    first_id, second_id = together(2, work)

    assert saw_waiting == [True]
    first, second = Entry.objects.get(pk=first_id), Entry.objects.get(pk=second_id)
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.prev_hash == first.hash
    assert (LedgerHead.objects.get(organisation=org).last_sequence,
            LedgerHead.objects.get(organisation=org).last_hash) == (2, second.hash)
    assert verify_ledger(fresh(org)).ok


def test_postings_at_the_same_moment_take_one_number_each_and_the_same_key_writes_once(org, customer):
    keys = [f"sale:{n}" for n in range(6)] + ["same", "same"]
    drafts = [draft(org, ("411", f"{n + 1}.00", customer), ("706", f"-{n + 1}.00", None), journal="VE")
              for n in range(len(keys))]

    ids = together(len(keys), lambda i: post_entry(org, drafts[i], idempotency_key=keys[i]).pk)

    assert ids[-1] == ids[-2]  # the same key: the entry the first wrote
    assert len(set(ids)) == 7
    assert sorted(Entry.objects.values_list("sequence", flat=True)) == list(range(1, 8))
    assert LedgerHead.objects.get(organisation=org).last_sequence == 7
    assert verify_ledger(fresh(org)).ok
