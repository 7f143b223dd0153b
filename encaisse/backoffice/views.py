"""Staff views beside the admin's own pages: statements, balances, invoice moves, credit notes, sending.

Every view is wrapped by admin.site.admin_view (staff only, CSRF, never
cached) in urls.py, and reaches records only through `scoped`, so another
organisation's record answers 404. Views call services and selectors and turn
a DomainError into a message for the user; they hold no business rule.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from encaisse.core.errors import DomainError
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.services import (
    CreditLine,
    cancel_invoice,
    issue_credit_note,
    post_invoice,
    reopen_draft,
    validate_invoice,
)
from encaisse.invoicing.services.crediting import credited_quantities
from encaisse.invoicing.services.sending import send_invoice
from encaisse.ledger.selectors import CustomerBalance, account_statement, balances_overview, customer_balance
from encaisse.parties.models import Customer, Organisation
from encaisse.payments.paylinks import pay_url
from encaisse.portal.delivery import email_posted_invoices

from .site import organisations_of, scoped


def email_chosen_invoices(request: HttpRequest, organisation: Organisation) -> None:
    """Right after staff post: email the invoices of customers who chose email, and say how many went."""
    if emailed := email_posted_invoices(organisation=organisation, request=request):
        messages.info(request, ngettext("%(count)s invoice emailed to the customer who chose it.",
                                        "%(count)s invoices emailed to customers who chose it.", emailed)
                      % {"count": emailed})

def _context(request: HttpRequest, title: Any, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


def invoice_page(invoice_id: int) -> str:
    return reverse("admin:invoicing_invoice_change", args=[invoice_id])


def scoped_customer(request: HttpRequest, pk: int) -> Customer:
    """A customer of the staff member's organisations, with its organisation; anyone else's answers 404."""
    return get_object_or_404(scoped(Customer.objects.select_related("organisation"), request.user), pk=pk)


def invoice_pay_url(request: HttpRequest, invoice: Invoice) -> str | None:
    """The signed pay link of a posted invoice with something due (as `encaisse pay-link` prints it), else None."""
    if not (invoice.status == Invoice.Status.POSTED and invoice.kind == Invoice.Kind.INVOICE
            and invoice.receivable_line_id):
        return None
    return pay_url(organisation_id=invoice.organisation_id, line_id=invoice.receivable_line_id,
                   due=amount_due(invoice), request=request)


# --- customer statement -------------------------------------------------------------------------------------


@require_GET
def customer_statement(request: HttpRequest, pk: int) -> HttpResponse:
    """Every line of the customer's account, oldest first, with the running balance after each."""
    customer = scoped_customer(request, pk)
    rows = account_statement(customer)
    return render(request, "backoffice/customer_statement.html", _context(
        request, _("Account statement of %(customer)s") % {"customer": customer},
        customer=customer, rows=rows, balance=customer_balance(customer),
        customer_url=reverse("admin:parties_customer_change", args=[customer.pk]),
    ))


# --- balances overview ----------------------------------------------------------------------------------------

SORT_KEYS: dict[str, Callable[[CustomerBalance], Any]] = {
    "ref": lambda row: row.ref,
    "name": lambda row: (row.name.casefold(), row.ref),
    "balance": lambda row: row.balance.minor,
    "overdue": lambda row: row.overdue.minor,
    # Customers who never paid sort before the oldest payment.
    "last_payment": lambda row: (row.last_payment_on is not None, row.last_payment_on),
}
COLUMNS = [
    ("ref", _("Reference")),
    ("name", _("Customer")),
    ("balance", _("Balance")),
    ("overdue", _("Overdue")),
    ("last_payment", _("Last payment")),
]


@require_GET
def balances(request: HttpRequest) -> HttpResponse:
    """Every customer of one organisation: balance, overdue and last payment; sortable; CSV with ?format=csv.

    ?org=<slug> chooses the organisation; staff of one organisation need not say it.
    """
    organisations = organisations_of(request.user).order_by("name")
    slug = request.GET.get("org")
    if slug:
        organisation = get_object_or_404(organisations, slug=slug)
    else:
        candidates = list(organisations[:2])
        if len(candidates) != 1:
            return render(request, "backoffice/choose_organisation.html", _context(
                request, _("Balances overview"), organisations=organisations))
        organisation = candidates[0]
    order = request.GET.get("o", "name")
    key = order.removeprefix("-")
    if key not in SORT_KEYS:
        key, order = "name", "name"
    today = timezone.localdate()
    rows = sorted(balances_overview(organisation, today=today), key=SORT_KEYS[key], reverse=order.startswith("-"))
    if request.GET.get("format") == "csv":
        return _balances_csv(organisation.slug, today, rows)
    columns = [
        {"label": label, "key": name, "sorted": key == name, "descending": key == name and order.startswith("-"),
         "toggle": f"-{name}" if order == name else name}
        for name, label in COLUMNS
    ]
    return render(request, "backoffice/balances.html", _context(
        request, _("Balances overview"), organisation=organisation, rows=rows, columns=columns, order=order,
        several=organisations.count() > 1, organisations=organisations, today=today,
        total_balance=sum(row.balance.minor for row in rows),
    ))


def _balances_csv(slug: str, today: Any, rows: list[CustomerBalance]) -> HttpResponse:
    """Amounts as decimal strings in major units ("1059.75"), the form spreadsheets and the API use."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="balances-{slug}-{today.isoformat()}.csv"'
    writer = csv.writer(response)
    writer.writerow(["ref", "name", "balance", "overdue", "currency", "last_payment_on"])
    for row in rows:
        writer.writerow([row.ref, row.name, row.balance.as_json(), row.overdue.as_json(), row.balance.currency,
                         row.last_payment_on.isoformat() if row.last_payment_on else ""])
    return response


# --- invoice moves --------------------------------------------------------------------------------------------


def _scoped_invoice(request: HttpRequest, pk: int) -> Invoice:
    return get_object_or_404(scoped(Invoice.objects.all(), request.user), pk=pk)


@require_POST
def invoice_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Validate, send back to draft, cancel, post or fully credit an invoice, then show its page again."""
    invoice = _scoped_invoice(request, pk)
    by = request.user
    try:
        if action == "validate":
            done = validate_invoice(invoice_id=invoice.pk, by=by)
            message = gettext("Invoice %(invoice)s is validated and ready to post.")
        elif action == "reopen":
            done = reopen_draft(invoice_id=invoice.pk, by=by)
            message = gettext("Invoice %(invoice)s is a draft again.")
        elif action == "cancel":
            done = cancel_invoice(invoice_id=invoice.pk, by=by)
            message = gettext("Invoice %(invoice)s is cancelled.")
        elif action == "post":
            done = post_invoice(invoice_id=invoice.pk, by=by)
            message = gettext("Invoice posted with number %(invoice)s.")
            email_chosen_invoices(request, done.organisation)
        elif action == "credit":
            done = issue_credit_note(invoice_id=invoice.pk, by=by)
            message = gettext("Credit note %(invoice)s is issued and posted.")
        else:
            raise Http404(action)
    except DomainError as error:
        messages.error(request, str(error))
        return HttpResponseRedirect(invoice_page(invoice.pk))
    messages.success(request, message % {"invoice": done.display_name})
    return HttpResponseRedirect(invoice_page(done.pk))


@require_POST
def invoice_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Email the invoice to its customer with its pay link (when something is due), then show its page again."""
    invoice = _scoped_invoice(request, pk)
    try:
        message = send_invoice(invoice, pay_url=invoice_pay_url(request, invoice), by=request.user)
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, gettext("Invoice %(invoice)s is queued for %(to)s.")
                         % {"invoice": invoice.display_name, "to": message.to.replace("\n", ", ")})
    return HttpResponseRedirect(invoice_page(invoice.pk))


@require_http_methods(["GET", "POST"])
def invoice_credit_note(request: HttpRequest, pk: int) -> HttpResponse:
    """Choose how much of each line to credit, then issue and post the credit note."""
    invoice = _scoped_invoice(request, pk)
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.POSTED:
        messages.error(request, gettext("Only a posted invoice can be credited."))
        return HttpResponseRedirect(invoice_page(invoice.pk))
    already = credited_quantities(invoice)
    lines = [
        {"line": line, "left": line.quantity - already.get(line.pk, Decimal(0)), "field": f"quantity_{line.pk}",
         "value": ""}
        for line in invoice.lines.select_related("vat_rate").order_by("position", "pk")
    ]
    reason = ""
    if request.method == "POST":
        reason = request.POST.get("reason", "").strip()
        wanted, errors = [], []
        for row in lines:
            raw = request.POST.get(row["field"], "").strip().replace(",", ".")
            row["value"] = raw
            if not raw:
                continue
            try:
                quantity = Decimal(raw)
            except InvalidOperation:
                errors.append(gettext("“%(value)s” is not a quantity.") % {"value": raw})
                continue
            if quantity:
                wanted.append(CreditLine(line_id=row["line"].pk, quantity=quantity))
        if not wanted and not errors:
            errors.append(gettext("Give the quantity to credit on at least one line."))
        if not errors:
            try:
                credit_note = issue_credit_note(invoice_id=invoice.pk, lines=wanted, reason=reason, by=request.user)
            except DomainError as error:
                errors.append(str(error))
            else:
                messages.success(request, gettext("Credit note %(invoice)s is issued and posted.")
                                 % {"invoice": credit_note.display_name})
                return HttpResponseRedirect(invoice_page(credit_note.pk))
        for error in errors:
            messages.error(request, error)
    return render(request, "backoffice/invoice_credit_note.html", _context(
        request, _("Credit note for %(invoice)s") % {"invoice": invoice.display_name},
        invoice=invoice, lines=lines, reason=reason, invoice_url=invoice_page(invoice.pk),
    ))
