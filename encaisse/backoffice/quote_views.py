"""Staff views of a quote's page: its moves, and asking and issuing its deposit requests.

Wrapped by admin.site.admin_view in urls.py; records are reached through
`scoped`, so another organisation's quote or deposit answers 404. A refusal
(DomainError) comes back as a message on the quote's page.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, Quote
from encaisse.invoicing.services import (
    accept_quote,
    add_deposit_request,
    cancel_quote,
    invoice_from_quote,
    issue_deposit_request,
    send_quote,
)

from .site import scoped


def quote_page(quote_id: int) -> str:
    return reverse("admin:invoicing_quote_change", args=[quote_id])


@require_POST
def quote_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Send, accept or cancel a quote, or make its final invoice (then open that invoice's page)."""
    quote = get_object_or_404(scoped(Quote.objects.all(), request.user), pk=pk)
    by = request.user
    try:
        if action == "send":
            done = send_quote(quote_id=quote.pk, by=by)
            messages.success(request, gettext("Quote sent with number %(quote)s.") % {"quote": done.number})
        elif action == "accept":
            accept_quote(quote_id=quote.pk, by=by)
            messages.success(request, gettext("Quote %(quote)s is accepted.") % {"quote": quote.display_name})
        elif action == "cancel":
            cancel_quote(quote_id=quote.pk, by=by)
            messages.success(request, gettext("Quote %(quote)s is cancelled.") % {"quote": quote.display_name})
        elif action == "invoice":
            invoice = invoice_from_quote(quote_id=quote.pk, by=by)
            messages.success(request, gettext("The final invoice is a draft: check it, validate and post it; "
                                              "posting deducts the deposits."))
            return HttpResponseRedirect(reverse("admin:invoicing_invoice_change", args=[invoice.pk]))
        else:
            raise Http404(action)
    except DomainError as error:
        messages.error(request, str(error))
    return HttpResponseRedirect(quote_page(quote.pk))


class DepositForm(forms.Form):
    """A deposit asked as an amount or as a share (%) of the quote's total: one of the two."""

    amount = forms.DecimalField(label=_("amount"), required=False, min_value=Decimal("0.01"), decimal_places=2)
    percent = forms.DecimalField(label=_("or share of the quote (%)"), required=False, min_value=Decimal("0.01"),
                                 max_value=Decimal(100), decimal_places=2)
    due_on = forms.DateField(label=_("due date"))
    label = forms.CharField(label=_("label"), required=False, max_length=200)

    def clean(self) -> dict:
        cleaned = super().clean()
        if (cleaned.get("amount") is None) == (cleaned.get("percent") is None):
            raise forms.ValidationError(_("Give an amount or a percentage, not both."))
        return cleaned


@require_POST
def quote_deposit_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask a deposit on the quote (a draft request, issued separately)."""
    quote = get_object_or_404(scoped(Quote.objects.all(), request.user), pk=pk)
    form = DepositForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return HttpResponseRedirect(quote_page(quote.pk))
    data = form.cleaned_data
    try:
        amount = Money.of(data["amount"], quote.currency) if data["amount"] is not None else None
        deposit = add_deposit_request(quote_id=quote.pk, amount=amount, percent=data["percent"],
                                      due_on=data["due_on"], label=data["label"], by=request.user)
    except (DomainError, InvalidOperation) as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("Deposit of %(amount)s asked: issue it to send it.") % {
            "amount": deposit.amount.format()})
    return HttpResponseRedirect(quote_page(quote.pk))


@require_POST
def deposit_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue a draft deposit request: its number, and the amount on the customer's account."""
    deposit = get_object_or_404(scoped(DepositRequest.objects.all(), request.user), pk=pk)
    try:
        done = issue_deposit_request(deposit_id=deposit.pk, by=request.user)
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("Deposit request %(number)s is issued.") % {"number": done.number})
    return HttpResponseRedirect(quote_page(deposit.quote_id))
