"""Organisation API keys: made here (the secret is shown once, in a message), listed, revoked.

Keys are written by parties.apikeys only: the form asks for a name and an
organisation, create_api_key makes the key and returns its secret, which is
never stored in clear and so can never be shown again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from encaisse.parties.apikeys import create_api_key, revoke_api_key
from encaisse.parties.models import ApiKey

from ..site import OrganisationScopedAdmin, adopt


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("organisation", "name")


@admin.register(ApiKey)
class ApiKeyAdmin(OrganisationScopedAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix_shown", "created_at", "created_by", "last_used_at", "revoked")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ("organisation", "name")
        return ("organisation", "name", "prefix_shown", "created_at", "created_by", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        if obj is None:
            return ()
        return ("organisation", "prefix_shown", "created_at", "created_by", "last_used_at", "revoked_at")

    @admin.display(description=_("prefix"), ordering="prefix")
    def prefix_shown(self, key: ApiKey) -> str:
        return f"enc_{key.prefix}_…"

    @admin.display(description=_("revoked"), boolean=True, ordering="revoked_at")
    def revoked(self, key: ApiKey) -> bool:
        return key.revoked_at is not None

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, secret = create_api_key(organisation=form.cleaned_data["organisation"],
                                     name=form.cleaned_data["name"], by=request.user)
        adopt(obj, key)
        messages.warning(request, gettext(
            "The key's secret is shown this once; copy it now, it cannot be read again: %(secret)s")
            % {"secret": secret})

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            revoke_api_key(key_id=key.pk, by=request.user)
            count += 1
        messages.success(request, gettext("%(count)s keys revoked.") % {"count": count})

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
