"""The pages a signed-in customer uses: dashboard, invoice, deposit request, account, paying, profile.

Views hold no rules. Every read goes through a selector taking `viewer=`
(the signed-in customer), so an id that is not theirs finds nothing: the page
answers 404, as for an id that does not exist, and a warning names the
customer and the path (never anything else about them) for whoever watches
for people trying ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, Invoice
from encaisse.invoicing.selectors import (
    amount_due,
    credit_notes_of,
    deposit_amount_due,
    deposit_payable,
    deposit_request_for,
    deposit_requests_for,
    invoice_for,
    invoices_for,
)
from encaisse.invoicing.services.by_email import NoEmailForInvoices
from encaisse.ledger.selectors import account_statement, customer_balance
from encaisse.parties.models import Customer
from encaisse.payments.paylinks import pay_link
from encaisse.payments.selectors import attempt_for, items_paid_by, last_settled, refunds_of, settled_on_line
from encaisse.payments.services import advance_balance
from encaisse.sepa.selectors import debits_scheduled_for

from .access import customer_required, not_yours
from .profile import PROFILE_FIELDS, update_profile

PAID_SHOWN = 50  # the dashboard lists this many paid invoices; older ones are on the account statement


def _invoice(request: HttpRequest, pk: object) -> Invoice:
    try:
        return invoice_for(viewer=request.customer, pk=int(pk))
    except (ObjectDoesNotExist, TypeError, ValueError):
        raise not_yours(request, "invoice", pk) from None


def _deposit(request: HttpRequest, pk: object) -> DepositRequest:
    try:
        return deposit_request_for(viewer=request.customer, pk=int(pk))
    except (ObjectDoesNotExist, TypeError, ValueError):
        raise not_yours(request, "deposit request", pk) from None


@dataclass(frozen=True, slots=True)
class ToPay:
    """A row of "to pay": an invoice or a deposit request, with what is still due."""

    kind: str  # "invoice" or "deposit"
    pk: int
    number: str
    issued_on: date | None
    due_on: date | None
    due: Money
    overdue: bool
    url: str
    debit_on: date | None = None  # a direct debit announced for this date


def _to_pay(customer: Customer, today: date) -> list[ToPay]:
    debits = debits_scheduled_for(viewer=customer)
    rows = [ToPay(kind="invoice", pk=invoice.pk, number=invoice.number, issued_on=invoice.issued_on,
                  due_on=invoice.due_on, due=Money(invoice.due_minor, invoice.currency),
                  overdue=bool(invoice.due_on and invoice.due_on < today),
                  url=reverse("portal:invoice", args=[invoice.pk]), debit_on=debits.get(invoice.receivable_line_id))
            for invoice in invoices_for(viewer=customer).filter(kind=Invoice.Kind.INVOICE, due_minor__gt=0)]
    for deposit in deposit_requests_for(viewer=customer).filter(deduction_entry__isnull=True):
        due = deposit_amount_due(deposit)
        if due.minor > 0:
            rows.append(ToPay(kind="deposit", pk=deposit.pk, number=deposit.number, issued_on=deposit.issued_on,
                              due_on=deposit.due_on, due=due, overdue=deposit.due_on < today,
                              url=reverse("portal:deposit", args=[deposit.pk])))
    return sorted(rows, key=lambda row: (row.due_on or date.max, row.number))


@customer_required
def dashboard(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    invoices = list(invoices_for(viewer=customer).filter(kind=Invoice.Kind.INVOICE, due_minor__lte=0)
                    .select_related("receivable_line")[:PAID_SHOWN])
    last = last_settled(viewer=customer, lines=[i.receivable_line for i in invoices if i.receivable_line_id])
    paid = [{"invoice": invoice, "total": invoice.total, "last": last.get(invoice.receivable_line_id)}
            for invoice in invoices]
    return render(request, "portal/dashboard.html", {
        "customer": customer, "to_pay": _to_pay(customer, timezone.localdate()), "paid": paid,
    })


@customer_required
def invoice_page(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = _invoice(request, pk)
    lines = [{"line": line, "net": Money(line.net_minor, invoice.currency) if line.net_minor is not None else None}
             for line in invoice.lines.select_related("vat_rate").order_by("position", "pk")]
    due = amount_due(invoice)
    return render(request, "portal/invoice.html", {
        "customer": request.customer, "invoice": invoice, "lines": lines, "due": due,
        "payable": invoice.kind == Invoice.Kind.INVOICE and due.minor > 0,
        "overdue": bool(due.minor > 0 and invoice.due_on and invoice.due_on < timezone.localdate()),
        "settled": settled_on_line(viewer=request.customer, line=invoice.receivable_line)
        if invoice.receivable_line_id else [],
        "credit_notes": credit_notes_of(invoice),
    })


@customer_required
def deposit_page(request: HttpRequest, pk: int) -> HttpResponse:
    deposit = _deposit(request, pk)
    payable, refusal = deposit_payable(deposit)
    return render(request, "portal/deposit.html", {
        "customer": request.customer, "deposit": deposit, "amount": Money(deposit.amount_minor, deposit.currency),
        "due": deposit_amount_due(deposit), "payable": payable, "refusal": refusal,
        "settled": settled_on_line(viewer=request.customer, line=deposit.receivable_line),
    })


@customer_required
def payment_page(request: HttpRequest, pk: str) -> HttpResponse:
    """An online payment's receipt: when, how much, through what, for which items, and what became of it."""
    try:
        attempt = attempt_for(viewer=request.customer, pk=pk)
    except ObjectDoesNotExist:
        raise not_yours(request, "payment", pk) from None
    return render(request, "portal/payment.html", {
        "customer": request.customer, "attempt": attempt, "items": items_paid_by(attempt),
        "refunds": [refund for refund in refunds_of(attempt) if refund.status == "succeeded"],
    })


@customer_required
def account_page(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    return render(request, "portal/account.html", {
        "customer": customer, "balance": customer_balance(customer), "statement": account_statement(customer),
        "advance": advance_balance(customer),
    })


@require_POST
@customer_required
def pay(request: HttpRequest) -> HttpResponse:
    """Send the customer to the pay page for the items chosen; the pay page recomputes what is due.

    A row's own Pay button sends `only` ("invoice:12"); "Pay selected" sends the
    ticked `invoice` and `deposit` ids. Every id is read through the viewer's
    selectors first: one that is not theirs makes the whole request a 404.
    """
    if request.POST.get("only"):
        kind, _sep, pk = request.POST["only"].partition(":")
        if kind not in ("invoice", "deposit"):
            raise not_yours(request, "item", request.POST["only"])
        chosen = {"invoice": [pk] if kind == "invoice" else [], "deposit": [pk] if kind == "deposit" else []}
    else:
        chosen = {"invoice": request.POST.getlist("invoice"), "deposit": request.POST.getlist("deposit")}
    invoices = [_invoice(request, pk) for pk in chosen["invoice"]]
    deposits = [_deposit(request, pk) for pk in chosen["deposit"]]
    if not invoices and not deposits:
        messages.error(request, _("Choose at least one invoice to pay."))
        return redirect("portal:home")
    if deposits and (len(deposits) > 1 or invoices):
        messages.error(request, _("A deposit request is paid on its own: choose it alone."))
        return redirect("portal:home")
    items = [(invoice.receivable_line_id, amount_due(invoice)) for invoice in invoices
             if invoice.kind == Invoice.Kind.INVOICE]
    items += [(deposit.receivable_line_id, deposit_amount_due(deposit)) for deposit in deposits]
    items = [(line_id, due) for line_id, due in items if due.minor > 0]
    if not items:
        messages.error(request, _("Nothing is left to pay on what you chose."))
        return redirect("portal:home")
    total = sum((due for _line, due in items[1:]), items[0][1])
    return HttpResponseRedirect(pay_link(organisation_id=request.customer.organisation_id,
                                         line_ids=[line_id for line_id, _due in items], amount=total))


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = [*PROFILE_FIELDS, "invoices_by_email"]
        labels = {"invoices_by_email": gettext_lazy("Receive my invoices by email")}
        help_texts = {"invoices_by_email": gettext_lazy(
            "Each new invoice is emailed to you as soon as it is issued, with a link to pay it online. "
            "Invoices issued before you tick this box are not sent.")}


@require_http_methods(["GET", "POST"])
@customer_required
def profile_page(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    form = ProfileForm(request.POST or None, instance=Customer.objects.get(pk=customer.pk))
    if request.method == "POST" and form.is_valid():
        try:
            changed = update_profile(customer=customer,
                                     changes={name: form.cleaned_data[name] for name in PROFILE_FIELDS},
                                     invoices_by_email=form.cleaned_data["invoices_by_email"])
        except NoEmailForInvoices:
            form.add_error("invoices_by_email", _("Enter your email address to receive your invoices by email."))
            return render(request, "portal/profile.html", {"customer": customer, "form": form}, status=400)
        messages.success(request, _("Your details were saved.") if changed else _("Nothing was changed."))
        response = redirect("portal:profile")
        # The portal speaks the language the customer chose, from the next page on.
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, customer.language, samesite="Lax")
        return response
    return render(request, "portal/profile.html", {"customer": customer, "form": form},
                  status=400 if form.errors else 200)
