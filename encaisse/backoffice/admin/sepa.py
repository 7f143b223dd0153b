"""SEPA mandates: the IBAN is shown masked in lists and in full only on the mandate's own page.

The proof of a mandate signed online (source, the text as signed, when and
from where) and its revocation are shown read-only: they are facts recorded
by sepa.services, which staff may read but never rewrite.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from encaisse.sepa.models import Mandate

from ..site import OrganisationScopedAdmin


class MandateForm(forms.ModelForm):
    class Meta:
        model = Mandate
        fields = ("organisation", "customer", "reference", "iban", "bic", "account_holder", "signed_on", "scheme",
                  "status", "last_used_on")

    def clean_iban(self) -> str:
        """Store the IBAN compact and upper-case, however it was typed ("fr76 3000 6000 ...")."""
        value = self.cleaned_data.get("iban", "")
        try:
            return IBAN(value).compact
        except SchwiftyException:
            return value  # the model's validator says what is wrong

    def clean_bic(self) -> str:
        return (self.cleaned_data.get("bic") or "").replace(" ", "").upper()


@admin.register(Mandate)
class MandateAdmin(OrganisationScopedAdmin):
    form = MandateForm
    list_display = ("reference", "customer", "masked_iban", "scheme", "status", "source", "signed_on",
                    "last_used_on")
    list_filter = ("status", "scheme", "source")
    readonly_fields = ("source", "text", "signed_at", "signature_ip", "revoked_at", "revoked_reason")
    list_select_related = ("customer", "organisation")
    search_fields = ("reference", "customer__name", "customer__ref", "account_holder")
    autocomplete_fields = ("customer",)

    @admin.display(description=_("IBAN"))
    def masked_iban(self, mandate: Mandate) -> str:
        return mandate.masked_iban
