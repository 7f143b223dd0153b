"""The public pay page, its return page, and the providers' webhook endpoint.

Nothing here trusts the address bar: the pay link only names the items (its
signature checked, its expiry too), the amount is recomputed from the ledger,
and the return page asks the provider (fetch) rather than reading the
parameters the provider, or anyone, appended to the return URL.
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from encaisse.core.http import client_ip
from encaisse.invoicing.models import DepositRequest, Invoice
from encaisse.invoicing.selectors import deposit_of_lines, deposit_payable
from encaisse.ledger.models import Account, EntryLine
from encaisse.parties.models import Organisation
from encaisse.payments import online
from encaisse.payments.errors import PaymentRefused
from encaisse.payments.methods import consent_text
from encaisse.payments.models import AttemptKind, AttemptStatus, PaymentAttempt, ProviderAccount
from encaisse.payments.paylinks import BadPayLink, ExpiredPayLink, public_url, read_pay_link
from encaisse.payments.providers import adapter_for
from encaisse.payments.providers.base import Capability, ForgedWebhook
from encaisse.payments.selectors import payable_accounts
from encaisse.portal.access import current_customer

log = logging.getLogger(__name__)


def _items(token: str):
    """The organisation, customer, lines, invoices and deposit request a pay link names; 404 expired or gone.

    A tampered link raises BadPayLink (400). A link names either invoices or
    one deposit request's line (encaisse pay-link, the quote's page).
    """
    try:
        link = read_pay_link(token)
    except ExpiredPayLink as error:
        raise Http404(str(error)) from error
    organisation = Organisation.objects.filter(pk=link.organisation_id).first()
    lines = list(EntryLine.objects.filter(pk__in=link.line_ids, organisation_id=link.organisation_id,
                                          account__kind=Account.Kind.RECEIVABLE, debit_minor__gt=0)
                 .select_related("party"))
    parties = {line.party_id for line in lines}
    if organisation is None or len(lines) != len(link.line_ids) or len(parties) != 1 or None in parties:
        raise Http404(_("These items cannot be paid here."))
    invoices = list(Invoice.objects.filter(entry__lines__in=lines).select_related("invoice_type__regie")
                    .distinct().order_by("number"))
    return link, organisation, lines[0].party, invoices, deposit_of_lines(link.line_ids)


def _accounts(organisation: Organisation, invoices: list[Invoice],
              deposit: DepositRequest | None = None) -> list[ProviderAccount]:
    """The provider accounts offered: those of the items' régie, for the methods every such régie allows."""
    regies = {invoice.invoice_type.regie for invoice in invoices}
    if deposit is not None:  # a deposit is collected by the régie of the quote's final invoice
        regies.add(deposit.quote.invoice_type.regie)
    allowed = [set(regie.allowed_methods) for regie in regies if regie.allowed_methods]
    return payable_accounts(organisation.pk, regie_codes={regie.code for regie in regies},
                            allowed_methods=set.intersection(*allowed) if allowed else None)


@require_http_methods(["GET", "POST"])
def pay_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link, organisation, customer, invoices, deposit = _items(token)
    except BadPayLink:
        return HttpResponseBadRequest(_("This payment link is not valid."))
    due = online.due_on_lines(customer, link.line_ids)
    accounts = _accounts(organisation, invoices, deposit)
    saveable = {account.code for account in accounts
                if Capability.SAVE_METHOD in adapter_for(account).capabilities}
    error = ""
    # Deposits are paid one at a time: while an earlier one is unpaid, this one opens no checkout.
    payable, refusal = deposit_payable(deposit) if deposit is not None and due.minor > 0 else (True, "")
    if not payable:
        error = refusal
    elif request.method == "POST":
        account = next((a for a in accounts if a.code == request.POST.get("provider")), None)
        if account is None:
            error = _("Choose a payment method.")
        else:
            numbers = ", ".join([invoice.number for invoice in invoices if invoice.number]
                                + ([deposit.number] if deposit is not None else []))
            consent = None
            if request.POST.get("save_method") == "1" and account.code in saveable:
                consent = {"text": consent_text(organisation), "at": timezone.now().isoformat(),
                           "ip": client_ip(request)}
            try:
                _attempt, session = online.start_checkout(
                    customer=customer, amount=due, line_ids=link.line_ids, provider_account=account,
                    return_url=public_url("/pay/return/", request) + "{attempt_id}/",
                    notify_url=public_url(f"/hooks/{account.code}/", request),
                    reference=numbers, description=f"{organisation.name} {numbers}".strip(), consent=consent)
            except PaymentRefused as refused:
                error = str(refused)
            except Exception:  # the provider did not answer: the attempt is kept as unknown and re-asked later
                log.exception("pay page: checkout could not be opened")
                error = _("The payment service did not answer. Please try again in a few minutes.")
            else:
                return HttpResponseRedirect(session.redirect_url)
    return render(request, "pay/page.html", {
        "organisation": organisation, "customer": customer, "invoices": invoices, "deposit": deposit,
        "payable": payable, "due": due,
        "accounts": accounts, "error": error, "saveable": saveable, "consent_text": consent_text(organisation),
    }, status=409 if error else 200)


def pay_return(request: HttpRequest, attempt_id: str) -> HttpResponse:
    """What became of the payment, as the provider tells it now; the URL's own parameters are ignored."""
    # Only hosted payments come back here: a card kept without paying has the portal's own return page.
    attempt = get_object_or_404(PaymentAttempt.objects.select_related("provider_account", "organisation"),
                                pk=attempt_id, kind=AttemptKind.CHECKOUT)
    try:
        attempt = online.refresh_attempt(attempt)
    except Exception:  # the provider is unreachable: say what we know
        log.exception("return page: fetch failed for %s", attempt.pk)
    if attempt.status == AttemptStatus.SUCCEEDED:
        state, message = "succeeded", _("Payment received. Thank you.")
    elif attempt.status in (AttemptStatus.DECLINED, AttemptStatus.NOT_PROCESSED):
        state, message = "failed", _("The payment did not go through. Nothing was taken.")
    else:
        state, message = "pending", _("Your payment is being confirmed. You will not be charged twice.")
    # A payer signed in to the portal as the customer who owns the items goes back to their account;
    # anyone else (the usual payer of an emailed link) sees no link to an account that is not theirs.
    signed_in = current_customer(request)
    return render(request, "pay/return.html", {
        "attempt": attempt, "state": state, "message": message, "organisation": attempt.organisation,
        "back_to_account": signed_in is not None and signed_in.pk == attempt.customer_id,
    })


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, code: str) -> HttpResponse:
    """A provider's notification: verified on the raw body, stored once, applied; forged → 400, nothing written."""
    try:
        online.receive_webhook(code=code, body=request.body, headers=request.headers)
    except ProviderAccount.DoesNotExist as error:
        raise Http404 from error
    except (ForgedWebhook, ValueError, KeyError):
        return HttpResponseBadRequest("invalid notification")
    return HttpResponse("ok")
