"""Portal pages for keeping a card without paying: the provider's hosted page in setup mode, and the way back.

The rules live in payments.setup (consent required, which providers can) and
payments.selectors (the viewer's own attempts and methods). The return page
asks the provider itself what happened: the address the payer comes back by
proves nothing.
"""

from __future__ import annotations

import logging
import uuid

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from encaisse.core.errors import DomainError
from encaisse.core.http import client_ip
from encaisse.core.origin import origin
from encaisse.payments import online
from encaisse.payments.methods import consent_text
from encaisse.payments.models import AttemptStatus, PaymentAttempt
from encaisse.payments.paylinks import public_url
from encaisse.payments.selectors import accounts_keeping_cards, method_kept_by, setup_attempt_for
from encaisse.payments.setup import start_method_setup

from .access import customer_required, not_yours
from .methods import card_label

log = logging.getLogger(__name__)
_PLACEHOLDER = uuid.UUID(int=0)  # in the return address as built, then "{attempt_id}" (braces would be escaped)


@require_http_methods(["GET", "POST"])
@customer_required
def add_card(request: HttpRequest) -> HttpResponse:
    """Choose a provider, agree to keep the card, then go to the provider's page to enter it."""
    customer = request.customer
    accounts = accounts_keeping_cards(viewer=customer)
    error = ""
    chosen = accounts[0].code if accounts else ""
    key = uuid.uuid4().hex  # one per form shown: submitting the same form twice opens one page
    if request.method == "POST":
        chosen = request.POST.get("provider", "")
        key = request.POST.get("key", "")
        account = next((a for a in accounts if a.code == chosen), None)
        if account is None:
            error = _("Choose who keeps your card.")
        else:
            returns = public_url(reverse("portal:method_added", args=[_PLACEHOLDER]), request)
            try:
                with origin("portal"):
                    _attempt, redirect_url = start_method_setup(
                        customer=customer, account=account, consent=request.POST.get("consent") == "1",
                        ip=client_ip(request), return_url=returns.replace(str(_PLACEHOLDER), "{attempt_id}"),
                        cancel_url=public_url(reverse("portal:method_add"), request),
                        notify_url=public_url(f"/hooks/{account.code}/", request), key=key,
                        locale=get_language() or "fr")
            except DomainError as refusal:
                error = str(refusal)
            except Exception:  # the provider did not answer: the attempt is kept as unknown and asked again later
                log.exception("portal: the card-saving page could not be opened")
                error = _("The payment service did not answer. Please try again in a few minutes.")
            else:
                return HttpResponseRedirect(redirect_url)
    return render(request, "portal/method_add.html", {
        "customer": customer, "accounts": accounts, "chosen": chosen, "key": key, "error": error,
        "consent_text": consent_text(customer.organisation)}, status=400 if error else 200)


@customer_required
def card_added(request: HttpRequest, attempt_id: str) -> HttpResponse:
    """What became of the card, as the provider tells it now; the viewer's own attempts only."""
    try:
        attempt = setup_attempt_for(viewer=request.customer, pk=attempt_id)
    except PaymentAttempt.DoesNotExist:
        raise not_yours(request, "setup attempt", attempt_id) from None
    try:
        attempt = online.refresh_attempt(attempt)
    except Exception:  # the provider is unreachable: say what we know
        log.exception("portal: fetch failed for setup %s", attempt.pk)
    if attempt.status == AttemptStatus.SUCCEEDED:
        state = "saved"
        method = method_kept_by(viewer=request.customer, attempt=attempt)
        message = (_("Your card %(card)s is saved.") % {"card": card_label(method)}
                   if method is not None and method.last4 else _("Your card is saved."))
    elif attempt.status in (AttemptStatus.DECLINED, AttemptStatus.NOT_PROCESSED):
        state = "failed"
        reason = (_("your bank declined it.") if attempt.status == AttemptStatus.DECLINED
                  else _("no card was entered before the page closed."))
        message = _("Your card was not saved: %(reason)s") % {"reason": reason}
    else:
        state = "pending"
        message = _("Your card is being confirmed. This page will say when it is saved; nothing is charged.")
    return render(request, "portal/method_added.html", {
        "customer": request.customer, "attempt": attempt, "state": state, "message": message})


__all__ = ["add_card", "card_added"]
