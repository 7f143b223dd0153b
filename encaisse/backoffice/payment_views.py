"""Recording an offline payment (cheque, cash, transfer, card terminal) from the customer's page.

The form shows the customer's open items; the clerk ticks the ones the
payment is for, or none for "oldest first". The service does the rest in one
transaction; a refusal comes back as a form error and writes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.ledger.selectors import open_debit_lines
from encaisse.payments.models import OfflineMethod
from encaisse.payments.services import advance_balance, record_offline_payment

from .views import scoped_customer


class PaymentForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), choices=OfflineMethod.choices)
    amount = forms.DecimalField(label=_("Amount"), min_value=0, decimal_places=2, max_digits=14)
    received_on = forms.DateField(label=_("Received on"), widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(label=_("Reference"), required=False, max_length=140)
    cheque_bank = forms.CharField(label=_("Cheque bank"), required=False, max_length=64)
    cheque_number = forms.CharField(label=_("Cheque number"), required=False, max_length=32)
    lines = forms.MultipleChoiceField(label=_("Pay these items (none: oldest first)"), required=False,
                                      widget=forms.CheckboxSelectMultiple)
    # Sent again with the form: a double click or a re-submitted page records the payment once.
    token = forms.CharField(widget=forms.HiddenInput)


@require_http_methods(["GET", "POST"])
def record_payment(request: HttpRequest, pk: int) -> HttpResponse:
    customer = scoped_customer(request, pk)
    items = open_debit_lines(customer)
    choices = [(str(line.pk), f"{line.entry.date:%d/%m/%Y} — {line.label or line.entry.label} — {due}")
               for line, due in items]
    form = PaymentForm(request.POST or None, initial={
        "received_on": timezone.localdate(), "token": uuid.uuid4().hex, "method": OfflineMethod.TRANSFER})
    form.fields["lines"].choices = choices
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            payment = record_offline_payment(
                customer=customer, method=data["method"], received_on=data["received_on"],
                amount=Money.of(data["amount"], customer.organisation.currency),
                line_ids=[int(pk) for pk in data["lines"]] or None, reference=data["reference"],
                cheque_bank=data["cheque_bank"], cheque_number=data["cheque_number"],
                idempotency_key=f"backoffice-payment:{data['token']}", by=request.user)
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, gettext("Payment of %(amount)s recorded for %(customer)s.") % {
                "amount": payment.amount.format(request.LANGUAGE_CODE.replace("-", "_")), "customer": customer})
            return HttpResponseRedirect(reverse("staff:customer_statement", args=[customer.pk]))
    context: dict[str, Any] = {
        **admin.site.each_context(request), "title": _("Record a payment from %(customer)s") % {"customer": customer},
        "customer": customer, "form": form, "advance": advance_balance(customer),
    }
    return render(request, "backoffice/record_payment.html", context)
