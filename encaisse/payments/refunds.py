"""Refunds: through the provider (an attempt of kind REFUND) or out of a customer's advance (offline).

A provider refund follows the same three steps as any call to a provider
(see online.py): claim the REFUND attempt with its idempotency key and
commit, call the provider outside any transaction, apply its answer through
apply_provider_result, which books the refund once (book_refund).

The claim locks the payment being refunded, so two clerks refunding it at
once are decided one after the other: what is refundable counts every refund
that succeeded or may still succeed (queued, sending, pending, unknown).

The money leaves through the provider (credit 467). The customer is debited
first on their advance (419), as far as it goes, then on 411: that part is
owed by the customer again, unless a credit already open on their account
(a credit note issued before the refund) covers it, in which case the two
lines are settled against each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from encaisse.core.audit import record_event
from encaisse.core.money import Money
from encaisse.ledger.models import Account, Entry, Journal
from encaisse.ledger.selectors import open_credit_lines
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entry, settle
from encaisse.parties.models import Customer

from .errors import RefundRefused
from .models import AdvanceRefund, AttemptKind, AttemptStatus, OfflineMethod, PaymentAttempt
from .providers import adapter_for
from .providers.base import Capability, ProviderResult, RefundRequest
from .services import MONEY_ACCOUNT, advance_balance

log = logging.getLogger(__name__)

S = AttemptStatus
# A refund in one of these states has moved the money or may still move it: it counts against what is refundable.
COUNTED = (S.SUCCEEDED, S.QUEUED, S.SENDING, S.PENDING, S.UNKNOWN)
# States in which sending the same request again, under the same key, is how we learn the answer.
RESENDABLE = (S.QUEUED, S.SENDING, S.UNKNOWN)
# Providers whose refund call carries no idempotency key (Ogone's DirectLink maintenance): sending again
# could refund twice, so a refund of theirs is sent once and only ever looked up afterwards.
NOT_IDEMPOTENT = frozenset({"ogone"})
ADVANCE_REFUND_METHODS = (OfflineMethod.TRANSFER, OfflineMethod.CHEQUE, OfflineMethod.CASH)


# --- What a refund does to the customer's account ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefundSplit:
    """Where a refund of `amount` is taken from on the customer's account, as of now."""

    amount: Money
    from_advance: Money  # debited on 419: money the customer held with us
    on_receivable: Money  # debited on 411
    covered: Money  # of which settled against credits already open on 411 (a credit note)
    owed_again: Money  # of which the customer owes us again


def refund_split(customer: Customer, amount: Money) -> RefundSplit:
    """Preview (and, under the customer lock, decide) how a refund of `amount` hits the customer's account."""
    held = advance_balance(customer)
    from_advance = min(max(held, Money.zero(amount.currency)), amount)
    on_receivable = amount - from_advance
    open_credit = sum((left for _line, left in open_credit_lines(customer)), Money.zero(amount.currency))
    covered = min(open_credit, on_receivable)
    return RefundSplit(amount=amount, from_advance=from_advance, on_receivable=on_receivable, covered=covered,
                       owed_again=on_receivable - covered)


def book_refund(attempt: PaymentAttempt, result: ProviderResult, *, by: Any = None) -> Entry:
    """Book a refund the provider confirmed; return its entry. Called by apply_provider_result, locked.

    Credit 467 (the money leaves through the provider), debit the customer:
    419 up to their advance, the rest on 411 due today, settled against their
    open credits on 411 where there are some.
    """
    customer = attempt.customer
    organisation = customer.organisation
    amount = result.amount or attempt.amount  # the provider's figure when it gives one: that is what moved
    if amount.currency != organisation.currency:
        raise RefundRefused(reason=f"the provider reported {amount.currency}")
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one decision on this account at a time
    key = f"attempt:{attempt.pk}:refund"
    split = refund_split(customer, amount)
    today = timezone.localdate()
    label = f"Remboursement {attempt.provider_account.name} {customer.ref} {attempt.provider_reference}".strip()[:200]
    lines = [LineDraft.signed(account_of_kind(organisation, Account.Kind.CLEARING), -amount, label=label)]
    if split.from_advance.minor:
        lines.append(LineDraft.signed(account_of_kind(organisation, Account.Kind.ADVANCE), split.from_advance,
                                      party=customer, label=label))
    if split.on_receivable.minor:
        lines.append(LineDraft.signed(account_of_kind(organisation, Account.Kind.RECEIVABLE), split.on_receivable,
                                      party=customer, label=label, due_on=today))
    entry = post_entry(organisation, EntryDraft(journal=journal_of_kind(organisation, Journal.Kind.CLEARING),
                                                date=today, label=label, lines=tuple(lines)),
                       idempotency_key=key, by=by)
    if split.on_receivable.minor:
        _settle_against_credits(entry, customer, key=key, by=by)
    record_event(attempt, "refund_booked", by=by, data={
        "amount": amount.as_json(), "from_advance": split.from_advance.as_json(),
        "covered": split.covered.as_json(), "owed_again": split.owed_again.as_json()})
    return entry


def _settle_against_credits(entry: Entry, customer: Customer, *, key: str, by: Any) -> None:
    """Letter the refund's 411 debit with the customer's open credits on 411, oldest first."""
    debit = entry.lines.get(account__kind=Account.Kind.RECEIVABLE)
    for credit, _left in open_credit_lines(customer):
        if settle(debit_line_id=debit.pk, credit_line_id=credit.pk, idempotency_key=f"{key}:settle:{credit.pk}",
                  by=by) is None:
            break  # nothing left open on the refund's line


# --- Refunding a provider payment ------------------------------------------------------------------------------


def refundable(payment: PaymentAttempt) -> Money:
    """What may still be refunded on a payment: its amount minus refunds succeeded or still under way."""
    counted = sum(payment.refunds.filter(status__in=COUNTED).values_list("amount_minor", flat=True))
    return Money(payment.amount_minor - counted, payment.currency)


def refund_attempt(*, attempt: PaymentAttempt, amount: Money, reason: str, key: str, by: Any = None
                   ) -> PaymentAttempt:
    """Refund `amount` of a succeeded provider payment; return the REFUND attempt with the provider's answer.

    `key` is the caller's one-time key (the back-office form's): the same key
    again returns the refund made under it and never sends a second one; it
    is sent again, under the same key so the provider replays its first answer,
    only while its outcome is not known (queued, sending, unknown). Refusals
    (RefundRefused) write nothing.
    """
    refund = _claim_refund(payment=attempt, amount=amount, reason=reason, key=key, by=by)
    if refund.status not in RESENDABLE:
        return refund
    if refund.status != S.QUEUED and refund.provider_account.provider in NOT_IDEMPOTENT:
        return refund  # it may have been made: only a look at the provider can tell, never a second request
    return _send(refund, by=by)


def _full_key(organisation_id: int, key: str) -> str:
    return f"refund:{organisation_id}:{key}"


@transaction.atomic
def _claim_refund(*, payment: PaymentAttempt, amount: Money, reason: str, key: str, by: Any) -> PaymentAttempt:
    payment = (PaymentAttempt.objects.select_for_update().select_related("provider_account", "customer")
               .get(pk=payment.pk))  # refunds of one payment are decided one at a time
    if not key.strip() or len(key) > 80:
        raise RefundRefused(reason="a refund needs its one-time key (at most 80 characters)")
    full_key = _full_key(payment.organisation_id, key)
    if existing := PaymentAttempt.objects.filter(idempotency_key=full_key).first():
        if existing.refund_of_id != payment.pk:
            raise RefundRefused(reason="this refund form was already used for another payment")
        return existing
    if payment.kind not in (AttemptKind.CHECKOUT, AttemptKind.CHARGE) or payment.status != S.SUCCEEDED:
        raise RefundRefused(reason="only a succeeded payment can be refunded")
    if amount.currency != payment.currency:
        raise RefundRefused(reason=f"the payment was made in {payment.currency}")
    if amount.minor <= 0:
        raise RefundRefused(reason="the amount must be more than zero")
    if not reason.strip():
        raise RefundRefused(reason="say why the payment is refunded")
    capabilities = adapter_for(payment.provider_account).capabilities
    if Capability.REFUND not in capabilities:
        raise RefundRefused(reason=f"{payment.provider_account} cannot refund through its API")
    if amount != payment.amount and Capability.PARTIAL_REFUND not in capabilities:
        raise RefundRefused(reason=f"{payment.provider_account} can only refund the whole payment")
    left = refundable(payment)
    if amount > left:
        raise RefundRefused(reason=f"only {left} can still be refunded on this payment")
    reference = payment_reference(payment)
    if not reference:
        raise RefundRefused(reason="the provider's reference of this payment is not known")
    refund = PaymentAttempt.objects.create(
        organisation_id=payment.organisation_id, customer=payment.customer, provider_account=payment.provider_account,
        kind=AttemptKind.REFUND, refund_of=payment, amount_minor=amount.minor, currency=amount.currency,
        idempotency_key=full_key, created_by=by if getattr(by, "pk", None) else None,
        request={"amount": amount.as_json(), "payment_reference": reference, "reason": reason.strip()[:500]})
    record_event(refund, "refund_requested", by=by, data={"amount": amount.as_json(), "payment": str(payment.pk),
                                                          "reason": reason.strip()[:500]})
    return refund


def payment_reference(payment: PaymentAttempt) -> str:
    """The provider's id of a payment, as its adapter's refund() wants it.

    Stripe takes the Checkout Session or the PaymentIntent, PayPal the
    capture id: both are our reference once the success is recorded (the
    result of either names them). Ogone takes the PAYID, which its answers
    carry, while our reference is the ORDERID when the result came by
    notification.
    """
    if payment.provider_account.provider == "ogone":
        last = payment.response.get("last") or {}
        return str(last.get("PAYID") or payment.provider_reference)
    return payment.provider_reference


def _send(refund: PaymentAttempt, *, by: Any) -> PaymentAttempt:
    """Call the provider outside any transaction, then apply its answer (which books a success once)."""
    from . import online  # online imports this module (book_refund): imported here, when both are loaded

    request = RefundRequest(attempt_id=str(refund.pk), idempotency_key=refund.idempotency_key, amount=refund.amount,
                            payment_reference=refund.request["payment_reference"],
                            reason=refund.request.get("reason", ""))
    return online.send_and_apply(refund, lambda: adapter_for(refund.provider_account).refund(request), by=by)


# A provider keeps an idempotency key's first answer for a day at least (Stripe: 24 hours); sending the same refund
# again under its key inside that window replays the answer instead of refunding twice.
REPLAY_WINDOW = timedelta(hours=24)


def resend_refund(refund: PaymentAttempt) -> PaymentAttempt:
    """Learn what became of a refund whose answer was lost, by sending it again under the same key.

    Providers find refunds by their own id, which a lost answer never gave us;
    the idempotency key is how they recognise the request. Where a provider's
    refund call has no key (Ogone), or the key may have expired, nothing is
    sent: the refund stays unknown for staff to check at the provider, rather
    than risk paying the money back twice.
    """
    if (refund.provider_account.provider in NOT_IDEMPOTENT
            or refund.created_at < timezone.now() - REPLAY_WINDOW):
        log.warning("refund %s: outcome unknown; check it at the provider", refund.pk)
        return refund
    return _send(refund, by=None)


# --- Refunding an advance offline ------------------------------------------------------------------------------


@transaction.atomic
def refund_advance(*, customer: Customer, amount: Money, method: str, paid_on: date, reference: str = "",
                   reason: str = "", key: str, by: Any = None) -> AdvanceRefund:
    """Pay back part or all of a customer's advance (419) by transfer, cheque or cash; one entry, once per key.

    Debit 419, credit the money account (512 for a transfer or a cheque, 53
    for cash) in its journal. The customer row is locked first, so two refunds
    at once never take the same advance twice.
    """
    organisation = customer.organisation
    if not key.strip() or len(key) > 100:
        raise RefundRefused(reason="a refund needs its one-time key (at most 100 characters)")
    if existing := AdvanceRefund.objects.filter(organisation=organisation, idempotency_key=key).first():
        return existing
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    if method not in ADVANCE_REFUND_METHODS:
        raise RefundRefused(reason="an advance is refunded by transfer, cheque or cash")
    if amount.currency != organisation.currency:
        raise RefundRefused(reason=f"the organisation works in {organisation.currency}")
    if amount.minor <= 0:
        raise RefundRefused(reason="the amount must be more than zero")
    held = advance_balance(customer)
    if amount > held:
        raise RefundRefused(reason=f"{customer} holds only {held} in advance")
    if method == OfflineMethod.CHEQUE:
        account_kind, journal_kind = Account.Kind.BANK, Journal.Kind.BANK  # our cheque is drawn on the bank
    else:
        account_kind, journal_kind = MONEY_ACCOUNT[OfflineMethod(method)]
    label = f"Remboursement d'avance {customer.ref} {reference}".strip()[:200]
    entry = post_entry(organisation, EntryDraft(
        journal=journal_of_kind(organisation, journal_kind), date=paid_on, label=label,
        lines=(LineDraft.signed(account_of_kind(organisation, Account.Kind.ADVANCE), amount, party=customer,
                                label=label),
               LineDraft.signed(account_of_kind(organisation, account_kind), -amount, label=label))),
        idempotency_key=f"advance-refund:{key}", by=by)
    refund = AdvanceRefund.objects.create(
        organisation=organisation, customer=customer, method=method, amount_minor=amount.minor,
        currency=amount.currency, paid_on=paid_on, reference=reference[:140], reason=reason[:200], entry=entry,
        idempotency_key=key, created_by=by if getattr(by, "is_authenticated", False) else None)
    record_event(refund, "advance_refunded", by=by, data={"amount": amount.as_json(), "method": method,
                                                          "reason": reason[:200]})
    return refund


__all__ = ["RefundSplit", "book_refund", "payment_reference", "refund_advance", "refund_attempt", "refund_split",
           "refundable"]
