"""The back-office admin site and the organisation scoping every admin page goes through."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from encaisse.parties.models import Organisation


class BackofficeSite(admin.AdminSite):
    site_header = _("Encaisse back office")
    site_title = _("Encaisse")
    index_title = _("Billing and collection")
    name = "backoffice"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and user.is_staff and (user.is_superuser or user.memberships.exists())


def organisations_of(user: Any) -> QuerySet[Organisation]:
    """The organisations a staff user may see: all for a superuser, their memberships otherwise."""
    if user.is_superuser:
        return Organisation.objects.all()
    return Organisation.objects.filter(memberships__user=user)


class OrganisationScopedAdmin(admin.ModelAdmin):
    """Show, offer and accept only rows of the user's organisations.

    `organisation_path` is the lookup from the model to its organisation. Any
    foreign key to a model that has an `organisation` is narrowed the same
    way, so a form cannot attach a row to another organisation's customer.
    """

    organisation_path = "organisation"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.organisation_path}__in": organisations_of(request.user)})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if related is Organisation:
            kwargs["queryset"] = organisations_of(request.user)
        elif any(f.name == "organisation" for f in related._meta.get_fields()):
            kwargs["queryset"] = related._default_manager.filter(organisation__in=organisations_of(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if any(f.name == "organisation" for f in related._meta.get_fields()):
            kwargs["queryset"] = related._default_manager.filter(organisation__in=organisations_of(request.user))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _member(self, request: HttpRequest) -> bool:
        user = request.user
        return user.is_active and user.is_staff and (user.is_superuser or user.memberships.exists())

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._member(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._member(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._member(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._member(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyAdmin(OrganisationScopedAdmin):
    """For posted, append-only records: looked at, never changed here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
