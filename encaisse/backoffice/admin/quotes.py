"""Quotes and their deposit requests (acomptes).

Like invoices, quotes are written through the invoicing services: a draft by
create_quote, its lines by add_quote_line and remove_quote_line. The moves
(send, accept, cancel, make the final invoice) and the deposit requests (ask,
issue) are buttons and a form on the quote's page that post to staff views
(quote_views). A sent quote's page is read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import events_for
from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, Invoice, Quote, QuoteLine
from encaisse.invoicing.selectors import (
    DEPOSIT_STATUSES,
    deposit_amount_due,
    deposit_display_status,
    deposit_paid,
    quote_totals,
)
from encaisse.invoicing.services import add_quote_line, create_quote, edit_quote, remove_quote_line
from encaisse.payments.paylinks import pay_url

from ..site import ReadOnlyAdmin, adopt
from ..templatetags.backoffice_tags import format_money
from .documents import DocumentLineForm, DraftDocumentAdmin, DraftLinesInline
from .ledger import entry_link


class QuoteForm(forms.ModelForm):
    class Meta:
        model = Quote
        fields = ("party", "invoice_type", "valid_until", "customer_reference", "notes")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk and self.instance.status != Quote.Status.DRAFT:
            raise forms.ValidationError(_("Only a draft can be changed."))
        return cleaned


class QuoteLineForm(DocumentLineForm):
    document_field = "quote"

    class Meta(DocumentLineForm.Meta):
        model = QuoteLine


class QuoteLineInline(DraftLinesInline):
    model = QuoteLine
    form = QuoteLineForm
    fields = ("product", "label", "quantity", "unit", "unit_price", "vat_rate", "net")
    readonly_fields = ("net",)

    @admin.display(description=_("net"))
    def net(self, line: QuoteLine) -> str:
        if line.pk is None:
            return ""
        return format_money(Money.of(line.quantity * line.unit_price, line.quote.currency))


@admin.register(Quote)
class QuoteAdmin(DraftDocumentAdmin):
    form = QuoteForm
    change_form_template = "backoffice/quotes/quote_change_form.html"
    list_display = ("name", "party", "issued_on", "valid_until", "total", "status")
    list_select_related = ("party", "organisation")
    list_filter = ("status",)
    search_fields = ("number", "party__name", "party__ref", "customer_reference")
    autocomplete_fields = ("party",)
    inlines = [QuoteLineInline]

    def get_fieldsets(self, request: HttpRequest, obj: Quote | None = None) -> Any:
        header = ("party", "invoice_type", "valid_until", "customer_reference", "notes")
        if obj is None:
            return [(None, {"fields": header})]
        return [(None, {"fields": ("name", "status", "issued_on", *header)}),
                (_("Amounts"), {"fields": ("net", "vat", "total_amount")})]

    def get_readonly_fields(self, request: HttpRequest, obj: Quote | None = None) -> Any:
        if obj is None:
            return ()
        return ("name", "status", "issued_on", "net", "vat", "total_amount")

    @admin.display(description=_("quote"), ordering="number")
    def name(self, quote: Quote) -> str:
        return quote.display_name

    def current_totals(self, quote: Quote) -> tuple[Money, Money, Money]:
        totals = quote_totals(quote)
        return totals.net, totals.vat, totals.total

    # -- writing through the services --

    def save_model(self, request: HttpRequest, obj: Quote, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changed = {name: data[name] for name in form.changed_data if name in QuoteForm.Meta.fields}
            if changed:
                adopt(obj, edit_quote(quote_id=obj.pk, by=request.user, **changed))
            return
        adopt(obj, create_quote(customer=data["party"], invoice_type=data["invoice_type"], by=request.user,
                                valid_until=data.get("valid_until"),
                                customer_reference=data.get("customer_reference") or "",
                                notes=data.get("notes") or ""))

    def add_document_line(self, document: Quote, by: Any, **arguments: Any) -> QuoteLine:
        return add_quote_line(quote_id=document.pk, by=by, **arguments)

    def remove_document_line(self, line_id: int, by: Any) -> None:
        remove_quote_line(line_id=line_id, by=by)

    # -- the change page: moves, deposit requests, final invoice, audit trail --

    def page_context(self, request: HttpRequest, quote: Quote) -> dict[str, Any]:
        status = Quote.Status
        moves = []
        if quote.status == status.DRAFT:
            moves.append(("send", _("Send")))
        if quote.status == status.SENT:
            moves.append(("accept", _("Accepted by the customer")))
        final = quote.invoices.filter(kind=Invoice.Kind.INVOICE).exclude(status=Invoice.Status.CANCELLED).first()
        if quote.status == status.ACCEPTED and final is None:
            moves.append(("invoice", _("Make the final invoice")))
        if quote.status in (status.DRAFT, status.SENT, status.ACCEPTED):
            moves.append(("cancel", _("Cancel")))
        rows = []
        for deposit in quote.deposit_requests.select_related("entry").order_by("position", "pk"):
            code = deposit_display_status(deposit)
            due = deposit_amount_due(deposit)
            rows.append({
                "deposit": deposit, "status": DEPOSIT_STATUSES[code], "paid": deposit_paid(deposit), "due": due,
                "pay_url": pay_url(organisation_id=deposit.organisation_id, line_id=deposit.receivable_line_id,
                                   due=due, request=request),
                "entry_link": entry_link(deposit.entry) if deposit.entry_id else "",
                "issue_url": reverse("staff:deposit_issue", args=[deposit.pk])
                if deposit.status == DepositRequest.Status.DRAFT and quote.status in (status.SENT, status.ACCEPTED)
                else None,
            })
        return {
            "quote_moves": [(reverse("staff:quote_action", args=[quote.pk, name]), label) for name, label in moves],
            "deposit_rows": rows,
            "deposit_add_url": reverse("staff:quote_deposit_add", args=[quote.pk])
            if quote.status in (status.SENT, status.ACCEPTED) else None,
            "final_invoice": final,
            "audit_events": list(events_for(quote)),
        }


@admin.register(DepositRequest)
class DepositRequestAdmin(ReadOnlyAdmin):
    """Every deposit request with what is due on it now; asked, issued and sent (pay link) from its quote's page."""

    list_display = ("name", "quote_link", "customer", "amount", "due_on", "due", "status_label")
    list_select_related = ("quote__party", "organisation")
    list_filter = ("status",)
    search_fields = ("number", "quote__number", "quote__party__name", "quote__party__ref")
    fields = ("name", "quote_link", "customer", "label", "amount", "due_on", "status_label", "paid", "due",
              "issued_entry", "deduction")
    readonly_fields = fields

    @admin.display(description=_("deposit request"), ordering="number")
    def name(self, deposit: DepositRequest) -> str:
        return deposit.display_name

    @admin.display(description=_("quote"))
    def quote_link(self, deposit: DepositRequest) -> str:
        return format_html('<a href="{}">{}</a>', reverse("admin:invoicing_quote_change", args=[deposit.quote_id]),
                           deposit.quote.display_name)

    @admin.display(description=_("customer"))
    def customer(self, deposit: DepositRequest) -> str:
        return str(deposit.quote.party)

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount(self, deposit: DepositRequest) -> str:
        return format_money(deposit.amount)

    @admin.display(description=_("paid"))
    def paid(self, deposit: DepositRequest) -> str:
        return format_money(deposit_paid(deposit))

    @admin.display(description=_("amount due"))
    def due(self, deposit: DepositRequest) -> str:
        return format_money(deposit_amount_due(deposit))

    @admin.display(description=_("status"))
    def status_label(self, deposit: DepositRequest) -> str:
        return str(DEPOSIT_STATUSES[deposit_display_status(deposit)])

    @admin.display(description=_("ledger entry"))
    def issued_entry(self, deposit: DepositRequest) -> str:
        return entry_link(deposit.entry)

    @admin.display(description=_("deducted by"))
    def deduction(self, deposit: DepositRequest) -> str:
        final = Invoice.objects.filter(quote_id=deposit.quote_id, kind=Invoice.Kind.INVOICE,
                                       status=Invoice.Status.POSTED).first()
        if deposit.deduction_entry_id is None or final is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:invoicing_invoice_change", args=[final.pk]),
                           final.display_name)
