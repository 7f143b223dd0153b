"""Reading the ledger: balances, statements, open amounts. Nothing here writes."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date

from django.db.models import F, Max, QuerySet, Sum
from django.db.models.functions import Coalesce

from encaisse.core.money import Money
from encaisse.core.prepared import Prepared
from encaisse.parties.models import Customer, Organisation

from .models import Account, Entry, EntryLine, Journal, Settlement

CUSTOMER_ACCOUNT_KINDS = (Account.Kind.RECEIVABLE, Account.Kind.ADVANCE)
PAYMENT_JOURNAL_KINDS = (Journal.Kind.BANK, Journal.Kind.CASH, Journal.Kind.CHEQUES, Journal.Kind.CLEARING)


def customer_lines(customer: Customer) -> QuerySet[EntryLine]:
    return EntryLine.objects.filter(party=customer, account__kind__in=CUSTOMER_ACCOUNT_KINDS)


def customer_balance(customer: Customer) -> Money:
    """What the customer owes (positive) or holds as credit (negative), all customer accounts together."""
    totals = customer_lines(customer).aggregate(d=Coalesce(Sum("debit_minor"), 0), c=Coalesce(Sum("credit_minor"), 0))
    return Money(totals["d"] - totals["c"], customer.organisation.currency)


@dataclass(frozen=True, slots=True)
class StatementLine:
    date: date
    sequence: int
    journal: str
    account: str
    label: str
    debit: Money
    credit: Money
    balance: Money
    due_on: date | None
    entry_id: int


def account_statement(customer: Customer) -> list[StatementLine]:
    """Every line of the customer's account in date order, with the running balance after each."""
    currency = customer.organisation.currency
    running = 0
    rows = []
    for line in customer_lines(customer).select_related("entry__journal", "account").order_by(
        "entry__date", "entry__sequence", "pk"
    ):
        running += line.debit_minor - line.credit_minor
        rows.append(StatementLine(
            date=line.entry.date, sequence=line.entry.sequence, journal=line.entry.journal.code,
            account=line.account.code, label=line.label or line.entry.label,
            debit=Money(line.debit_minor, currency), credit=Money(line.credit_minor, currency),
            balance=Money(running, currency), due_on=line.due_on, entry_id=line.entry_id,
        ))
    return rows


def open_amount(line: EntryLine) -> Money:
    """What is still open on a line: a debit minus what settled it, or a credit minus what it settled."""
    if line.debit_minor:
        settled = Settlement.objects.filter(debit_line=line).aggregate(s=Sum("amount_minor"))["s"] or 0
        return Money(line.debit_minor - settled, line.currency)
    settled = Settlement.objects.filter(credit_line=line).aggregate(s=Sum("amount_minor"))["s"] or 0
    return Money(line.credit_minor - settled, line.currency)


def entry_lines(entry: Entry) -> list[EntryLine]:
    """The entry's lines, each with its account, in the order they were written.

    An entry that post_entry has just written comes with them (no query); any
    other entry's are read in one query.
    """
    if entry.lines.field.remote_field.cache_name in getattr(entry, "_prefetched_objects_cache", {}):
        return list(entry.lines.all())
    return list(entry.lines.select_related("account").order_by("pk"))


def open_debit_lines(customer: Customer, line_ids: Collection[int] | None = None) -> list[tuple[EntryLine, Money]]:
    """The customer's debit lines with something still owed, oldest due first; only `line_ids` when given.

    Naming the lines (a payment of chosen items) lets the database skip the
    customer's other items, and the lines then carry only what paying them
    needs (id, debit, currency, due date): a collection run asks this twice
    per card charge, and the full rows cost more to read than the sum does.
    """
    if line_ids is not None and len(line_ids) == 1:  # a charge of one invoice: a read compiled once
        (line_id,) = line_ids
        return [_open_line(*row) for row in _OPEN_LINE.rows(customer_id=customer.pk, line_id=line_id)]
    lines = customer_lines(customer) if line_ids is None else EntryLine.objects.filter(
        pk__in=line_ids, party=customer).only("pk", "debit_minor", "currency", "due_on")
    lines = _still_owed(lines).order_by("due_on", "pk")
    return [(line, Money(line.debit_minor - line.settled, line.currency)) for line in lines]


def _still_owed(lines: QuerySet[EntryLine]) -> QuerySet[EntryLine]:
    return (lines.filter(debit_minor__gt=0, account__kind=Account.Kind.RECEIVABLE)
            .annotate(settled=Coalesce(Sum("settled_as_debit__amount_minor"), 0))
            .filter(settled__lt=F("debit_minor")))


_OPEN_LINE = Prepared(
    lambda customer_id, line_id: _still_owed(EntryLine.objects.filter(pk=line_id, party_id=customer_id))
    .order_by("due_on", "pk").values_list("pk", "debit_minor", "currency", "due_on", "settled"),
    customer_id=-2_000_000_001, line_id=-2_000_000_002)


def _open_line(pk: int, debit_minor: int, currency: str, due_on: date | None, settled: int
               ) -> tuple[EntryLine, Money]:
    """A row of _OPEN_LINE as open_debit_lines gives it: the line with only those fields, and what is owed."""
    line = EntryLine.from_db(EntryLine.objects.db, ["id", "debit_minor", "currency", "due_on"],
                             (pk, debit_minor, currency, due_on))
    line.settled = settled
    return line, Money(debit_minor - settled, currency)


def open_credit_lines(customer: Customer) -> list[tuple[EntryLine, Money]]:
    lines = (
        customer_lines(customer)
        .filter(credit_minor__gt=0, account__kind=Account.Kind.RECEIVABLE)
        .annotate(settled=Coalesce(Sum("settled_as_credit__amount_minor"), 0))
        .filter(settled__lt=F("credit_minor"))
        .order_by("entry__date", "pk")
    )
    return [(line, Money(line.credit_minor - line.settled, line.currency)) for line in lines]


def accounts_of_kinds(organisation: Organisation, kinds: Iterable[str]) -> dict[str, Account]:
    """The organisation's first account (by code) of each kind, in one query; kinds it has none of are left out.

    The same choice as ledger.services.account_of_kind, for a posting that
    needs several accounts (a receipt: the money account, 411, 419, 627).
    """
    wanted = sorted(set(kinds))
    if not wanted:
        return {}
    if len(wanted) > len(_KIND_MARKERS):
        accounts = Account.objects.filter(organisation=organisation, kind__in=wanted).order_by("code")
    else:
        accounts = [_account(organisation, row) for row in _ACCOUNTS_OF_KINDS.rows(organisation_id=organisation.pk,
                                                                                   **_kind_slots(wanted))]
    found: dict[str, Account] = {}
    for account in accounts:
        found.setdefault(account.kind, account)
    return found


ACCOUNT_FIELDS = ("id", "organisation_id", "code", "name", "kind")  # Account's and Journal's columns, in order
_KIND_MARKERS = tuple(f"kind{n}" for n in range(6))
_ACCOUNTS_OF_KINDS = Prepared(
    lambda organisation_id, **kinds: Account.objects.filter(organisation_id=organisation_id,
                                                            kind__in=list(kinds.values()))
    .order_by("code").values_list(*ACCOUNT_FIELDS),
    organisation_id=-2_000_000_001, **{name: f"\x00marker:{name}\x00" for name in _KIND_MARKERS})


def _kind_slots(wanted: list[str]) -> dict[str, str]:
    """_ACCOUNTS_OF_KINDS' kind arguments: the slots left over repeat the first kind (the same IN list)."""
    return dict(zip(_KIND_MARKERS, wanted + wanted[:1] * (len(_KIND_MARKERS) - len(wanted)), strict=True))


def _account(organisation: Organisation, row: tuple) -> Account:
    account = Account.from_db(Account.objects.db, list(ACCOUNT_FIELDS), row)
    Account._meta.get_field("organisation").set_cached_value(account, organisation)
    return account


@dataclass(frozen=True, slots=True)
class CustomerBalance:
    customer_id: int
    ref: str
    name: str
    balance: Money
    overdue: Money
    last_payment_on: date | None


def balances_overview(organisation: Organisation, *, today: date) -> list[CustomerBalance]:
    """Every customer of the organisation with balance, overdue amount and last payment date.

    Three grouped queries, whatever the number of customers, so the overview
    stays fast for a town's hundred thousand citizens.
    """
    currency = organisation.currency
    lines = EntryLine.objects.filter(organisation=organisation, account__kind__in=CUSTOMER_ACCOUNT_KINDS,
                                     party__isnull=False)
    balances = dict(
        lines.values("party").annotate(b=Sum("debit_minor") - Sum("credit_minor")).values_list("party", "b")
    )
    overdue_lines = (
        lines.filter(debit_minor__gt=0, due_on__lt=today, account__kind=Account.Kind.RECEIVABLE)
        .annotate(settled=Coalesce(Sum("settled_as_debit__amount_minor"), 0))
        .values_list("party", "debit_minor", "settled")
    )
    overdue: dict[int, int] = {}
    for party, debit, settled in overdue_lines:
        overdue[party] = overdue.get(party, 0) + debit - settled
    last_payments = dict(
        lines.filter(credit_minor__gt=0, entry__journal__kind__in=PAYMENT_JOURNAL_KINDS)
        .values("party").annotate(last=Max("entry__date")).values_list("party", "last")
    )
    return [
        CustomerBalance(
            customer_id=pk, ref=ref, name=name,
            balance=Money(balances.get(pk, 0), currency),
            overdue=Money(max(overdue.get(pk, 0), 0), currency),
            last_payment_on=last_payments.get(pk),
        )
        for pk, ref, name in Customer.objects.filter(organisation=organisation).order_by("name", "pk")
        .values_list("pk", "ref", "name")
    ]
