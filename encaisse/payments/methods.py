"""Saved payment methods: kept with the payer's consent, charged off-session, revoked on request.

Only the provider's token is kept (and what a person needs to recognise the
method: brand, last four digits, expiry). The consent is recorded with the
exact text shown, the time and the payer's IP address, because it is what
allows charging a customer who is not there.

A method is never deleted: revoking or expiring it changes its status and
keeps the row (and its consent) for the record. A customer has at most one
default method among the active ones (a database constraint); the first one
kept becomes it.

Off-session charges follow the same three steps as checkouts (see online.py):
the attempt is claimed under the caller's idempotency key and committed, the
provider is called outside any transaction, and its answer goes through
online.apply_provider_result(), which books the money once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.core.prepared import Prepared
from encaisse.parties.models import Customer, Organisation

from .errors import PaymentRefused
from .models import (
    AttemptKind,
    AttemptStatus,
    PaymentAttempt,
    ProviderCode,
    SavedMethod,
    SavedMethodKind,
    SavedMethodStatus,
)
from .providers import adapter_for
from .providers.base import Capability, ChargeRequest, SavedMethodInfo
from .services import due_on_lines

S = AttemptStatus
# A charge in one of these states may have reached the provider without an answer recorded: asking again
# under the same key makes an idempotent provider replay its first answer instead of charging twice.
RESENDABLE = {S.QUEUED, S.SENDING, S.UNKNOWN}
# While a charge for some items is in one of these states, another charge of the same items is refused.
UNDER_WAY = {S.QUEUED, S.SENDING, S.PENDING, S.UNKNOWN}


class MethodRefused(DomainError):
    code = "method_refused"
    message = gettext_lazy("This payment method cannot be changed: %(reason)s")


def consent_text(organisation: Organisation) -> str:
    """The sentence the payer agrees to when keeping a method; stored word for word with the consent."""
    return _("I allow %(organisation)s to keep this payment method with its payment provider and to charge it "
             "for my future invoices when they fall due. I can withdraw this permission at any time.") % {
        "organisation": organisation.name}


def keep_saved_method(attempt: PaymentAttempt, info: SavedMethodInfo) -> SavedMethod:
    """Record the method a successful checkout kept, with the consent stored on the attempt.

    Idempotent on (provider account, token), by the database's unique
    constraint: a notification and a fetch bringing the same method, even at
    the same moment, record it once. The customer's first active method
    becomes their default. Called by apply_provider_result with the attempt
    locked, inside its transaction.
    """
    account = attempt.provider_account
    existing = SavedMethod.objects.filter(provider_account=account, token=info.token).first()
    if existing is not None:
        return existing
    consent = attempt.request["consent"]
    method = SavedMethod(
        organisation_id=attempt.organisation_id, customer_id=attempt.customer_id, provider_account=account,
        kind=SavedMethodKind.PAYPAL if account.provider == ProviderCode.PAYPAL else SavedMethodKind.CARD,
        token=info.token, customer_token=info.customer_token or "", brand=info.brand[:32], last4=info.last4[-4:],
        exp_month=info.exp_month, exp_year=info.exp_year, consent_text=consent["text"],
        consent_at=_moment(consent["at"]), consent_ip=consent.get("ip") or None, source_attempt=attempt)
    method.is_default = not _active(attempt.customer_id).filter(is_default=True).exists()
    try:
        with transaction.atomic():  # a savepoint: a lost race leaves the outer transaction usable
            method.save(force_insert=True)
    except IntegrityError:
        if found := SavedMethod.objects.filter(provider_account=account, token=info.token).first():
            return found  # the same method, recorded by a concurrent notification or fetch
        # Another method became the customer's default meanwhile: this one is kept without being it.
        method.pk, method.is_default = None, False
        with transaction.atomic():
            method.save(force_insert=True)
    record_event(method, "method_saved", data={"attempt": str(attempt.pk), "account": account.code,
                                               "default": method.is_default})
    if method.is_default:
        # The consent just given says the card is charged for future invoices: a customer not yet collected
        # automatically now is, by this card. One who chose direct debit keeps it.
        _switch_collect_by(method.customer_id, when=Customer.CollectBy.NOTHING, to=Customer.CollectBy.CARD,
                           by=None, why="first card kept")
    return method


def _switch_collect_by(customer_id: int, *, when: str, to: str, by: Any, why: str) -> None:
    """Move the customer's collect_by from `when` to `to` (a conditional UPDATE: never over a newer choice); audit it.

    The same rule as sepa.preferences.switch_collect_by, which payments may not import.
    """
    if Customer.objects.filter(pk=customer_id, collect_by=when).update(collect_by=to):
        customer = Customer.objects.only("pk", "organisation_id").get(pk=customer_id)
        record_event(customer, "collection_method_changed", by=by, data={"from": when, "to": to, "why": why})


def _moment(value: Any) -> datetime:
    """The consent time as stored on the attempt (ISO text) back to an aware datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _active(customer_id: int) -> Any:
    return SavedMethod.objects.filter(customer_id=customer_id, status=SavedMethodStatus.ACTIVE)


@transaction.atomic
def set_default_method(method: SavedMethod, *, by: Any) -> SavedMethod:
    """Make an active method the one automatic collection charges; the previous default stops being it."""
    Customer.objects.select_for_update().filter(pk=method.customer_id).first()  # one change at a time
    method = SavedMethod.objects.select_for_update().get(pk=method.pk)
    if method.status != SavedMethodStatus.ACTIVE:
        raise MethodRefused(reason=_("only an active method can be the default"))
    if method.is_default:
        return method
    # Unset first: the database allows one active default per customer at any moment.
    _active(method.customer_id).filter(is_default=True).update(is_default=False)
    method.is_default = True
    method.save(update_fields=["is_default"])
    record_event(method, "method_made_default", by=by)
    return method


@transaction.atomic
def revoke_method(method: SavedMethod, *, reason: str, by: Any) -> SavedMethod:
    """Stop charging a method (the customer withdrew consent, a card was lost); the row and its consent stay.

    A revoked default stops being the default; no other method takes its
    place by itself (charging another card is the customer's choice), so a
    customer collected by card is no longer collected automatically. Revoking
    a revoked method changes nothing.
    """
    reason = (reason or "").strip()
    if not reason:
        raise MethodRefused(reason=_("say why it is revoked"))
    method = SavedMethod.objects.select_for_update().get(pk=method.pk)
    if method.status == SavedMethodStatus.REVOKED:
        return method
    was_default = method.is_default and method.status == SavedMethodStatus.ACTIVE
    method.status = SavedMethodStatus.REVOKED
    method.revoked_at = timezone.now()
    method.revoked_reason = reason[:200]
    method.is_default = False
    method.save(update_fields=["status", "revoked_at", "revoked_reason", "is_default"])
    record_event(method, "method_revoked", by=by, data={"reason": method.revoked_reason})
    if was_default:
        _switch_collect_by(method.customer_id, when=Customer.CollectBy.CARD, to=Customer.CollectBy.NOTHING, by=by,
                           why="default card revoked")
    return method


def _expired_by(today: date) -> Q:
    """Cards valid through their expiry month: expired once a later month has begun."""
    return Q(exp_year__lt=today.year) | Q(exp_year=today.year, exp_month__lt=today.month)


@transaction.atomic
def expire_methods(today: date) -> int:
    """Mark active cards whose expiry month has passed as EXPIRED (a daily task); return how many.

    An expired default stops being the default, and a customer collected by
    card is no longer collected automatically (no other card takes its place).
    """
    expired = list(SavedMethod.objects.select_for_update()
                   .filter(_expired_by(today), status=SavedMethodStatus.ACTIVE, exp_month__isnull=False))
    for method in expired:
        was_default = method.is_default
        method.status, method.is_default = SavedMethodStatus.EXPIRED, False
        method.save(update_fields=["status", "is_default"])
        record_event(method, "method_expired", data={"expiry": f"{method.exp_month:02d}/{method.exp_year}"})
        if was_default:
            _switch_collect_by(method.customer_id, when=Customer.CollectBy.CARD, to=Customer.CollectBy.NOTHING,
                               by=None, why="default card expired")
    return len(expired)


def charge_saved_method(*, method: SavedMethod, amount: Money, line_ids: Sequence[int], key: str,
                        by: Any = None) -> PaymentAttempt:
    """Charge a saved method off-session for `amount` paying `line_ids`; return the attempt.

    `key` is the caller's idempotency key (e.g. naming the collection run and
    invoice): the attempt is stored under it before the provider is called, and
    the provider receives it too. Calling again with the same key returns the
    same attempt and charges nothing more; an attempt left queued, sending or
    unknown (a crash, a timeout) is sent again under that same key, so the
    provider replays its first answer rather than charging twice.

    Refused (PaymentRefused, nothing written): a method not active or past its
    expiry, items that are not open items of the method's customer, an amount
    above what is due on them, a charge of the same items already under way,
    a provider that cannot charge saved methods. A decline is not an error:
    the attempt comes back DECLINED with the provider's code. An adapter that
    raises leaves the attempt UNKNOWN, for online.resolve_unknown_attempts to
    ask the provider about later.
    """
    from . import online  # online imports this module (keep_saved_method): imported here, when both are loaded

    try:
        attempt, method = _claim_charge(method=method, amount=amount, line_ids=line_ids, key=key, by=by)
    except IntegrityError:
        # The same key claimed at the same moment by another process: that one won, and the claim rolled back.
        found = PaymentAttempt.objects.filter(idempotency_key=key).select_related(
            "saved_method__customer__organisation", "provider_account").first()
        if found is None:
            raise  # not the key: a real fault
        attempt, method = _same_charge(found, method), found.saved_method
    if attempt.status not in RESENDABLE:
        return attempt
    request = ChargeRequest(
        attempt_id=str(attempt.pk), idempotency_key=attempt.idempotency_key, amount=attempt.amount,
        method_token=method.token, customer_token=method.customer_token or None,
        statement_label=method.customer.organisation.name[:22])  # the method's organisation, read with it
    return online.send_and_apply(attempt, lambda: adapter_for(attempt.provider_account).charge(request), by=by)


def _key_or_under_way(key: str, customer: Customer) -> list[tuple[Any, str, list[int]]]:
    """(id, key, items) of the attempt stored under `key` if any and of the customer's charges under way.

    One read, compiled once (a collection run claims thousands of charges):
    the attempt under the key is read whole only when there is one.
    """
    return _KEY_OR_UNDER_WAY.rows(key=key, customer_id=customer.pk)


_KEY_OR_UNDER_WAY = Prepared(
    lambda key, customer_id: PaymentAttempt.objects.filter(
        Q(idempotency_key=key) | Q(customer_id=customer_id, kind=AttemptKind.CHARGE, status__in=sorted(UNDER_WAY)))
    .order_by().values_list("pk", "idempotency_key", "line_ids"),
    key="\x00marker:key\x00", customer_id=-2_000_000_001)


def _same_charge(existing: PaymentAttempt, method: SavedMethod) -> PaymentAttempt:
    """The attempt already stored under the caller's key, if it is a charge of this method."""
    if existing.kind != AttemptKind.CHARGE or existing.saved_method_id != method.pk:
        raise PaymentRefused(reason="this idempotency key was used for another payment")
    return existing


@transaction.atomic
def _claim_charge(*, method: SavedMethod, amount: Money, line_ids: Sequence[int], key: str,
                  by: Any) -> tuple[PaymentAttempt, SavedMethod]:
    """The attempt stored under `key`, created (and committed) after every check if there is none yet.

    Returns it with the method as read here (with its customer, organisation
    and provider account). A key claimed by a concurrent call between our look
    up and our insert raises IntegrityError out of this transaction, which
    rolls back whole: the caller then reads that call's attempt. Reads are
    joined (method, customer, organisation and account in one; the attempt
    under this key and the customer's charges under way in another) because
    a collection run claims thousands of charges one after another.
    """
    # One charge decision per customer at a time: the customer row is locked with the method's read, and the
    # key looked up under that lock, so a concurrent call with the same key finds the attempt the first committed.
    method = (SavedMethod.objects.select_related("customer__organisation", "provider_account")
              .select_for_update(of=("customer",)).get(pk=method.pk))
    customer = method.customer
    attempts = _key_or_under_way(key, customer)
    if existing := next((pk for pk, found_key, _items in attempts if found_key == key), None):
        return _same_charge(PaymentAttempt.objects.get(pk=existing), method), method
    if method.status != SavedMethodStatus.ACTIVE:
        raise PaymentRefused(reason=f"this saved method is {method.status}")
    if method.past_expiry(timezone.localdate()):
        raise PaymentRefused(reason="this card has expired")
    account = method.provider_account
    if not account.active:
        raise PaymentRefused(reason="this payment method is not available")
    if Capability.SAVED_METHOD not in adapter_for(account).capabilities:
        raise PaymentRefused(reason="this provider cannot charge a saved method")
    if amount.currency != customer.organisation.currency:
        raise PaymentRefused(reason=f"the organisation works in {customer.organisation.currency}")
    ids = sorted({int(pk) for pk in line_ids})
    if not ids:
        raise PaymentRefused(reason="name the items this charge pays")
    due = due_on_lines(customer, ids, strict=True)  # refuses another customer's items and items already paid
    if amount.minor <= 0:
        raise PaymentRefused(reason="the amount must be positive")
    if amount > due:
        raise PaymentRefused(reason=f"only {due} is due on these items")
    if any(set(items) & set(ids) for _pk, _key, items in attempts):  # every one is under way: the key is new
        raise PaymentRefused(reason="a charge of these items is already under way")
    attempt = PaymentAttempt(organisation_id=method.organisation_id, customer=customer, provider_account=account,
                             kind=AttemptKind.CHARGE, amount_minor=amount.minor, currency=amount.currency,
                             line_ids=ids, saved_method=method, idempotency_key=key,
                             request={"amount": amount.as_json(), "line_ids": ids, "method": method.pk},
                             created_by=by if getattr(by, "pk", None) else None)
    attempt.save(force_insert=True)  # IntegrityError: see the docstring
    record_event(attempt, "charge_started", by=by, data={"amount": amount.as_json(), "method": method.pk})
    return attempt, method


__all__ = ["MethodRefused", "charge_saved_method", "consent_text", "expire_methods", "keep_saved_method",
           "revoke_method", "set_default_method"]
