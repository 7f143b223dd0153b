"""Payments: offline ones, provider accounts, online attempts, provider notifications and saved methods.

Offline payments are recorded through the customer's "Record a payment" page,
online attempts and notifications are written by the payments services only
(this shows them), and a provider account's secrets are read from the
environment: its page names the variables and shows whether each is set,
never more than the last four characters.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import events_for, record_event
from encaisse.invoicing.models import Invoice
from encaisse.parties.models import Membership
from encaisse.payments.models import (
    AttemptKind,
    AttemptStatus,
    InboundEvent,
    Payment,
    PaymentAttempt,
    ProviderAccount,
    SavedMethod,
)
from encaisse.payments.paylinks import public_url
from encaisse.payments.selectors import (
    PROVIDER_OPTIONS,
    events_of,
    is_configured,
    items_paid_by,
    refunds_of,
    secret_states,
)

from ..site import OrganisationScopedAdmin, ReadOnlyAdmin, organisations_of
from ..templatetags.backoffice_tags import format_money
from .ledger import entry_link


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("received_on", "customer", "method", "amount_display", "reference", "cheque_number",
                    "created_by")
    list_filter = ("method", "received_on")
    search_fields = ("customer__name", "customer__ref", "reference", "cheque_number")
    list_select_related = ("customer", "created_by")
    fields = ("customer", "method", "amount_display", "received_on", "reference", "cheque_bank", "cheque_number",
              "entry", "created_by", "created_at")
    readonly_fields = fields

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_display(self, obj: Payment) -> str:
        return format_money(obj.amount)


def pretty_json(data: Any) -> str:
    """Stored requests and answers, indented for reading (they never hold card data: adapters keep it out)."""
    if not data:
        return "—"
    return format_html('<pre class="backoffice-json">{}</pre>',
                       json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True, default=str))


def attempt_link(attempt: PaymentAttempt | None) -> str:
    if attempt is None:
        return "—"
    url = reverse("admin:payments_paymentattempt_change", args=[attempt.pk])
    return format_html('<a href="{}">{}</a>', url, attempt)


# --- provider accounts ------------------------------------------------------------------------------------------


def managed_organisations(user: Any) -> QuerySet:
    """Provider accounts decide where money goes: only an organisation's managers set them up."""
    organisations = organisations_of(user)
    if user.is_superuser:
        return organisations
    return organisations.filter(memberships__user=user, memberships__role=Membership.Role.MANAGER)


class ManagersOnlyAdmin(OrganisationScopedAdmin):
    """Settings that decide where money goes: every member sees them, only their organisation's managers add or
    change them (and only in an organisation they manage)."""

    def _manages(self, request: HttpRequest, obj: Model | None) -> bool:
        organisations = managed_organisations(request.user)
        if obj is None:
            return organisations.exists()
        return organisations.filter(pk=obj.organisation_id).exists()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._member(request) and self._manages(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._member(request) and self._manages(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "organisation":
            field.queryset = managed_organisations(request.user)
        return field


class ProviderAccountForm(forms.ModelForm):
    """Non-secret options only: secrets come from the environment and are never typed in here."""

    class Meta:
        model = ProviderAccount
        fields = ("organisation", "name", "provider", "code", "regie_code", "active", "settings")
        help_texts = {"settings": _("Non-secret options as JSON, e.g. {\"pspid\": \"MYSHOP\"}; the options of "
                                    "each provider are listed below. Never put a key or password here.")}

    def clean_settings(self) -> Any:
        value = self.cleaned_data.get("settings")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Give the options as a JSON object: {\"name\": \"value\"}."))
        return value


@admin.register(ProviderAccount)
class ProviderAccountAdmin(ManagersOnlyAdmin):
    form = ProviderAccountForm
    change_form_template = "backoffice/payments/provideraccount_change_form.html"
    list_display = ("name", "provider", "code", "regie_code", "active", "configured")
    list_display_links = ("name",)
    list_filter = ("provider", "active")
    search_fields = ("name", "code", "regie_code")

    @admin.display(description=_("configured"), boolean=True)
    def configured(self, account: ProviderAccount) -> bool:
        return is_configured(account)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.attempts.exists():
            # Attempts and their webhooks name the account by code; its provider holds their references.
            fields += ["provider", "code"]
        return fields

    def _page_context(self, request: HttpRequest, account: ProviderAccount | None) -> dict[str, Any]:
        return {
            "webhook_url": public_url(f"/hooks/{account.code}/", request) if account else None,
            "secrets": secret_states(account) if account else [],
            "configured": is_configured(account) if account else None,
            "provider_options": [(label, PROVIDER_OPTIONS[code]) for code, label in ProviderAccount._meta
                                 .get_field("provider").choices if code in PROVIDER_OPTIONS],
        }

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        account = self.get_object(request, object_id)
        context = {**(extra_context or {}), **self._page_context(request, account)}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def add_view(self, request: HttpRequest, form_url: str = "",
                 extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {}), **self._page_context(request, None)}
        return super().add_view(request, form_url, extra_context=context)

    def save_model(self, request: HttpRequest, obj: ProviderAccount, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        record_event(obj, "changed" if change else "created", by=request.user,
                     data={"fields": form.changed_data})


# --- online payment attempts ------------------------------------------------------------------------------------


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    """Every request made to a provider, its answer and what it booked; written by the payments services only."""

    change_form_template = "backoffice/payments/paymentattempt_change_form.html"
    list_display = ("created_at", "customer", "provider_account", "kind", "amount_display", "status",
                    "decline_code", "provider_reference")
    list_filter = ("status", "kind", ("provider_account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("customer__ref", "customer__name", "provider_reference")
    list_select_related = ("customer", "provider_account")
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ("customer", "provider_account", "kind", "amount_display", "status", "created_by")}),
        (_("Provider's answer"), {"fields": ("created_at", "answered_at", "provider_reference", "decline_code",
                                             "message")}),
        (_("Booked"), {"fields": ("entry", "refund_of_link", "saved_method_link")}),
        (_("Exchanged with the provider"), {"fields": ("request_json", "response_json"),
                                            "classes": ("collapse",)}),
    ]
    readonly_fields = ("customer", "provider_account", "kind", "amount_display", "status", "created_by",
                       "created_at", "answered_at", "provider_reference", "decline_code", "message", "entry",
                       "refund_of_link", "saved_method_link", "request_json", "response_json")

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_display(self, attempt: PaymentAttempt) -> str:
        return format_money(attempt.amount)

    @admin.display(description=_("ledger entry"))
    def entry(self, attempt: PaymentAttempt) -> str:
        return entry_link(attempt.settled_entry)

    @admin.display(description=_("refund of"))
    def refund_of_link(self, attempt: PaymentAttempt) -> str:
        return attempt_link(attempt.refund_of)

    @admin.display(description=_("saved method"))
    def saved_method_link(self, attempt: PaymentAttempt) -> str:
        method = attempt.saved_method
        if method is None:
            return "—"
        url = reverse("admin:payments_savedmethod_change", args=[method.pk])
        return format_html('<a href="{}">{}</a>', url, method)

    @admin.display(description=_("request sent"))
    def request_json(self, attempt: PaymentAttempt) -> str:
        return pretty_json(attempt.request)

    @admin.display(description=_("answer received"))
    def response_json(self, attempt: PaymentAttempt) -> str:
        return pretty_json(attempt.response)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        attempt = self.get_object(request, object_id)
        items = items_paid_by(attempt)
        invoices = {invoice.receivable_line_id: invoice
                    for invoice in Invoice.objects.filter(receivable_line_id__in=[item.line.pk for item in items])}
        moved_money_in = attempt.kind in (AttemptKind.CHECKOUT, AttemptKind.CHARGE)  # not refunds, not card setups
        refundable = moved_money_in and attempt.status == AttemptStatus.SUCCEEDED
        context = {
            **(extra_context or {}),
            "paid_items": [(item, invoices.get(item.line.pk)) for item in items],
            "refunds": refunds_of(attempt),
            "inbound_events": events_of([attempt]),
            "audit_events": list(events_for(attempt)),
            "refund_url": reverse("staff:attempt_refund", args=[attempt.pk]) if refundable else None,
        }
        return super().change_view(request, object_id, form_url, extra_context=context)


# --- provider notifications -------------------------------------------------------------------------------------


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdmin):
    """Verified notifications as the provider sent them, stored once each, with what they did."""

    organisation_path = "provider_account__organisation"
    list_display = ("received_at", "provider_account", "event_id", "outcome", "processed_at", "attempt_column")
    list_filter = ("outcome", ("provider_account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("event_id", "attempt__provider_reference")
    list_select_related = ("provider_account", "attempt")
    fields = ("received_at", "provider_account", "event_id", "outcome", "processed_at", "attempt_column",
              "payload_json")
    readonly_fields = fields

    @admin.display(description=_("attempt"))
    def attempt_column(self, event: InboundEvent) -> str:
        return attempt_link(event.attempt)

    @admin.display(description=_("payload"))
    def payload_json(self, event: InboundEvent) -> str:
        return pretty_json(event.payload)


# --- saved methods ----------------------------------------------------------------------------------------------


@admin.register(SavedMethod)
class SavedMethodAdmin(ReadOnlyAdmin):
    """Listed here; chosen as default and revoked from each customer's "Saved payment methods" page."""

    list_display = ("customer", "brand", "last4", "expiry", "provider_account", "status", "is_default",
                    "customer_page")
    list_filter = ("status", "is_default", ("provider_account", admin.RelatedOnlyFieldListFilter))
    search_fields = ("customer__ref", "customer__name", "last4")
    list_select_related = ("customer", "provider_account")
    fields = ("customer", "kind", "brand", "last4", "expiry", "provider_account", "status", "is_default",
              "consent_text", "consent_at", "consent_ip", "source_attempt_link", "created_at", "revoked_at",
              "revoked_reason", "customer_page")
    readonly_fields = fields

    @admin.display(description=_("expiry"))
    def expiry(self, method: SavedMethod) -> str:
        if not method.exp_month or not method.exp_year:
            return "—"
        return f"{method.exp_month:02d}/{method.exp_year}"

    @admin.display(description=_("saved while paying"))
    def source_attempt_link(self, method: SavedMethod) -> str:
        return attempt_link(method.source_attempt)

    @admin.display(description=_("manage"))
    def customer_page(self, method: SavedMethod) -> str:
        url = reverse("staff:customer_methods", args=[method.customer_id])
        return format_html('<a href="{}">{}</a>', url, _("Saved payment methods of the customer"))
