"""Online payments: checkouts opened with a provider, their results booked once.

The order of things is what keeps money safe:
1. the attempt and its idempotency key are committed before any call, so a
   crash or a retry reuses the key and the provider recognises the request;
2. the provider is called outside any transaction (a slow provider never holds
   a lock, a rollback never forgets a call that happened);
3. results — from the call, a signed notification or fetch() — go through
   apply_provider_result(), which locks the attempt and accepts only forward
   transitions: a late PENDING after SUCCEEDED changes nothing, SUCCEEDED twice
   books once (the entry key is attempt:<id>:settle).

Two tabs paying the same items: both tabs get the same live attempt and the
same hosted session (so the provider can charge once); once the items are
paid, a new checkout for them is refused. Money the provider confirms is never
refused: if its items were settled meanwhile (two sessions both completed), it
is booked as an advance on 419, like an offline overpayment, for staff to
allocate or refund.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from encaisse.core.audit import record_event
from encaisse.core.money import Money
from encaisse.ledger.models import Account, Journal
from encaisse.ledger.selectors import accounts_of_kinds
from encaisse.ledger.services import LineDraft, journal_of_kind
from encaisse.parties.models import Customer

from .errors import PaymentRefused
from .methods import keep_saved_method
from .models import AttemptKind, AttemptStatus, InboundEvent, PaymentAttempt, ProviderAccount
from .providers import adapter_for
from .providers.base import (
    Capability,
    CheckoutNotStarted,
    CheckoutRequest,
    CheckoutSession,
    ForgedWebhook,
    Outcome,
    ProviderEvent,
    ProviderResult,
)
from .refunds import book_refund, resend_refund
from .services import book_receipt, due_on_lines

log = logging.getLogger(__name__)

S = AttemptStatus
FINAL = {S.SUCCEEDED, S.DECLINED, S.NOT_PROCESSED}
LIVE = {S.QUEUED, S.SENDING, S.PENDING}
# status now → the statuses a result may move it to. SUCCEEDED is final; a success confirmed by the
# provider after we recorded a decline or "not processed" is still booked (the money moved: refusing to
# see it would leave it unaccounted for), with an audit event saying so.
TRANSITIONS = {
    S.QUEUED: {S.SENDING, S.PENDING, S.UNKNOWN, *FINAL},
    S.SENDING: {S.PENDING, S.UNKNOWN, *FINAL},
    S.PENDING: set(FINAL),
    S.UNKNOWN: {S.PENDING, *FINAL},
    S.DECLINED: {S.SUCCEEDED},
    S.NOT_PROCESSED: {S.SUCCEEDED},
}


def start_checkout(
    *, customer: Customer, amount: Money, line_ids: Sequence[int], provider_account: ProviderAccount,
    return_url: str, cancel_url: str = "", notify_url: str = "", reference: str = "", description: str = "",
    locale: str = "fr", consent: Mapping[str, Any] | None = None, by: Any = None,
) -> tuple[PaymentAttempt, CheckoutSession]:
    """Open a hosted checkout for `amount` paying `line_ids`; return the attempt and where to send the payer.

    `return_url` may hold "{attempt_id}". A checkout already open for the same
    items, amount and account is reused (same key, same session): the second
    tab pays the first tab's session, never a second one.

    `consent` ({"text", "at", "ip"}) asks the provider to keep the method for
    automatic payment; it is stored on the attempt, and the saved method is
    recorded with it when the provider confirms the payment.
    """
    adapter = adapter_for(provider_account)  # a provider with no adapter fails here, before any attempt exists
    if consent and Capability.SAVE_METHOD not in adapter.capabilities:
        raise PaymentRefused(reason="this payment method cannot be kept for later")
    attempt = _open_attempt(customer=customer, amount=amount, line_ids=line_ids, account=provider_account,
                            consent=consent, by=by)
    if attempt.status == S.PENDING and attempt.response.get("redirect_url"):
        session = CheckoutSession(redirect_url=attempt.response["redirect_url"],
                                  provider_reference=attempt.provider_reference)
        return attempt, session
    request = CheckoutRequest(
        attempt_id=str(attempt.pk), idempotency_key=attempt.idempotency_key, amount=attempt.amount,
        reference=reference or customer.ref, description=description or reference or customer.ref,
        payer_email=customer.email or "", return_url=return_url.replace("{attempt_id}", str(attempt.pk)),
        cancel_url=(cancel_url or return_url).replace("{attempt_id}", str(attempt.pk)),
        notify_url=notify_url or f"/hooks/{provider_account.code}/", locale=locale,
        save_method=bool(attempt.request.get("consent")))
    return attempt, open_hosted_page(attempt, lambda: adapter.start_checkout(request))


def open_hosted_page(attempt: PaymentAttempt, call: Callable[[], CheckoutSession]) -> CheckoutSession:
    """Steps 2 and 3 for a claimed checkout or setup: ask the provider for its page, record where it is.

    The attempt is marked SENDING first; the provider's refusal
    (CheckoutNotStarted) or an adapter error is recorded like any other answer
    and raised again for the caller to tell the payer.
    """
    _mark_sending(attempt)
    try:
        session = call()  # outside any transaction: see the module docstring
    except CheckoutNotStarted as refused:  # the provider's own answer: declined, not processed or unknown
        apply_provider_result(attempt_id=attempt.pk, result=refused.result)
        raise
    except Exception:
        log.exception("%s %s: the adapter failed", attempt.kind, attempt.pk)
        apply_provider_result(attempt_id=attempt.pk, result=ADAPTER_ERROR)
        raise
    with transaction.atomic():
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        locked.provider_reference = session.provider_reference
        locked.response = {**locked.response, "redirect_url": session.redirect_url,
                           "session": dict(session.raw)}
        locked.answered_at = timezone.now()
        fields = ["provider_reference", "response", "answered_at"]
        if locked.status in (S.QUEUED, S.SENDING):
            locked.status = S.PENDING  # waiting for the payer: the answer comes by notification or fetch
            fields.append("status")
        locked.save(update_fields=fields)
    attempt.refresh_from_db()
    return session


# What an adapter that raised leaves on the attempt: UNKNOWN, for resolve_unknown_attempts to ask about later.
ADAPTER_ERROR = ProviderResult(outcome=Outcome.UNKNOWN, message="adapter error")


def _mark_sending(attempt: PaymentAttempt) -> None:
    PaymentAttempt.objects.filter(pk=attempt.pk, status=S.QUEUED).update(status=S.SENDING)


def send_and_apply(attempt: PaymentAttempt, call: Callable[[], ProviderResult], *, by: Any = None
                   ) -> PaymentAttempt:
    """Steps 2 and 3 for a claimed charge or refund: call the provider outside any transaction, apply its answer.

    The attempt is marked SENDING first, so a crash during the call leaves a
    trace the sweep asks about; an adapter that raises leaves it UNKNOWN.
    """
    _mark_sending(attempt)
    try:
        result = call()
    except Exception:
        log.exception("%s %s: the adapter failed", attempt.kind, attempt.pk)
        result = ADAPTER_ERROR
    return apply_provider_result(attempt_id=attempt.pk, result=result, by=by)


@transaction.atomic
def _open_attempt(*, customer: Customer, amount: Money, line_ids: Sequence[int], account: ProviderAccount,
                  consent: Mapping[str, Any] | None, by: Any) -> PaymentAttempt:
    organisation = customer.organisation
    if not account.active or account.organisation_id != organisation.pk:
        raise PaymentRefused(reason="this payment method is not available")
    if amount.currency != organisation.currency:
        raise PaymentRefused(reason=f"the organisation works in {organisation.currency}")
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one checkout decision at a time
    due = due_on_lines(customer, line_ids)
    if amount.minor <= 0 or due.minor <= 0:
        raise PaymentRefused(reason="nothing is left to pay on these items")
    if amount > due:
        raise PaymentRefused(reason=f"only {due} is due on these items")
    ids = sorted({int(pk) for pk in line_ids})
    live = (PaymentAttempt.objects.filter(customer=customer, provider_account=account, kind=AttemptKind.CHECKOUT,
                                          amount_minor=amount.minor, line_ids=ids, status__in=LIVE,
                                          created_at__gte=timezone.now() - timedelta(hours=1))
            .order_by("created_at"))
    # The same items, amount, account and choice to keep the method: the same checkout.
    live = next((found for found in live if bool(found.request.get("consent")) == bool(consent)), None)
    if live is not None:
        return live
    attempt = PaymentAttempt(organisation=organisation, customer=customer, provider_account=account,
                             kind=AttemptKind.CHECKOUT, amount_minor=amount.minor, currency=amount.currency,
                             line_ids=ids, created_by=by if getattr(by, "pk", None) else None)
    attempt.idempotency_key = f"checkout:{attempt.pk}"
    attempt.request = {"amount": amount.as_json(), "line_ids": ids}
    if consent:
        attempt.request["consent"] = {"text": str(consent["text"]), "at": str(consent["at"]),
                                      "ip": consent.get("ip") or None}
    attempt.save(force_insert=True)
    record_event(attempt, "checkout_started", by=by, data={"amount": amount.as_json(), "account": account.code})
    return attempt


@transaction.atomic
def apply_provider_result(*, attempt_id: Any, result: ProviderResult, by: Any = None) -> PaymentAttempt:
    """Move the attempt forward by what the provider said; book the money once when it succeeded.

    A SETUP attempt (a method kept without paying) books nothing: its success
    only keeps the method, once, with the consent stored on the attempt.

    The attempt is read with its customer (locked with it: one decision on the
    customer's account at a time, so booking need not lock it again), the
    organisation and the provider account, in one query.
    """
    attempt = (PaymentAttempt.objects.select_for_update(of=("self", "customer", "customer__organisation"))
               .select_related("customer__organisation", "provider_account").get(pk=attempt_id))
    new = S(result.outcome.value)
    if new == attempt.status or new not in TRANSITIONS.get(S(attempt.status), set()):
        # A late or repeated answer: what we know already is not undone. It may still bring the saved
        # method of a payment that succeeded (PayPal's vault notification comes after the capture).
        if attempt.status == S.SUCCEEDED:
            _keep_method(attempt, result)
        return attempt
    if attempt.status in FINAL:
        record_event(attempt, "late_success", by=by, data={"was": attempt.status})
    attempt.status = new
    attempt.answered_at = timezone.now()
    attempt.decline_code = result.decline_code or ""
    attempt.message = result.message[:2000]
    if result.provider_reference:
        attempt.provider_reference = result.provider_reference
    attempt.response = {**attempt.response, "last": _jsonable(result.raw)}
    fields = ["status", "answered_at", "decline_code", "message", "provider_reference", "response"]
    if new == S.SUCCEEDED and attempt.kind != AttemptKind.SETUP:  # a setup keeps a method and moves no money
        book = book_refund if attempt.kind == AttemptKind.REFUND else _book
        attempt.settled_entry = book(attempt, result, by=by)
        fields.append("settled_entry")
    attempt.save(update_fields=fields)
    if new == S.SUCCEEDED:
        _keep_method(attempt, result)
    record_event(attempt, f"attempt_{new}", by=by,
                 data={"amount": attempt.amount.as_json(), "decline_code": attempt.decline_code})
    return attempt


def _keep_method(attempt: PaymentAttempt, result: ProviderResult) -> None:
    """Keep the method the payer agreed to save, once (keep_saved_method is idempotent on the token)."""
    if result.saved_method and attempt.request.get("consent"):
        keep_saved_method(attempt, result.saved_method)


def _jsonable(raw: Any) -> Any:
    import json

    return json.loads(json.dumps(dict(raw), default=str)) if raw else {}


BOOKING_ACCOUNTS = (Account.Kind.CLEARING, Account.Kind.RECEIVABLE, Account.Kind.ADVANCE, Account.Kind.EXPENSE)


def _book(attempt: PaymentAttempt, result: ProviderResult, *, by: Any) -> Any:
    """Debit the provider clearing account (467), credit the customer (411, the excess on 419), fee on 627."""
    customer = attempt.customer
    organisation = customer.organisation
    amount = result.amount or attempt.amount  # the provider's figure when it gives one: that is what moved
    if amount.currency != organisation.currency:
        raise PaymentRefused(reason=f"the provider reported {amount.currency}")
    label = f"{attempt.provider_account.name} {customer.ref} {attempt.provider_reference}".strip()[:200]
    accounts = accounts_of_kinds(organisation, BOOKING_ACCOUNTS)  # one query for the entry's four accounts
    clearing = accounts[Account.Kind.CLEARING]
    fee_lines = ()
    if result.fee and result.fee.minor:
        fee_lines = (LineDraft.signed(accounts[Account.Kind.EXPENSE], result.fee, label=label),
                     LineDraft.signed(clearing, -result.fee, label=label))
    # A payment the provider confirmed is never refused: items paid meanwhile are skipped (strict=False)
    # and what no longer finds its item stays the customer's on 419. The customer was locked with the attempt.
    entry, allocated, advance = book_receipt(
        customer=customer, amount=amount, money_account=clearing,
        journal=journal_of_kind(organisation, Journal.Kind.CLEARING), on=timezone.localdate(), label=label,
        key=f"attempt:{attempt.pk}:settle", line_ids=attempt.line_ids or None, strict=False,
        extra_lines=fee_lines, by=by, customer_locked=True, accounts=accounts)
    record_event(attempt, "booked", by=by, data={"allocated": allocated.as_json(), "advance": advance.as_json(),
                                                 "fee": result.fee.as_json() if result.fee else None})
    return entry


def _result_of(event: ProviderEvent) -> ProviderResult:
    return ProviderResult(outcome=event.outcome, provider_reference=event.provider_reference, amount=event.amount,
                          fee=event.fee, decline_code=event.decline_code, saved_method=event.saved_method,
                          raw=event.raw)


def record_inbound_event(*, account: ProviderAccount, event: ProviderEvent) -> InboundEvent:
    """Store a verified notification once, then apply it to its attempt in a transaction of its own.

    A duplicate (same account and event id) already processed does nothing. One
    stored but not processed (a crash while applying) is applied again, which
    is safe because apply_provider_result is idempotent.
    """
    attempt = _attempt_of(account, event)
    try:
        with transaction.atomic():
            stored = InboundEvent.objects.create(provider_account=account, event_id=event.event_id,
                                                 payload=_jsonable(event.raw), outcome=event.outcome.value,
                                                 attempt=attempt)
    except IntegrityError:
        stored = InboundEvent.objects.get(provider_account=account, event_id=event.event_id)
        if stored.processed_at is not None:
            return stored
    if attempt is not None:
        apply_provider_result(attempt_id=attempt.pk, result=_result_of(event))
    InboundEvent.objects.filter(pk=stored.pk).update(processed_at=timezone.now())
    stored.refresh_from_db()
    return stored


def _attempt_of(account: ProviderAccount, event: ProviderEvent) -> PaymentAttempt | None:
    attempts = PaymentAttempt.objects.filter(provider_account=account)
    if event.attempt_id:
        try:
            if found := attempts.filter(pk=event.attempt_id).first():
                return found
        except Exception:  # not a UUID: the provider echoed something else
            pass
    return attempts.filter(provider_reference=event.provider_reference).first() if event.provider_reference else None


def receive_webhook(*, code: str, body: bytes, headers: Any) -> InboundEvent | None:
    """Verify a notification on its raw body and record it; ForgedWebhook (→ 400) writes nothing.

    Raises ProviderAccount.DoesNotExist for an unknown or inactive account code.
    """
    account = ProviderAccount.objects.get(code=code, active=True)
    event = adapter_for(account).parse_webhook(body, headers)
    if event is None:
        return None  # an event type Encaisse does not use
    stored = record_inbound_event(account=account, event=event)
    # Some notifications only say "look": PayFiP's carries no result at all and PayPal's ORDER.APPROVED
    # needs the capture that fetch() makes. Ask now (outside any transaction) rather than at the next sweep.
    if event.outcome == Outcome.PENDING and stored.attempt_id is not None:
        try:
            refresh_attempt(stored.attempt)
        except Exception:  # the notification is stored; the periodic sweep asks again
            log.exception("attempt %s: fetch after notification failed", stored.attempt_id)
    return stored


def refresh_attempt(attempt: PaymentAttempt) -> PaymentAttempt:
    """Ask the provider what became of an attempt not yet final (the return page, the periodic task)."""
    if attempt.status in FINAL:
        return attempt
    if attempt.kind == AttemptKind.REFUND and not attempt.provider_reference:
        return resend_refund(attempt)  # no refund id to look up: the key is the only handle
    result = adapter_for(attempt.provider_account).fetch(idempotency_key=attempt.idempotency_key,
                                                         provider_reference=attempt.provider_reference or None)
    return apply_provider_result(attempt_id=attempt.pk, result=result)


def resolve_unknown_attempts(*, older_than_minutes: int = 5) -> dict[str, int]:
    """Re-ask the provider about attempts still sending, pending or unknown after a while; never re-send."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    counts: dict[str, int] = {}
    waiting = (PaymentAttempt.objects.filter(status__in=[S.SENDING, S.PENDING, S.UNKNOWN], created_at__lte=cutoff)
               .select_related("provider_account").order_by("created_at"))
    for attempt in waiting:
        try:
            status = refresh_attempt(attempt).status
        except Exception:
            log.exception("attempt %s: fetch failed", attempt.pk)
            status = "error"
        counts[status] = counts.get(status, 0) + 1
    return counts


__all__ = ["ForgedWebhook", "apply_provider_result", "due_on_lines", "open_hosted_page", "receive_webhook",
           "record_inbound_event", "refresh_attempt", "resolve_unknown_attempts", "send_and_apply", "start_checkout"]
