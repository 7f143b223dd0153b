"""Partners with their file format and service mappings; the history of usage imports with their reports.

Imports are written by usage.services.import_usage_file only (from the import
page, the CLI or the API): here they are read, with their report and the
original file, never changed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.usage.models import Partner, ServiceMapping, UsageImport

from ..site import OrganisationScopedAdmin, ReadOnlyAdmin, scoped


class ServiceMappingForm(forms.ModelForm):
    class Meta:
        model = ServiceMapping
        fields = ("service_code", "product")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        partner = getattr(self.instance, "partner", None)
        product = cleaned.get("product")
        organisation_id = getattr(partner, "organisation_id", None)
        if product is not None and organisation_id and product.organisation_id != organisation_id:
            self.add_error("product", _("“%(value)s” belongs to another organisation.") % {"value": product})
        return cleaned


class ServiceMappingInline(admin.TabularInline):
    model = ServiceMapping
    form = ServiceMappingForm
    extra = 1

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return True  # the partner's page itself is scoped to the user's organisations

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return True

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return True

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return True

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "product":
            kwargs["queryset"] = scoped(db_field.related_model._default_manager.filter(active=True), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Partner)
class PartnerAdmin(OrganisationScopedAdmin):
    list_display = ("code", "name", "invoice_type", "format_confirmed", "active", "last_import")
    list_display_links = ("code", "name")
    list_filter = ("active", "format_confirmed")
    search_fields = ("code", "name")
    inlines = [ServiceMappingInline]
    fieldsets = [
        (None, {"fields": ("organisation", "code", "name", "invoice_type", "active")}),
        (_("File format"), {
            "description": _("Leave empty what is not known yet: it is detected from each file and shown "
                             "for confirmation on the import page."),
            "fields": ("format_confirmed", "file_kind", "encoding", "separator", "decimal_comma", "date_format",
                       "has_header", "columns"),
        }),
        (_("Billing rules"), {"fields": ("price_source", "unknown_service", "repeated_lines_allowed",
                                         "max_line_amount_minor")}),
    ]

    @admin.display(description=_("last import"))
    def last_import(self, partner: Partner) -> str:
        last = partner.imports.filter(status=UsageImport.Status.SUCCEEDED).order_by("-started_at").first()
        if last is None:
            return "—"
        url = reverse("admin:usage_usageimport_change", args=[last.pk])
        return format_html('<a href="{}">{} · {}</a>', url, f"{last.period:%m/%Y}", last.filename)

    def save_model(self, request: HttpRequest, obj: Partner, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        record_event(obj, "edited" if change else "created", by=request.user,
                     data={"fields": form.changed_data} if change else None)


@admin.register(UsageImport)
class UsageImportAdmin(ReadOnlyAdmin):
    change_form_template = "backoffice/usage/usageimport_change_form.html"
    change_list_template = "backoffice/usage/usageimport_change_list.html"
    list_display = ("partner", "month", "filename", "status", "lines_read", "lines_accepted", "invoices_created",
                    "invoices_updated", "imported_by", "started_at", "origin")
    list_select_related = ("partner", "imported_by", "organisation")
    list_filter = ("status", ("partner", admin.RelatedOnlyFieldListFilter), "origin")
    search_fields = ("filename", "partner__code", "partner__name", "content_hash")
    date_hierarchy = "period"
    fields = ("partner", "month", "status", "filename", "original_file", "imported_by", "origin", "started_at",
              "finished_at", "lines_read", "lines_accepted", "invoices_created", "invoices_updated",
              "content_hash", "format_used")
    readonly_fields = fields

    @admin.display(description=_("month"), ordering="period")
    def month(self, usage_import: UsageImport) -> str:
        return f"{usage_import.period:%m/%Y}"

    @admin.display(description=_("original file"))
    def original_file(self, usage_import: UsageImport) -> str:
        if not usage_import.original:
            return "—"
        url = reverse("staff:usage_import_file", args=[usage_import.pk])
        return format_html('<a href="{}" id="original-file">{}</a>', url, _("Download"))

    @admin.display(description=_("format used"))
    def format_used(self, usage_import: UsageImport) -> str:
        fmt = usage_import.detected_format or (usage_import.report or {}).get("format") or {}
        return ", ".join(f"{key}: {value!r}" for key, value in fmt.items()) or "—"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        usage_import = self.get_object(request, object_id)
        context = {**(extra_context or {}), "report": usage_import.report or {}}
        return super().change_view(request, object_id, form_url, extra_context=context)
