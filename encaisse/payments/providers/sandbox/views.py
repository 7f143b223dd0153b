"""The sandbox's hosted pages (pay, and "save your card" for setups), served by Encaisse at /sandbox/.

After each step the sandbox sends its signed notification to itself: the body
goes through online.receive_webhook, the very path /hooks/<code>/ takes, so
the signature is checked as for a remote provider (delivered in-process, since
a development server may not be able to call itself over HTTP).
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from encaisse.core.money import Money
from encaisse.payments import online
from encaisse.payments.models import ProviderAccount, SandboxPayment
from encaisse.payments.providers import adapter_for

log = logging.getLogger(__name__)


def _adapter(payment: SandboxPayment):
    return adapter_for(ProviderAccount.objects.get(code=payment.account_code))


def notify(payment: SandboxPayment) -> None:
    body, headers = _adapter(payment).notification(payment)
    try:
        online.receive_webhook(code=payment.account_code, body=body, headers=headers)
    except Exception:  # a provider does not care whether its notification was handled
        log.exception("sandbox notification for %s was not handled", payment.reference)


def _expiry(text: str) -> tuple[int, int] | Literal[False] | None:
    """(month, year) from "MM/YY" or "MM/YYYY"; None when empty (the sandbox picks one), False when invalid."""
    if not text.strip():
        return None
    found = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*", text)
    if not found:
        return False
    month, year = int(found[1]), int(found[2])
    year += 2000 if year < 100 else 0
    today = timezone.localdate()
    if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
        return False
    return month, year


@sensitive_post_parameters("card_number")  # never in error reports, even for test cards
@require_http_methods(["GET", "POST"])
def page(request: HttpRequest, reference: str) -> HttpResponse:
    payment = get_object_or_404(SandboxPayment, reference=reference)
    if payment.status != "open":
        if payment.status == "authenticating":
            return HttpResponseRedirect(f"{request.path}confirm/")
        return HttpResponseRedirect(payment.return_url)
    error = ""
    if request.method == "POST":
        expiry = _expiry(request.POST.get("expiry", ""))
        # The card number is looked up and dropped here: never stored, never logged.
        if expiry is False:
            error = _("Enter the expiry date as MM/YY, this month or later, or leave it empty.")
        elif _adapter(payment).enter_card(payment, request.POST.get("card_number", ""), expiry=expiry):
            if payment.status == "authenticating":
                return HttpResponseRedirect(f"{request.path}confirm/")
            notify(payment)
            return HttpResponseRedirect(payment.return_url)
        else:
            error = _("Use one of the sandbox's test cards.")
    adapter = _adapter(payment)
    return render(request, "sandbox/setup.html" if adapter.is_setup(payment) else "sandbox/pay.html",
                  {"payment": payment, "amount": Money(payment.amount_minor, payment.currency), "error": error,
                   "saves_card": adapter.saved_card(payment) is not None},
                  status=400 if error else 200)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, reference: str) -> HttpResponse:
    payment = get_object_or_404(SandboxPayment, reference=reference)
    if payment.status != "authenticating":
        return HttpResponseRedirect(payment.return_url)
    if request.method == "POST":
        _adapter(payment).authenticate(payment, approved=request.POST.get("decision") == "approve")
        notify(payment)
        return HttpResponseRedirect(payment.return_url)
    return render(request, "sandbox/confirm.html", {"payment": payment})
