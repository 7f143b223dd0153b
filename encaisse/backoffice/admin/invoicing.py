"""Régies, series, VAT rates, products, invoice types and invoices.

Invoices are written through the invoicing services: a draft is created by
create_draft, lines by add_line and remove_line, and every move (validate,
back to draft, cancel, post, credit note) is a button on the invoice page that
posts to a staff view (views.invoice_action). Only drafts are edited here; a
posted invoice's page is read-only and a credit note corrects it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import events_for, record_event
from encaisse.core.money import Money
from encaisse.invoicing.models import (
    Invoice,
    InvoiceLine,
    InvoiceSeries,
    InvoiceType,
    PaymentMethod,
    Product,
    Regie,
    SeriesCounter,
    VatRate,
)
from encaisse.invoicing.selectors import (
    DISPLAY_STATUSES,
    display_status,
    display_status_label,
    filter_display_status,
    with_amounts,
)
from encaisse.invoicing.services import add_line, create_draft, remove_line
from encaisse.invoicing.totals import LineInput, compute_totals
from encaisse.payments.selectors import transactions_of_line
from encaisse.usage.models import Partner

from ..site import OrganisationScopedAdmin, adopt, scoped
from ..templatetags.backoffice_tags import format_money
from ..usage_views import validate_drafts
from ..views import invoice_pay_url
from .documents import DocumentLineForm, DraftDocumentAdmin, DraftLinesInline
from .ledger import entry_link


class RegieForm(forms.ModelForm):
    allowed_methods = forms.MultipleChoiceField(
        label=_("allowed payment methods"), choices=PaymentMethod.choices, required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Regie
        fields = ("organisation", "code", "name", "journal", "bank_account", "allowed_methods")


@admin.register(Regie)
class RegieAdmin(OrganisationScopedAdmin):
    form = RegieForm
    list_display = ("code", "name", "journal", "bank_account", "methods")
    list_display_links = ("code", "name")
    search_fields = ("code", "name")

    @admin.display(description=_("allowed payment methods"))
    def methods(self, regie: Regie) -> str:
        labels = dict(PaymentMethod.choices)
        return ", ".join(str(labels.get(m, m)) for m in regie.allowed_methods)


@admin.register(InvoiceSeries)
class InvoiceSeriesAdmin(OrganisationScopedAdmin):
    list_display = ("code", "prefix", "yearly_reset", "padding", "example")
    fields = ("organisation", "code", "prefix", "yearly_reset", "padding", "example")
    readonly_fields = ("example",)

    @admin.display(description=_("next number looks like"))
    def example(self, series: InvoiceSeries) -> str:
        if series is None or not series.prefix:
            return "—"
        return series.format_number(year=timezone.localdate().year, value=1)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and SeriesCounter.objects.filter(series=obj, last_value__gt=0).exists():
            # Numbers were given: changing how they look would break the sequence.
            fields += ["code", "prefix", "yearly_reset", "padding"]
        return fields


@admin.register(VatRate)
class VatRateAdmin(OrganisationScopedAdmin):
    list_display = ("code", "name", "percent", "account")
    list_display_links = ("code", "name")
    fields = ("organisation", "code", "name", "percent", "account")

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and InvoiceLine.objects.filter(vat_rate=obj).exists():
            # Lines point at the rate, not at a copy of its percentage: a new rate is a new code.
            fields += ["code", "percent"]
        return fields


@admin.register(Product)
class ProductAdmin(OrganisationScopedAdmin):
    list_display = ("code", "label", "unit", "unit_price", "vat_rate", "revenue_account", "active")
    list_display_links = ("code", "label")
    list_filter = ("active", ("vat_rate", admin.RelatedOnlyFieldListFilter))
    search_fields = ("code", "label")
    fields = ("organisation", "code", "label", "unit", "unit_price", "vat_rate", "revenue_account", "active")


@admin.register(InvoiceType)
class InvoiceTypeAdmin(OrganisationScopedAdmin):
    list_display = ("code", "name", "regie", "series", "credit_note_series", "payment_delay_days", "active")
    list_display_links = ("code", "name")
    list_filter = ("active", ("regie", admin.RelatedOnlyFieldListFilter))
    fields = ("organisation", "code", "name", "regie", "series", "credit_note_series", "payment_delay_days",
              "wording", "active")


# --- invoices ---------------------------------------------------------------------------------------------


class DisplayStatusFilter(admin.SimpleListFilter):
    """The status people see, derived from the ledger: to pay, partially paid, paid, overdue..."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(DISPLAY_STATUSES.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if value not in DISPLAY_STATUSES:
            return queryset.none()
        return filter_display_status(queryset, value, today=timezone.localdate())


class PeriodFilter(admin.SimpleListFilter):
    """The month billed: the billing period when there is one, the issue date otherwise."""

    title = _("period")
    parameter_name = "period"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        invoices = model_admin.get_queryset(request)
        months = set(invoices.dates("billing_period", "month")) | set(
            invoices.filter(billing_period__isnull=True).dates("issued_on", "month"))
        return [(m.strftime("%Y-%m"), m.strftime("%m/%Y")) for m in sorted(months, reverse=True)[:24]]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        try:
            year, month = (int(part) for part in self.value().split("-"))
            date(year, month, 1)
        except ValueError:
            return queryset.none()
        return queryset.filter(
            Q(billing_period__year=year, billing_period__month=month)
            | Q(billing_period__isnull=True, issued_on__year=year, issued_on__month=month)
        )


class InvoiceForm(forms.ModelForm):
    class Meta:
        model = Invoice
        fields = ("party", "invoice_type", "issued_on", "billing_period", "customer_reference", "notes")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk and self.instance.status != Invoice.Status.DRAFT:
            raise forms.ValidationError(_("Only a draft can be changed."))
        return cleaned


class InvoiceLineForm(DocumentLineForm):
    document_field = "invoice"

    class Meta(DocumentLineForm.Meta):
        model = InvoiceLine


class InvoiceLineInline(DraftLinesInline):
    model = InvoiceLine
    form = InvoiceLineForm
    fields = ("product", "label", "quantity", "unit", "unit_price", "vat_rate", "net", "origin")
    readonly_fields = ("net", "origin")

    @admin.display(description=_("net"))
    def net(self, line: InvoiceLine) -> str:
        if line.pk is None:
            return ""
        if line.net_minor is not None:
            return format_money(Money(line.net_minor, line.invoice.currency))
        return format_money(Money.of(line.quantity * line.unit_price, line.invoice.currency))

    @admin.display(description=_("from"))
    def origin(self, line: InvoiceLine) -> str:
        """Where the line came from: the usage import and its file line, or staff."""
        if line.pk is None:
            return ""
        if line.source_import_id:
            url = reverse("admin:usage_usageimport_change", args=[line.source_import_id])
            return format_html('<a href="{}">{}</a>', url, _("import #%(id)s, line %(line)s") % {
                "id": line.source_import_id, "line": line.source_line_number})
        return line.get_source_display()


class PartnerFilter(admin.SimpleListFilter):
    """Invoices holding lines imported from one partner's files."""

    title = _("partner")
    parameter_name = "partner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(p.pk), p.name) for p in scoped(Partner.objects.all(), request.user).order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        if not self.value().isdigit():
            return queryset.none()
        lines = InvoiceLine.objects.filter(source_key__startswith=f"usage:{int(self.value())}:")
        return queryset.filter(pk__in=lines.values("invoice_id"))


class KindFilter(admin.SimpleListFilter):
    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return Invoice.Kind.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(Invoice)
class InvoiceAdmin(DraftDocumentAdmin):
    form = InvoiceForm
    change_form_template = "backoffice/invoicing/invoice_change_form.html"
    list_display = ("name", "party", "invoice_type", "issued_on", "due_on", "total", "due", "status_label")
    list_select_related = ("party", "invoice_type", "organisation")
    list_filter = (
        DisplayStatusFilter,
        KindFilter,
        ("invoice_type", admin.RelatedOnlyFieldListFilter),
        ("invoice_type__regie", admin.RelatedOnlyFieldListFilter),
        PeriodFilter,
        PartnerFilter,
    )
    actions = ["validate_selected_drafts"]
    search_fields = ("number", "party__name", "party__ref", "customer_reference")
    autocomplete_fields = ("party",)
    inlines = [InvoiceLineInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return with_amounts(super().get_queryset(request))

    def get_fieldsets(self, request: HttpRequest, obj: Invoice | None = None) -> Any:
        header = ("party", "invoice_type", "issued_on", "billing_period", "customer_reference", "notes")
        if obj is None:
            return [(None, {"fields": header})]
        return [
            (None, {"fields": ("name", "kind", "status_label", "credited_invoice_link", *header, "due_on")}),
            (_("Amounts"), {"fields": ("net", "vat", "total_amount", "due", "entry_link")}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Invoice | None = None) -> Any:
        if obj is None:
            return ()
        return ("name", "kind", "status_label", "credited_invoice_link", "due_on", "net", "vat", "total_amount",
                "due", "entry_link")

    # -- columns and read-only fields --

    @admin.display(description=_("invoice"), ordering="number")
    def name(self, invoice: Invoice) -> str:
        return invoice.display_name

    @admin.display(description=_("status"))
    def status_label(self, invoice: Invoice) -> str:
        return display_status_label(display_status(invoice, today=timezone.localdate()))

    def current_totals(self, invoice: Invoice) -> tuple[Money, Money, Money]:
        totals = compute_totals(
            (LineInput(quantity=ln.quantity, unit_price=ln.unit_price, vat_percent=ln.vat_rate.percent,
                       vat_key=ln.vat_rate.account_id, revenue_key=ln.revenue_account_id)
             for ln in invoice.lines.select_related("vat_rate")),
            currency=invoice.currency,
        )
        return totals.net, totals.vat, totals.total

    @admin.display(description=_("amount due"), ordering="due_minor")
    def due(self, invoice: Invoice) -> str:
        if invoice.status != Invoice.Status.POSTED:
            return "—"
        return format_money(Money(invoice.due_minor, invoice.currency))

    @admin.display(description=_("ledger entry"))
    def entry_link(self, invoice: Invoice) -> str:
        return entry_link(invoice.entry)

    @admin.display(description=_("credited invoice"))
    def credited_invoice_link(self, invoice: Invoice) -> str:
        if invoice.credited_invoice_id is None:
            return "—"
        url = reverse("admin:invoicing_invoice_change", args=[invoice.credited_invoice_id])
        return format_html('<a href="{}">{}</a>', url, invoice.credited_invoice)

    # -- writing through the services --

    @admin.action(description=_("Validate the selected drafts"))
    def validate_selected_drafts(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        """Each draft on its own: a refused one (no line…) is named and the others are validated."""
        drafts = list(queryset.filter(status=Invoice.Status.DRAFT).values_list("pk", flat=True))
        validated, failures = validate_drafts(drafts, by=request.user)
        messages.success(request, _("%(count)s drafts validated.") % {"count": validated})
        for failure in failures:
            messages.error(request, failure)

    def save_model(self, request: HttpRequest, obj: Invoice, form: forms.ModelForm, change: bool) -> None:
        if change:
            obj.save()
            record_event(obj, "edited", by=request.user, data={"fields": form.changed_data})
            return
        data = form.cleaned_data
        created = create_draft(
            customer=data["party"], invoice_type=data["invoice_type"], by=request.user,
            issued_on=data.get("issued_on"), billing_period=data.get("billing_period"),
            customer_reference=data.get("customer_reference") or "", notes=data.get("notes") or "",
        )
        adopt(obj, created)

    def add_document_line(self, document: Invoice, by: Any, **arguments: Any) -> InvoiceLine:
        return add_line(invoice_id=document.pk, by=by, **arguments)

    def remove_document_line(self, line_id: int, by: Any) -> None:
        remove_line(line_id=line_id, by=by)

    # -- the change page: actions, ledger entry, audit trail --

    def page_context(self, request: HttpRequest, invoice: Invoice) -> dict[str, Any]:
        status = Invoice.Status
        moves = []
        if invoice.status == status.DRAFT:
            moves.append(("validate", _("Validate")))
        if invoice.status == status.VALIDATED:
            moves += [("post", _("Post")), ("reopen", _("Back to draft"))]
        if invoice.status in (status.DRAFT, status.VALIDATED):
            moves.append(("cancel", _("Cancel")))
        can_credit = invoice.status == status.POSTED and invoice.kind == Invoice.Kind.INVOICE
        if can_credit:
            moves.append(("credit", _("Full credit note")))
        entry_lines = []
        if invoice.entry_id:
            entry_lines = list(invoice.entry.lines.select_related("account", "party"))
        credit_notes = list(invoice.credit_notes.order_by("pk")) if invoice.kind == Invoice.Kind.INVOICE else []
        posted = invoice.status == status.POSTED and invoice.receivable_line_id is not None
        return {
            **self.payment_context(request, invoice, posted=posted),
            "invoice_moves": [(reverse("staff:invoice_action", args=[invoice.pk, name]), label)
                              for name, label in moves],
            "partial_credit_url": reverse("staff:invoice_credit_note", args=[invoice.pk]) if can_credit else None,
            "entry_lines": entry_lines,
            "audit_events": list(events_for(invoice)),
            "credit_notes": credit_notes,
        }

    def payment_context(self, request: HttpRequest, invoice: Invoice, *, posted: bool) -> dict[str, Any]:
        """How the invoice is being paid: attempts, notifications, payments, entries; its pay link; sending it."""
        if not posted:
            return {}
        return {
            "transactions": transactions_of_line(customer=invoice.party, line=invoice.receivable_line),
            "pay_url": invoice_pay_url(request, invoice),
            "send_url": reverse("staff:invoice_send", args=[invoice.pk]),
        }
