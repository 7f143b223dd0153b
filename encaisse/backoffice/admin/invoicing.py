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
from django.http import HttpRequest, HttpResponse
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

from ..site import OrganisationScopedAdmin, adopt, organisation_id_of, scoped
from ..templatetags.backoffice_tags import format_money
from ..usage_views import validate_drafts
from ..views import invoice_pay_url
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


class InvoiceLineForm(forms.ModelForm):
    """A line from the catalogue (the product fills in what is left empty) or a free line."""

    class Meta:
        model = InvoiceLine
        fields = ("product", "label", "quantity", "unit", "unit_price", "vat_rate")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("label", "unit", "unit_price", "vat_rate"):
            self.fields[name].required = False
        self.fields["unit"].initial = ""
        self.fields["quantity"].initial = 1

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("DELETE"):
            return cleaned
        if cleaned.get("product") is None:
            for name in ("label", "unit_price", "vat_rate"):
                if cleaned.get(name) in (None, ""):
                    self.add_error(name, _("Needed for a line without a product."))
        # The inline formset sets every line's invoice to the page's (maybe still unsaved) invoice.
        organisation_id = _invoice_organisation_id(getattr(self.instance, "invoice", None))
        for name in ("product", "vat_rate"):
            value = cleaned.get(name)
            if value is not None and organisation_id is not None and organisation_id_of(value) != organisation_id:
                self.add_error(name, _("“%(value)s” belongs to another organisation.") % {"value": value})
        return cleaned

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "product": data.get("product"),
            "label": data.get("label") or "",
            "quantity": data["quantity"],
            "unit": data.get("unit") or None,
            "unit_price": data.get("unit_price"),
            "vat_rate": data.get("vat_rate"),
        }


def _invoice_organisation_id(invoice: Invoice | None) -> int | None:
    if invoice is None:
        return None
    if invoice.organisation_id:
        return invoice.organisation_id
    return invoice.party.organisation_id if invoice.party_id else None


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    form = InvoiceLineForm
    fields = ("product", "label", "quantity", "unit", "unit_price", "vat_rate", "net", "origin")
    readonly_fields = ("net", "origin")

    def _draft(self, obj: Invoice | None) -> bool:
        return obj is None or obj.status == Invoice.Status.DRAFT

    def get_extra(self, request: HttpRequest, obj: Invoice | None = None, **kwargs: Any) -> int:
        return 1 if self._draft(obj) else 0

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return True  # the invoice page itself is scoped to the user's organisations

    def has_add_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return self._draft(obj)

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return self._draft(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return obj is not None and self._draft(obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        from ..site import scoped

        if db_field.name in ("product", "vat_rate"):
            queryset = scoped(db_field.related_model._default_manager.all(), request.user)
            if db_field.name == "product":
                queryset = queryset.filter(active=True)
            kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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
class InvoiceAdmin(OrganisationScopedAdmin):
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

    class Media:
        # The move buttons' style, also on admin pages that use Django's own header.
        css = {"all": ["backoffice/backoffice.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return with_amounts(super().get_queryset(request))

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        # Only a draft is edited; a validated invoice goes back to draft first, a posted one is credited.
        return super().has_change_permission(request, obj) and (obj is None or obj.status == Invoice.Status.DRAFT)

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

    def _totals(self, invoice: Invoice) -> tuple[Money, Money, Money]:
        """Frozen totals once posted; before that, what posting would compute now (one query per page)."""
        if not hasattr(invoice, "_backoffice_totals"):
            invoice._backoffice_totals = self._compute_totals(invoice)
        return invoice._backoffice_totals

    def _compute_totals(self, invoice: Invoice) -> tuple[Money, Money, Money]:
        if invoice.total_minor is not None:
            return invoice.net, invoice.vat, invoice.total
        totals = compute_totals(
            (LineInput(quantity=ln.quantity, unit_price=ln.unit_price, vat_percent=ln.vat_rate.percent,
                       vat_key=ln.vat_rate.account_id, revenue_key=ln.revenue_account_id)
             for ln in invoice.lines.select_related("vat_rate")),
            currency=invoice.currency,
        )
        return totals.net, totals.vat, totals.total

    @admin.display(description=_("net"))
    def net(self, invoice: Invoice) -> str:
        return format_money(self._totals(invoice)[0])

    @admin.display(description=_("VAT"))
    def vat(self, invoice: Invoice) -> str:
        return format_money(self._totals(invoice)[1])

    @admin.display(description=_("total"))
    def total_amount(self, invoice: Invoice) -> str:
        return format_money(self._totals(invoice)[2])

    @admin.display(description=_("total"), ordering="total_minor")
    def total(self, invoice: Invoice) -> str:
        if invoice.total_minor is None:
            return "—"
        return format_money(invoice.total)

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

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """Lines go through add_line and remove_line; a changed line is removed and added again.

        The admin's change message reads new_objects, changed_objects and
        deleted_objects, so they are filled as formset.save() would.
        """
        invoice = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for line_form in formset.forms:
            line = line_form.instance
            if line.pk is not None and formset.can_delete and formset._should_delete_form(line_form):
                remove_line(line_id=line.pk, by=request.user)
                formset.deleted_objects.append(line)
            elif line.pk is None and line_form.has_changed():
                formset.new_objects.append(
                    add_line(invoice_id=invoice.pk, by=request.user, **line_form.service_arguments()))
            elif line.pk is not None and line_form.has_changed():
                remove_line(line_id=line.pk, by=request.user)
                new = add_line(invoice_id=invoice.pk, by=request.user, **line_form.service_arguments())
                formset.changed_objects.append((new, line_form.changed_data))

    # -- the change page: actions, ledger entry, audit trail --

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        invoice = self.get_object(request, object_id)
        context = {**(extra_context or {}), **self.page_context(request, invoice)}
        return super().change_view(request, object_id, form_url, extra_context=context)

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
