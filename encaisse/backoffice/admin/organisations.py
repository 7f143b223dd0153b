"""Organisations: set one up (chart, journals, VAT, series, régie, invoice type) and edit its identity."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.ledger.models import Entry
from encaisse.onboarding.organisations import create_organisation
from encaisse.parties.models import Membership, Organisation
from encaisse.parties.validators import compact

from ..site import OrganisationScopedAdmin, ReadOnlyInline, adopt

IDENTITY = ("name", "slug", "legal_name", "email", "logo", "language")
ADDRESS = ("address_line1", "address_line2", "postcode", "city", "country")
LEGAL = ("siren", "siret", "vat_number", "creditor_id")
BILLING = ("currency", "default_payment_delay_days")


class OrganisationForm(forms.ModelForm):
    """Identifiers are stored compact ("732829320"), however they were typed."""

    class Meta:
        model = Organisation
        fields = (*IDENTITY, *ADDRESS, *LEGAL, *BILLING)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Typed with spaces ("732 829 320") they are longer than stored: the model checks the compact form.
        for name in LEGAL:
            if name in self.fields:
                field = self.fields[name]
                self.fields[name] = forms.CharField(label=field.label, required=False, max_length=50,
                                                    help_text=field.help_text)

    def _compact(self, name: str, kind: str) -> str:
        return compact(kind, self.cleaned_data.get(name, ""))

    def clean_siren(self) -> str:
        return self._compact("siren", "siren")

    def clean_siret(self) -> str:
        return self._compact("siret", "siret")

    def clean_vat_number(self) -> str:
        return self._compact("vat_number", "vat")

    def clean_creditor_id(self) -> str:
        return self._compact("creditor_id", "creditor_id")

    def clean_currency(self) -> str:
        return (self.cleaned_data.get("currency") or "").upper()


class MembershipInline(ReadOnlyInline):
    model = Membership
    fields = ("user", "role")
    readonly_fields = ("user", "role")
    verbose_name_plural = _("staff")


@admin.register(Organisation)
class OrganisationAdmin(OrganisationScopedAdmin):
    organisation_path = "pk"
    form = OrganisationForm
    list_display = ("name", "slug", "legal_name", "currency", "language", "siren")
    search_fields = ("name", "slug", "legal_name", "siren", "siret")
    inlines = [MembershipInline]

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return [
            (None, {"fields": IDENTITY}),
            (_("Address"), {"fields": ADDRESS}),
            (_("Legal identifiers"), {"fields": LEGAL}),
            (_("Billing"), {"fields": BILLING}),
        ]

    def get_prepopulated_fields(self, request: HttpRequest, obj: Model | None = None) -> dict[str, Any]:
        return {"slug": ("name",)} if obj is None else {}

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return ()
        fields = ["slug"]  # it names the organisation in links (?org=<slug>) and exports
        if Entry.objects.filter(organisation=obj).exists():
            fields.append("currency")  # the ledger holds amounts in it already
        return fields

    def get_inlines(self, request: HttpRequest, obj: Model | None) -> Any:
        return self.inlines if obj is not None else []

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not self._member(request):
            return False
        if obj is None or request.user.is_superuser:
            return True
        return Membership.objects.filter(organisation=obj, user=request.user, role=Membership.Role.MANAGER).exists()

    def save_model(self, request: HttpRequest, obj: Organisation, form: forms.ModelForm, change: bool) -> None:
        if change:
            obj.save()
            record_event(obj, "changed", by=request.user, data={"fields": form.changed_data})
            return
        data = {name: value for name, value in form.cleaned_data.items() if name in form.Meta.fields}
        if not data.get("logo"):
            data.pop("logo", None)
        created = create_organisation(by=request.user, **data)
        adopt(obj, created)
