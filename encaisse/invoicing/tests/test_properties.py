"""Random runs of invoicing, crediting, opening balances and payments keep the books and numbers right.

A Hypothesis state machine plays a clerk: it posts invoices with random lines,
issues full or partial credit notes (and asks for too much now and then),
carries opening balances over, books payments and matches them. After every
step the ledger must verify, every customer's balance must be the sum of their
lines and of what is open on them, no invoice may owe less than nothing, and
each number series must run without a gap.

Each run is one savepoint, rolled back at the end, inside pytest-django's
test transaction.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from encaisse.core.money import Money
from encaisse.invoicing.errors import CreditNoteRefused
from encaisse.invoicing.models import Invoice, InvoiceLine, InvoiceType, VatRate
from encaisse.invoicing.selectors import with_amounts
from encaisse.invoicing.services import CreditLine, issue_credit_note, post_invoice, post_invoices
from encaisse.invoicing.services.crediting import credited_quantities
from encaisse.ledger.models import Entry, EntryLine, Settlement
from encaisse.ledger.selectors import customer_balance, customer_lines, open_credit_lines, open_debit_lines
from encaisse.ledger.services import EntryDraft, LineDraft, post_entry, settle
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Customer, Organisation

MARCH_1 = date(2026, 3, 1)
RATE_CODES = ["FR20", "FR10", "FR55", "FR21", "EXO"]

quantities = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(50), places=4)
prices = st.decimals(min_value=Decimal(0), max_value=Decimal(2000), places=4)
invoice_lines = st.lists(st.tuples(quantities, prices, st.sampled_from(RATE_CODES)), min_size=1, max_size=4)
who = st.integers(min_value=0, max_value=1)
pick = st.integers(min_value=0, max_value=10_000)
cents = st.integers(min_value=1, max_value=300_000)


def _open_on(line_id: int, *, debit: bool) -> int:
    field = "debit_line_id" if debit else "credit_line_id"
    return Settlement.objects.filter(**{field: line_id}).aggregate(s=Sum("amount_minor"))["s"] or 0


def make_machine(org: Organisation):
    invoice_type = InvoiceType.objects.get(organisation=org, code="STANDARD")
    rates = {rate.code: rate for rate in VatRate.objects.filter(organisation=org)}
    accounts = {account.code: account for account in org.accounts.all()}
    journals = {journal.code: journal for journal in org.journals.all()}

    class Clerk(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self._savepoint = transaction.atomic()
            self._savepoint.__enter__()
            self.customers = [Customer.objects.create(organisation=org, ref=f"P{n}", name=f"Customer {n}")
                              for n in range(2)]
            self.invoices: list[int] = []
            self.step = 0

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self._savepoint.__exit__(None, None, None)

        @property
        def today(self) -> date:
            return MARCH_1 + timedelta(days=self.step)

        def _entry(self, journal: str, *lines: tuple[str, int, Customer | None], key: str) -> Entry:
            return post_entry(org, EntryDraft(
                journal=journals[journal], date=self.today, label=key,
                lines=tuple(LineDraft.signed(accounts[code], Money(amount, "EUR"), party=party,
                                             due_on=self.today if party and amount > 0 else None)
                            for code, amount, party in lines),
            ), idempotency_key=key)

        @rule(customer=who, lines=invoice_lines, in_batch=st.booleans())
        def post_an_invoice(self, customer, lines, in_batch):
            self.step += 1
            invoice = Invoice.objects.create(
                organisation=org, invoice_type=invoice_type, party=self.customers[customer], currency="EUR",
                status=Invoice.Status.DRAFT if in_batch else Invoice.Status.VALIDATED)
            InvoiceLine.objects.bulk_create(
                InvoiceLine(invoice=invoice, position=n, label=f"Line {n}", quantity=q, unit_price=p,
                            vat_rate=rates[code], revenue_account=accounts["706"])
                for n, (q, p, code) in enumerate(lines, start=1))
            if in_batch:
                report = post_invoices(organisation=org, invoice_ids=[invoice.pk], today=self.today)
                assert (report.validated, len(report.posted), report.failed) == (1, 1, [])
            else:
                post_invoice(invoice_id=invoice.pk, today=self.today)
            self.invoices.append(invoice.pk)

        @rule(which=pick)
        def credit_all_that_is_left(self, which):
            if not self.invoices:
                return
            invoice = Invoice.objects.get(pk=self.invoices[which % len(self.invoices)])
            self.step += 1
            already = credited_quantities(invoice)
            if all(already.get(line.pk, 0) >= line.quantity for line in invoice.lines.all()):
                with pytest.raises(CreditNoteRefused):
                    issue_credit_note(invoice_id=invoice.pk, today=self.today)
                return
            issue_credit_note(invoice_id=invoice.pk, today=self.today)
            assert credited_quantities(invoice) == {line.pk: line.quantity for line in invoice.lines.all()}
            # Not asserted: nothing left due. Partial notes, each rounded on its own, may leave a cent
            # on the invoice (see the xfail in test_issue_credit_note); the invariant keeps it >= 0.

        @rule(which=pick, line_pick=pick, quantity=quantities)
        def credit_part_of_a_line(self, which, line_pick, quantity):
            if not self.invoices:
                return
            invoice = Invoice.objects.get(pk=self.invoices[which % len(self.invoices)])
            lines = list(invoice.lines.order_by("position"))
            line = lines[line_pick % len(lines)]
            left = line.quantity - credited_quantities(invoice).get(line.pk, Decimal(0))
            self.step += 1
            if quantity > left:
                before = (Invoice.objects.count(), Entry.objects.count(), Settlement.objects.count())
                with pytest.raises(CreditNoteRefused):
                    issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(line.pk, quantity)], today=self.today)
                assert (Invoice.objects.count(), Entry.objects.count(), Settlement.objects.count()) == before
                return
            credit_note = issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(line.pk, quantity)],
                                            today=self.today)
            assert credit_note.total_minor <= 0

        @rule(customer=who, amount=cents, owed=st.booleans())
        def carry_over_an_opening_balance(self, customer, amount, owed):
            self.step += 1
            signed = amount if owed else -amount
            self._entry("OD", ("411", signed, self.customers[customer]), ("471", -signed, None),
                        key=f"opening:{self.step}")

        @rule(customer=who, amount=cents)
        def receive_a_payment_and_match_it(self, customer, amount):
            self.step += 1
            party = self.customers[customer]
            entry = self._entry("BQ", ("512", amount, None), ("411", -amount, party), key=f"payment:{self.step}")
            credit = entry.lines.get(account__code="411")
            for debit, _open in open_debit_lines(party):
                if settle(debit_line_id=debit.pk, credit_line_id=credit.pk,
                          idempotency_key=f"match:{credit.pk}:{debit.pk}") is None:
                    break

        @rule(customer=who)
        def match_the_oldest_credit_with_the_oldest_debt(self, customer):
            self.step += 1
            party = self.customers[customer]
            debits, credits = open_debit_lines(party), open_credit_lines(party)
            if debits and credits:
                settlement = settle(debit_line_id=debits[0][0].pk, credit_line_id=credits[0][0].pk,
                                    idempotency_key=f"match:{credits[0][0].pk}:{debits[0][0].pk}:{self.step}")
                assert settlement.amount_minor == min(debits[0][1].minor, credits[0][1].minor)

        @invariant()
        def the_books_hold(self):
            report = verify_ledger(Organisation.objects.get(pk=org.pk))
            assert report.ok, [p.as_dict() for p in report.problems]
            per_entry = (EntryLine.objects.filter(organisation=org).values("entry")
                         .annotate(d=Sum("debit_minor"), c=Sum("credit_minor")))
            assert all(row["d"] == row["c"] for row in per_entry)

            for party in self.customers:
                lines = list(customer_lines(party).values_list("pk", "debit_minor", "credit_minor"))
                balance = customer_balance(party).minor
                assert balance == sum(d - c for _pk, d, c in lines)
                posted = list(with_amounts(Invoice.objects.filter(party=party, status=Invoice.Status.POSTED)))
                assert all(i.due_minor >= 0 for i in posted if i.kind == Invoice.Kind.INVOICE)
                assert all(i.due_minor <= 0 for i in posted if i.kind == Invoice.Kind.CREDIT_NOTE)
                # Every other line on the customer's account (opening balances, payments) counts for
                # what is still open on it: together with the invoices' amounts due, that is the balance.
                invoice_lines = {i.receivable_line_id for i in posted}
                other_open = sum(
                    (d - _open_on(pk, debit=True)) if d else -(c - _open_on(pk, debit=False))
                    for pk, d, c in lines if pk not in invoice_lines
                )
                assert sum(i.due_minor for i in posted) + other_open == balance

            for prefix, kind in (("F", Invoice.Kind.INVOICE), ("AV", Invoice.Kind.CREDIT_NOTE)):
                numbers = sorted(Invoice.objects.filter(organisation=org, kind=kind, status=Invoice.Status.POSTED)
                                 .values_list("number", flat=True))
                assert numbers == [f"{prefix}-2026-{n:05d}" for n in range(1, len(numbers) + 1)]

    return Clerk


@pytest.mark.django_db
def test_any_run_of_invoices_credit_notes_opening_balances_and_payments_keeps_the_books_right(org):
    run_state_machine_as_test(
        make_machine(org),
        settings=settings(max_examples=25, stateful_step_count=12, deadline=None),
    )
