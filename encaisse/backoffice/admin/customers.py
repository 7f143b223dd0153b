"""Customers and their tags; each customer's page leads to its account statement."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import BigIntegerField, F, Model, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from encaisse.collection.models import CollectionHold
from encaisse.core.audit import record_event
from encaisse.core.money import Money
from encaisse.invoicing.services.by_email import NoEmailForInvoices, set_invoices_by_email
from encaisse.ledger.models import EntryLine
from encaisse.ledger.selectors import CUSTOMER_ACCOUNT_KINDS
from encaisse.parties.models import Customer, Tag
from encaisse.payments.services import advance_balance

from ..site import OrganisationScopedAdmin
from ..templatetags.backoffice_tags import format_money


@admin.register(Tag)
class TagAdmin(OrganisationScopedAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    fields = ("organisation", "name")


def _balance_subquery() -> Subquery:
    lines = (
        EntryLine.objects.filter(party=OuterRef("pk"), account__kind__in=CUSTOMER_ACCOUNT_KINDS)
        .values("party").annotate(b=Sum(F("debit_minor") - F("credit_minor"))).values("b")
    )
    return Subquery(lines, output_field=BigIntegerField())


class CustomerForm(forms.ModelForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # set_invoices_by_email's rule, said on the form before anything is saved.
        if cleaned.get("invoices_by_email") and not cleaned.get("email"):
            self.add_error("invoices_by_email", str(NoEmailForInvoices(customer=cleaned.get("name") or "")))
        return cleaned


@admin.register(Customer)
class CustomerAdmin(OrganisationScopedAdmin):
    form = CustomerForm
    list_display = ("ref", "name", "kind", "email", "city", "balance")
    list_display_links = ("ref", "name")
    list_filter = ("kind", "language", ("tags", admin.RelatedOnlyFieldListFilter))
    search_fields = ("ref", "name", "email", "other_emails", "phone", "siren", "siret")
    filter_horizontal = ("tags",)
    readonly_fields = ("account", "invoices_by_email_since")
    fieldsets = [
        (None, {"fields": ("organisation", "ref", "name", "kind", "account")}),
        (_("Contact"), {"fields": ("email", "other_emails", "phone", "language")}),
        (_("Postal address"), {"fields": ("address_line1", "address_line2", "postcode", "city", "country")}),
        (_("Legal identifiers"), {"fields": ("siren", "siret", "vat_number")}),
        (_("Billing"), {"fields": ("payment_delay_days", "invoices_by_email", "invoices_by_email_since", "tags",
                                   "notes")}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super().get_queryset(request)
            .select_related("organisation")
            .annotate(balance_minor=Coalesce(_balance_subquery(), 0))
        )

    @admin.display(description=_("balance"), ordering="balance_minor")
    def balance(self, obj: Customer) -> str:
        return format_money(Money(obj.balance_minor, obj.organisation.currency))

    @admin.display(description=_("account"))
    def account(self, obj: Customer) -> str:
        if obj is None or obj.pk is None:
            return "—"
        balance = Money(getattr(obj, "balance_minor", 0), obj.organisation.currency)
        advance = advance_balance(obj)
        links = format_html_join(" · ", '<a href="{}">{}</a>', [
            (reverse("staff:customer_statement", args=[obj.pk]), _("Account statement")),
            (reverse("staff:record_payment", args=[obj.pk]), _("Record a payment")),
            (reverse("staff:customer_methods", args=[obj.pk]), _("Saved payment methods")),
            (reverse("staff:advance_refund", args=[obj.pk]), _("Refund from advance")),
            (reverse("staff:portal_link", args=[obj.pk]), _("Portal sign-in link")),
        ])
        held = format_html(" ({} {})", _("advance held:"), format_money(advance)) if advance.minor else ""
        return format_html("{}{} · {}<br>{}", format_money(balance), held, links, self._collection_hold(obj))

    def _collection_hold(self, customer: Customer) -> str:
        """The block of automatic collection in force, with its reason and a way to lift it; else how to place one."""
        block = CollectionHold.objects.filter(customer=customer, kind=CollectionHold.Kind.CUSTOMER_BLOCKED,
                                              lifted_at__isnull=True).first()
        if block is None:
            add = reverse("admin:collection_collectionhold_add")
            return format_html('<a href="{}?customer={}&amp;kind={}">{}</a>', add, customer.pk,
                               CollectionHold.Kind.CUSTOMER_BLOCKED, _("Block automatic collection"))
        return format_html('<strong>{}</strong> {} · <a href="{}">{}</a>', _("Automatic collection blocked:"),
                           block.reason, reverse("admin:collection_collectionhold_change", args=[block.pk]),
                           _("see or lift the hold"))

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is not None:
            return self.fieldsets
        return [(None, {"fields": ("organisation", "ref", "name", "kind")}), *self.fieldsets[1:]]

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        # The choice of invoices by email goes through its service (dated, audited), after the address is saved.
        by_email = obj.invoices_by_email if "invoices_by_email" in form.changed_data else None
        if by_email is not None:
            obj.invoices_by_email = not by_email  # as it was: changed_data says it differs
        super().save_model(request, obj, form, change)
        record_event(obj, "changed" if change else "created", by=request.user,
                     data={"fields": form.changed_data} if change else None)
        if by_email is not None:
            set_invoices_by_email(obj, enabled=by_email, by=request.user)
