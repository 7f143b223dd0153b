"""Recording offline payments and allocating them; every function is one transaction.

Allocation settles the customer's open debit lines (invoices, opening
balances) oldest due first, or the lines the caller chose. What a payment
does not settle is booked as an advance (419) and stays the customer's until
it is allocated later with allocate_advance().
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce

from encaisse.core.audit import record_event
from encaisse.core.money import Money
from encaisse.ledger.models import Account, Entry, EntryLine, Journal
from encaisse.ledger.selectors import accounts_of_kinds, entry_lines, open_debit_lines
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entry, settle
from encaisse.parties.models import Customer

from .errors import NothingToAllocate, PaymentRefused
from .models import OfflineMethod, Payment

# Where each kind of money lands: cheques wait on 5112 until deposited, cash in 53, transfers in the
# bank, card-terminal takings on the acquirer's clearing account until its payout.
MONEY_ACCOUNT = {
    OfflineMethod.CHEQUE: (Account.Kind.CHEQUES, Journal.Kind.CHEQUES),
    OfflineMethod.CASH: (Account.Kind.CASH, Journal.Kind.CASH),
    OfflineMethod.TRANSFER: (Account.Kind.BANK, Journal.Kind.BANK),
    OfflineMethod.TERMINAL: (Account.Kind.CLEARING, Journal.Kind.CLEARING),
}


def items_to_settle(customer: Customer, line_ids: Sequence[int] | None, *,
             strict: bool = True) -> list[tuple[EntryLine, Money]]:
    """Open debit lines to settle, oldest due first, restricted to `line_ids` when given.

    `strict=False` skips chosen lines settled meanwhile instead of refusing: an
    online payment the provider confirmed cannot be refused, what no longer
    finds its item goes to the advance account.
    """
    if line_ids is None:
        return open_debit_lines(customer)
    wanted = {int(pk) for pk in line_ids}
    chosen = open_debit_lines(customer, wanted)  # only those: another customer's or a settled line is not found
    if strict and len(chosen) != len(wanted):
        raise PaymentRefused(reason="an item chosen is not an open item of this customer")
    return chosen


def due_on_lines(customer: Customer, line_ids: Sequence[int], *, strict: bool = False) -> Money:
    """What is still open on these receivable lines of the customer, recomputed from the ledger now.

    `strict=True` refuses (PaymentRefused) items that are not open items of the
    customer, as items_to_settle does; by default they count for nothing.
    """
    targets = items_to_settle(customer, line_ids, strict=strict)
    return sum((part for _line, part in targets), Money.zero(customer.organisation.currency))


def plan_allocation(amount: Money, targets: list[tuple[EntryLine, Money]]) -> list[tuple[EntryLine, Money]]:
    plan, left = [], amount
    for line, open_amount in targets:
        if left.minor <= 0:
            break
        part = min(open_amount, left)
        plan.append((line, part))
        left = left - part
    return plan


def book_receipt(
    *, customer: Customer, amount: Money, money_account: Account, journal: Journal, on: date, label: str, key: str,
    line_ids: Sequence[int] | None = None, strict: bool = True, extra_lines: Sequence[LineDraft] = (), by: Any = None,
    customer_locked: bool = False, accounts: Mapping[str, Account] | None = None,
) -> tuple[Entry, Money, Money]:
    """Book money received from a customer and settle what it pays; return (entry, allocated, advance).

    Debits `money_account`, credits 411 for what settles the customer's open
    items (oldest due first, or `line_ids`) and 419 for the rest, in one entry
    keyed `key`, then settles the items. The customer row is locked first, so
    two receipts for one customer never settle an item twice. Every way money
    comes in (offline payment, provider payment) goes through here.

    A caller that locked the customer row already in this transaction says so
    (`customer_locked`), and may pass the organisation's 411 and 419 accounts
    it read for the same posting (`accounts`, by kind): both save a query per
    payment, which counts when a collection run books thousands.
    """
    if not customer_locked:
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
    plan = plan_allocation(amount, items_to_settle(customer, line_ids, strict=strict))
    allocated = sum((part for _line, part in plan), Money.zero(amount.currency))
    advance = amount - allocated
    organisation = customer.organisation
    if accounts is None or not {Account.Kind.RECEIVABLE, Account.Kind.ADVANCE} <= accounts.keys():
        accounts = accounts_of_kinds(organisation, (Account.Kind.RECEIVABLE, Account.Kind.ADVANCE))
    lines = [LineDraft.signed(money_account, amount, label=label)]
    if allocated.minor:
        lines.append(LineDraft.signed(accounts[Account.Kind.RECEIVABLE], -allocated, party=customer, label=label))
    if advance.minor:
        lines.append(LineDraft.signed(accounts[Account.Kind.ADVANCE], -advance, party=customer, label=label))
    entry = post_entry(organisation, EntryDraft(journal=journal, date=on, label=label,
                                                lines=(*lines, *extra_lines)), idempotency_key=key, by=by)
    _settle_plan(entry, plan, key=key, by=by)
    return entry, allocated, advance


def _settle_plan(entry: Entry, plan: list[tuple[EntryLine, Money]], *, key: str, by: Any) -> None:
    if not plan:
        return
    # The entry's one line on the customer account (411): a new entry comes back with its lines, no query.
    (credit_id,) = [line.pk for line in entry_lines(entry) if line.account.kind == Account.Kind.RECEIVABLE]
    for line, part in plan:
        settle(debit_line_id=line.pk, credit_line_id=credit_id, amount=part, idempotency_key=f"{key}:settle:{line.pk}",
               by=by)


@transaction.atomic
def record_offline_payment(
    *, customer: Customer, method: str, amount: Money, received_on: date, by: Any = None,
    line_ids: Sequence[int] | None = None, reference: str = "", cheque_bank: str = "", cheque_number: str = "",
    idempotency_key: str | None = None,
) -> Payment:
    """Record a cheque, cash, transfer or terminal payment and allocate it.

    The same idempotency key returns the payment recorded the first time (a
    double click, a re-submitted form). Partial payments leave the rest of an
    invoice due; an overpayment becomes an advance on 419.
    """
    organisation = customer.organisation
    if amount.currency != organisation.currency:
        raise PaymentRefused(reason=f"the organisation works in {organisation.currency}")
    if amount.minor <= 0:
        raise PaymentRefused(reason="the amount must be more than zero")
    if method == OfflineMethod.CHEQUE and not cheque_number:
        raise PaymentRefused(reason="a cheque needs its number")
    key = idempotency_key or f"payment:{customer.pk}:{method}:{received_on}:{amount.minor}:{reference}{cheque_number}"
    if existing := Payment.objects.filter(organisation=organisation, idempotency_key=key).first():
        return existing
    account_kind, journal_kind = MONEY_ACCOUNT[OfflineMethod(method)]
    label = f"{OfflineMethod(method).label} {customer.ref} {reference or cheque_number}".strip()
    entry, allocated, advance = book_receipt(
        customer=customer, amount=amount, money_account=account_of_kind(organisation, account_kind),
        journal=journal_of_kind(organisation, journal_kind), on=received_on, label=label, key=key,
        line_ids=line_ids, by=by)
    payment = Payment.objects.create(
        organisation=organisation, customer=customer, method=method, amount_minor=amount.minor,
        currency=amount.currency, received_on=received_on, reference=reference, cheque_bank=cheque_bank,
        cheque_number=cheque_number, entry=entry, idempotency_key=key,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    record_event(payment, "recorded", by=by, data={"allocated": allocated.as_json(), "advance": advance.as_json()})
    return payment


def advance_balance(customer: Customer) -> Money:
    """What the customer holds on 419: advances not yet allocated."""
    totals = EntryLine.objects.filter(party=customer, account__kind=Account.Kind.ADVANCE).aggregate(
        c=Coalesce(Sum("credit_minor"), 0), d=Coalesce(Sum("debit_minor"), 0))
    return Money(totals["c"] - totals["d"], customer.organisation.currency)


@transaction.atomic
def allocate_advance(*, customer: Customer, on: date, by: Any = None, line_ids: Sequence[int] | None = None,
                     idempotency_key: str) -> Money:
    """Move what the customer holds in advance (419) onto their open items (411); return the amount moved."""
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    available = advance_balance(customer)
    if available.minor <= 0:
        raise NothingToAllocate(customer=str(customer))
    plan = plan_allocation(available, items_to_settle(customer, line_ids))
    moved = sum((part for _line, part in plan), Money.zero(available.currency))
    if not moved.minor:
        return moved
    organisation = customer.organisation
    label = f"Affectation d'avance {customer.ref}"
    entry = post_entry(organisation, EntryDraft(
        journal=journal_of_kind(organisation, Journal.Kind.MISC), date=on, label=label,
        lines=(LineDraft.signed(account_of_kind(organisation, Account.Kind.ADVANCE), moved, party=customer,
                                label=label),
               LineDraft.signed(account_of_kind(organisation, Account.Kind.RECEIVABLE), -moved, party=customer,
                                label=label))),
        idempotency_key=idempotency_key, by=by)
    _settle_plan(entry, plan, key=idempotency_key, by=by)
    record_event(customer, "advance_allocated", by=by, data={"amount": moved.as_json()})
    return moved
