"""Recording offline payments and allocating them; every function is one transaction.

Allocation settles the customer's open debit lines (invoices, opening
balances) oldest due first, or the lines the caller chose. What a payment
does not settle is booked as an advance (419) and stays the customer's until
it is allocated later with allocate_advance().
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import transaction

from encaisse.core.audit import record_event
from encaisse.core.money import Money
from encaisse.ledger.models import Account, EntryLine, Journal
from encaisse.ledger.selectors import open_debit_lines
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


def _targets(customer: Customer, line_ids: Sequence[int] | None, *,
             strict: bool = True) -> list[tuple[EntryLine, Money]]:
    """Open debit lines to settle, oldest due first, restricted to `line_ids` when given.

    `strict=False` skips chosen lines settled meanwhile instead of refusing: an
    online payment the provider confirmed cannot be refused, what no longer
    finds its item goes to the advance account.
    """
    lines = open_debit_lines(customer)
    if line_ids is None:
        return lines
    chosen = [item for item in lines if item[0].pk in set(line_ids)]
    if strict and len(chosen) != len(set(line_ids)):
        raise PaymentRefused(reason="an item chosen is not an open item of this customer")
    return chosen


def _plan(amount: Money, targets: list[tuple[EntryLine, Money]]) -> list[tuple[EntryLine, Money]]:
    plan, left = [], amount
    for line, open_amount in targets:
        if left.minor <= 0:
            break
        part = min(open_amount, left)
        plan.append((line, part))
        left = left - part
    return plan


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
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one allocation per customer at a time
    plan = _plan(amount, _targets(customer, line_ids))
    allocated = sum((part for _line, part in plan), Money.zero(amount.currency))
    advance = amount - allocated
    account_kind, journal_kind = MONEY_ACCOUNT[OfflineMethod(method)]
    label = f"{OfflineMethod(method).label} {customer.ref} {reference or cheque_number}".strip()
    lines = [LineDraft.signed(account_of_kind(organisation, account_kind), amount, label=label)]
    if allocated.minor:
        lines.append(LineDraft.signed(account_of_kind(organisation, Account.Kind.RECEIVABLE), -allocated,
                                      party=customer, label=label))
    if advance.minor:
        lines.append(LineDraft.signed(account_of_kind(organisation, Account.Kind.ADVANCE), -advance,
                                      party=customer, label=label))
    entry = post_entry(organisation, EntryDraft(journal=journal_of_kind(organisation, journal_kind),
                                                date=received_on, label=label, lines=tuple(lines)),
                       idempotency_key=key, by=by)
    payment = Payment.objects.create(
        organisation=organisation, customer=customer, method=method, amount_minor=amount.minor,
        currency=amount.currency, received_on=received_on, reference=reference, cheque_bank=cheque_bank,
        cheque_number=cheque_number, entry=entry, idempotency_key=key,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    if allocated.minor:
        credit = entry.lines.get(account__kind=Account.Kind.RECEIVABLE)
        for line, part in plan:
            settle(debit_line_id=line.pk, credit_line_id=credit.pk, amount=part,
                   idempotency_key=f"{key}:settle:{line.pk}", by=by)
    record_event(payment, "recorded", by=by, data={"allocated": allocated.as_json(), "advance": advance.as_json()})
    return payment


def advance_balance(customer: Customer) -> Money:
    """What the customer holds on 419: advances not yet allocated."""
    total = sum(line.credit_minor - line.debit_minor
                for line in EntryLine.objects.filter(party=customer, account__kind=Account.Kind.ADVANCE))
    return Money(total, customer.organisation.currency)


@transaction.atomic
def allocate_advance(*, customer: Customer, on: date, by: Any = None, line_ids: Sequence[int] | None = None,
                     idempotency_key: str) -> Money:
    """Move what the customer holds in advance (419) onto their open items (411); return the amount moved."""
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    available = advance_balance(customer)
    if available.minor <= 0:
        raise NothingToAllocate(customer=str(customer))
    plan = _plan(available, _targets(customer, line_ids))
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
    credit = entry.lines.get(account__kind=Account.Kind.RECEIVABLE)
    for line, part in plan:
        settle(debit_line_id=line.pk, credit_line_id=credit.pk, amount=part,
               idempotency_key=f"{idempotency_key}:settle:{line.pk}", by=by)
    record_event(customer, "advance_allocated", by=by, data={"amount": moved.as_json()})
    return moved
