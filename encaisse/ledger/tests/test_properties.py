"""Whatever the ledger is asked to do, in whatever order, its books stay provably right.

Each example runs in its own savepoint, rolled back at the end, so the
function-scoped organisation of pytest-django is shared safely by examples.
"""

from datetime import date, timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from encaisse.core.money import Money
from encaisse.ledger.errors import SettlementRefused
from encaisse.ledger.models import Entry, EntryLine, LedgerHead, Settlement
from encaisse.ledger.selectors import CUSTOMER_ACCOUNT_KINDS, customer_balance, open_credit_lines, open_debit_lines
from encaisse.ledger.services import EntryDraft, LineDraft, post_entry, reverse_entry, settle
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Customer, Organisation

MARCH_1 = date(2026, 3, 1)


class Rollback(Exception):
    """Raised at the end of an example to undo everything it wrote."""


cents = st.integers(min_value=1, max_value=500_000)
who = st.integers(min_value=0, max_value=2)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("invoice"), who, cents),
        st.tuples(st.just("opening"), who, cents | cents.map(lambda c: -c)),
        st.tuples(st.just("payment"), who, cents),
        st.tuples(st.just("advance"), who, cents),
        st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=40), st.none()),
        st.tuples(st.just("settle"), who, st.none() | cents),
    ),
    min_size=1,
    max_size=14,
)


class Books:
    """The organisation's accounts and journals, and the moves a customer account sees."""

    def __init__(self, org: Organisation, customers: list[Customer]) -> None:
        self.org, self.customers = org, customers
        self.accounts = {a.code: a for a in org.accounts.all()}
        self.journals = {j.code: j for j in org.journals.all()}
        self.keys = 0

    def post(self, journal: str, day: date, *lines: tuple[str, int, Customer | None]) -> Entry:
        self.keys += 1
        return post_entry(self.org, EntryDraft(
            journal=self.journals[journal], date=day, label=f"op {self.keys}",
            lines=tuple(LineDraft.signed(self.accounts[code], Money(amount, "EUR"), party=party,
                                         due_on=day + timedelta(days=30) if party and amount > 0 else None)
                        for code, amount, party in lines),
        ), idempotency_key=f"test:{self.keys}")

    def apply(self, op: tuple, step: int) -> None:
        kind, arg, amount = op
        day = MARCH_1 + timedelta(days=step)
        if kind == "invoice":
            self.post("VE", day, ("411", amount, self.customers[arg]), ("706", -amount, None))
        elif kind == "opening":
            # Carried over from the previous system: owed (411 debit) or held as credit (411 credit), against 471.
            self.post("OD", day, ("411", amount, self.customers[arg]), ("471", -amount, None))
        elif kind == "payment":
            self.post("BQ", day, ("512", amount, None), ("411", -amount, self.customers[arg]))
        elif kind == "advance":
            self.post("BQ", day, ("512", amount, None), ("419", -amount, self.customers[arg]))
        elif kind == "reverse":
            entries = list(Entry.objects.filter(organisation=self.org).order_by("sequence"))
            if entries:
                target = entries[arg % len(entries)]
                reverse_entry(entry=target, on=day, label="reversal", idempotency_key=f"reverse:{target.pk}")
        elif kind == "settle":
            self.settle_oldest(self.customers[arg], amount)

    def settle_oldest(self, customer: Customer, amount: int | None) -> None:
        debits, credits = open_debit_lines(customer), open_credit_lines(customer)
        if not debits or not credits:
            return
        (debit, debit_open), (credit, credit_open) = debits[0], credits[0]
        before = Settlement.objects.count()
        self.keys += 1  # a new key: the same pair may be settled again, a bit more each time
        if amount is not None and amount > min(debit_open.minor, credit_open.minor):
            with pytest.raises(SettlementRefused):
                settle(debit_line_id=debit.pk, credit_line_id=credit.pk, amount=Money(amount, "EUR"),
                       idempotency_key=f"settle:{self.keys}:{debit.pk}:{credit.pk}")
            assert Settlement.objects.count() == before
            return
        settle(debit_line_id=debit.pk, credit_line_id=credit.pk,
               amount=None if amount is None else Money(amount, "EUR"),
               idempotency_key=f"settle:{self.keys}:{debit.pk}:{credit.pk}")
        assert Settlement.objects.count() == before + 1


def assert_books_hold(org: Organisation, customers: list[Customer]) -> None:
    fresh = Organisation.objects.get(pk=org.pk)
    report = verify_ledger(fresh)
    assert report.ok, [p.as_dict() for p in report.problems]

    entries = list(Entry.objects.filter(organisation=org).order_by("sequence").values_list("sequence", flat=True))
    assert entries == list(range(1, len(entries) + 1))
    assert LedgerHead.objects.get(organisation=org).last_sequence == len(entries)
    per_entry = EntryLine.objects.filter(organisation=org).values("entry").annotate(
        d=Sum("debit_minor"), c=Sum("credit_minor"))
    assert all(row["d"] == row["c"] for row in per_entry)

    for customer in customers:
        lines = list(EntryLine.objects.filter(party=customer, account__kind__in=CUSTOMER_ACCOUNT_KINDS)
                     .values_list("pk", "debit_minor", "credit_minor"))
        balance = customer_balance(customer)
        assert balance.minor == sum(d - c for _pk, d, c in lines)
        # What is open on each line, from the settlements: never negative, and together the balance.
        open_total = 0
        for pk, debit, credit in lines:
            settled = (Settlement.objects.filter(debit_line_id=pk).aggregate(s=Sum("amount_minor"))["s"] or 0
                       if debit else
                       Settlement.objects.filter(credit_line_id=pk).aggregate(s=Sum("amount_minor"))["s"] or 0)
            left = (debit or credit) - settled
            assert left >= 0
            open_total += left if debit else -left
        assert open_total == balance.minor


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(ops=operations)
def test_any_sequence_of_postings_keeps_every_entry_balanced_and_every_balance_the_sum_of_its_lines(org, ops):
    try:
        with transaction.atomic():
            customers = [Customer.objects.create(organisation=org, ref=f"P{n}", name=f"Customer {n}")
                         for n in range(3)]
            books = Books(org, customers)
            for step, op in enumerate(ops):
                books.apply(op, step)
            assert_books_hold(org, customers)
            raise Rollback
    except Rollback:
        pass
