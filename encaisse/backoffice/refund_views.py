"""Refunds from the back office: a provider payment, or a customer's advance.

Each form carries a one-time key generated when the page is shown: it is the
refund's idempotency key, so a double click or a re-submitted page refunds
once. Before confirming, the page says what the refund does to the
customer's account (taken from their advance, owed again). The services do
the work; a refusal comes back as a form error and writes nothing.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.payments.models import AttemptKind, AttemptStatus, OfflineMethod, PaymentAttempt
from encaisse.payments.providers import MissingSecret
from encaisse.payments.refunds import ADVANCE_REFUND_METHODS, refund_advance, refund_attempt, refund_split, refundable
from encaisse.payments.services import advance_balance

from .site import scoped
from .views import scoped_customer


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount to refund"), min_value=Decimal("0.01"), decimal_places=2,
                                max_digits=14)
    reason = forms.CharField(label=_("Reason"), max_length=500)
    token = forms.CharField(widget=forms.HiddenInput)  # the refund's idempotency key


class AdvanceRefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount to pay back"), min_value=Decimal("0.01"), decimal_places=2,
                                max_digits=14)
    method = forms.ChoiceField(label=_("Paid back by"),
                               choices=[(m.value, m.label) for m in ADVANCE_REFUND_METHODS])
    paid_on = forms.DateField(label=_("Paid on"), widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(label=_("Reference"), required=False, max_length=140,
                                help_text=_("Transfer reference, cheque number…"))
    reason = forms.CharField(label=_("Reason"), max_length=200)
    token = forms.CharField(widget=forms.HiddenInput)


def _locale(request: HttpRequest) -> str:
    return request.LANGUAGE_CODE.replace("-", "_")


def _money(form: forms.Form, currency: str, fallback: Money) -> Money:
    """The amount typed in the form (bound or not), for the preview; the fallback when none can be read."""
    try:
        value = Decimal(str(form.data.get("amount") if form.is_bound else form.initial.get("amount")))
    except ArithmeticError:
        return fallback
    money = Money.of(value, currency)
    return money if money.minor > 0 else fallback


def _attempt_page(attempt: PaymentAttempt) -> str:
    """The attempt's admin page, or its customer's when the attempt admin is not registered."""
    try:
        return reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
    except NoReverseMatch:
        return reverse("admin:parties_customer_change", args=[attempt.customer_id])


def _announce(request: HttpRequest, refund: PaymentAttempt) -> None:
    amount = refund.amount.format(_locale(request))
    if refund.status == AttemptStatus.SUCCEEDED:
        messages.success(request, gettext("Refund of %(amount)s made and booked.") % {"amount": amount})
    elif refund.status in (AttemptStatus.DECLINED, AttemptStatus.NOT_PROCESSED):
        messages.error(request, gettext("The provider refused the refund of %(amount)s: %(code)s %(message)s") % {
            "amount": amount, "code": refund.decline_code or refund.get_status_display(), "message": refund.message})
    else:
        messages.warning(request, gettext(
            "The refund of %(amount)s is being confirmed by the provider; it is booked once confirmed.")
            % {"amount": amount})


@require_http_methods(["GET", "POST"])
def attempt_refund(request: HttpRequest, attempt_id: str) -> HttpResponse:
    attempt = get_object_or_404(
        scoped(PaymentAttempt.objects.select_related("customer__organisation", "provider_account"), request.user)
        .filter(kind__in=[AttemptKind.CHECKOUT, AttemptKind.CHARGE]), pk=attempt_id)  # what moved money in
    customer = attempt.customer
    left = refundable(attempt)
    form = RefundForm(request.POST or None, initial={"amount": left.to_decimal(), "token": uuid.uuid4().hex})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            refund = refund_attempt(attempt=attempt, amount=Money.of(data["amount"], attempt.currency),
                                    reason=data["reason"], key=data["token"], by=request.user)
        except (DomainError, MissingSecret) as error:
            form.add_error(None, str(error))
        else:
            _announce(request, refund)
            return HttpResponseRedirect(_attempt_page(attempt))
    context: dict[str, Any] = {
        **admin.site.each_context(request), "title": _("Refund a payment from %(customer)s") % {"customer": customer},
        "attempt": attempt, "customer": customer, "form": form, "refundable": left,
        "refunds": attempt.refunds.order_by("created_at"),
        "can_refund": attempt.status == AttemptStatus.SUCCEEDED and left.minor > 0,
        "split": refund_split(customer, _money(form, attempt.currency, left)) if left.minor > 0 else None,
    }
    return render(request, "backoffice/attempt_refund.html", context)


@require_http_methods(["GET", "POST"])
def advance_refund(request: HttpRequest, pk: int) -> HttpResponse:
    customer = scoped_customer(request, pk)
    held = advance_balance(customer)
    form = AdvanceRefundForm(request.POST or None, initial={
        "amount": held.to_decimal() if held.minor > 0 else None, "method": OfflineMethod.TRANSFER,
        "paid_on": timezone.localdate(), "token": uuid.uuid4().hex})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            refund = refund_advance(customer=customer, amount=Money.of(data["amount"], customer.organisation.currency),
                                    method=data["method"], paid_on=data["paid_on"], reference=data["reference"],
                                    reason=data["reason"], key=f"backoffice-advance-refund:{data['token']}",
                                    by=request.user)
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, gettext("%(amount)s of advance paid back to %(customer)s.") % {
                "amount": refund.amount.format(_locale(request)), "customer": customer})
            return HttpResponseRedirect(reverse("staff:customer_statement", args=[customer.pk]))
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": _("Pay back the advance of %(customer)s") % {"customer": customer},
        "customer": customer, "form": form, "advance": held,
        "refunds": customer.advance_refunds.order_by("-paid_on", "-pk")[:20],
    }
    return render(request, "backoffice/advance_refund.html", context)
