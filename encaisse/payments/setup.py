"""Keeping a payment method without paying: the provider's hosted page in setup mode.

A customer may want automatic collection before any invoice is due, so there
is nothing to pay through a checkout that keeps the card. A SETUP attempt
opens the provider's "save your card" page instead. It follows the same three
steps as a checkout (see online.py), with three differences:
- its amount is zero and it names no items, so apply_provider_result books
  nothing: no entry, no settlement, nothing for reports of money received;
- the payer's consent is required, not optional: keeping a method is all it
  does. It is stored on the attempt like a checkout's ({text, at, ip}), so
  methods.keep_saved_method records it with the method unchanged;
- only providers declaring Capability.SETUP_WITHOUT_PAYMENT (and so defining
  start_setup) can do it; others keep a method only while paying.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.parties.models import Customer

from .methods import consent_text
from .models import AttemptKind, AttemptStatus, PaymentAttempt, ProviderAccount, SavedMethod
from .online import open_hosted_page
from .providers import adapter_for
from .providers.base import Capability, PaymentProvider, SetupRequest

S = AttemptStatus


class SetupRefused(DomainError):
    code = "setup_refused"
    message = gettext_lazy("The card cannot be saved: %(reason)s")


def can_keep_without_paying(adapter: PaymentProvider) -> bool:
    """True for an adapter that opens a page keeping a method without a payment."""
    return Capability.SETUP_WITHOUT_PAYMENT in adapter.capabilities and hasattr(adapter, "start_setup")


def start_method_setup(*, customer: Customer, account: ProviderAccount, consent: bool, ip: str | None,
                       return_url: str, cancel_url: str = "", notify_url: str = "", key: str,
                       locale: str = "fr", by: Any = None) -> tuple[PaymentAttempt, str]:
    """Open the provider's page that keeps a card for `customer`; return the attempt and where to send them.

    `key` is the caller's one-time key (a form's): the same key again gives
    the same attempt and the same page, so a double submission opens one page.
    `return_url` and `cancel_url` may hold "{attempt_id}". Refused
    (SetupRefused, nothing written): no consent, an account of another
    organisation or inactive, a provider that cannot keep a card without a
    payment. An attempt already answered under the key sends the customer to
    `return_url`, which tells what became of it.
    """
    attempt = _claim_setup(customer=customer, account=account, consent=consent, ip=ip, key=key, by=by)
    url = return_url.replace("{attempt_id}", str(attempt.pk))
    if attempt.status not in (S.QUEUED, S.SENDING, S.UNKNOWN):
        return attempt, (attempt.response.get("redirect_url") if attempt.status == S.PENDING else None) or url
    adapter = adapter_for(account)
    # The provider's customer of the cards already kept here, so all of one customer's cards sit together.
    known = (SavedMethod.objects.filter(customer=customer, provider_account=account).exclude(customer_token="")
             .order_by("-created_at").values_list("customer_token", flat=True).first())
    request = SetupRequest(
        attempt_id=str(attempt.pk), idempotency_key=attempt.idempotency_key, currency=attempt.currency,
        payer_email=customer.email or "", return_url=url, customer_token=known or None,
        cancel_url=(cancel_url or return_url).replace("{attempt_id}", str(attempt.pk)),
        notify_url=notify_url or f"/hooks/{account.code}/", locale=locale)
    session = open_hosted_page(attempt, lambda: adapter.start_setup(request))  # type: ignore[attr-defined]
    return attempt, session.redirect_url


@transaction.atomic
def _claim_setup(*, customer: Customer, account: ProviderAccount, consent: bool, ip: str | None, key: str,
                 by: Any) -> PaymentAttempt:
    """The SETUP attempt stored under `key`, created and committed after every check if there is none yet."""
    organisation = customer.organisation
    if not consent:
        raise SetupRefused(reason=gettext_lazy("you must agree to keep the card for later payments"))
    if not key.strip() or len(key) > 80:
        raise SetupRefused(reason=gettext_lazy("the form expired, please try again"))
    if not account.active or account.organisation_id != organisation.pk:
        raise SetupRefused(reason=gettext_lazy("this payment method is not available"))
    if not can_keep_without_paying(adapter_for(account)):
        raise SetupRefused(reason=gettext_lazy("this payment provider keeps a card only while paying"))
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one decision per customer at a time
    full_key = f"setup:{customer.pk}:{key.strip()}"
    if existing := PaymentAttempt.objects.filter(idempotency_key=full_key).first():
        if existing.kind != AttemptKind.SETUP or existing.provider_account_id != account.pk:
            raise SetupRefused(reason=gettext_lazy("this form was already used, please try again"))
        return existing
    attempt = PaymentAttempt(
        organisation=organisation, customer=customer, provider_account=account, kind=AttemptKind.SETUP,
        amount_minor=0, currency=organisation.currency, line_ids=[], idempotency_key=full_key,
        request={"consent": {"text": consent_text(organisation), "at": timezone.now().isoformat(),
                             "ip": ip or None}},
        created_by=by if getattr(by, "pk", None) else None)
    try:
        with transaction.atomic():
            attempt.save(force_insert=True)
    except IntegrityError:  # the same key claimed at the same moment by another request: that one wins
        return PaymentAttempt.objects.get(idempotency_key=full_key)
    record_event(attempt, "setup_started", by=by, data={"account": account.code})
    return attempt


__all__ = ["SetupRefused", "can_keep_without_paying", "start_method_setup"]
