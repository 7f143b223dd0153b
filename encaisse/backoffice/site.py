"""The back-office admin site and the organisation scoping every admin page goes through.

Staff see the organisations they are members of and nothing else: lists,
detail pages, choices offered in forms and values accepted from forms are all
narrowed to those organisations. A record of another organisation answers 404,
as if it did not exist, so ids cannot be probed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.urls import reverse
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

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        context["backoffice_outbox_url"] = self._outbox_url()
        return context

    def _outbox_url(self) -> str | None:
        """The outbox list, once the notifications outbox is registered here (it is built separately)."""
        registered = {(m._meta.app_label, m._meta.model_name) for m in self._registry}
        if ("notifications", "outboxmessage") in registered:
            return reverse(f"{self.name}:notifications_outboxmessage_changelist")
        if any(app_label == "notifications" for app_label, _model in registered):
            return reverse(f"{self.name}:app_list", kwargs={"app_label": "notifications"})
        return None


def organisations_of(user: Any) -> QuerySet[Organisation]:
    """The organisations a staff user may see: all for a superuser, their memberships otherwise."""
    if user.is_superuser:
        return Organisation.objects.all()
    return Organisation.objects.filter(memberships__user=user)


def scoped(queryset: QuerySet, user: Any, path: str = "organisation") -> QuerySet:
    """Narrow any queryset to the rows of the user's organisations (`path` leads to the organisation)."""
    if user.is_superuser:
        return queryset
    return queryset.filter(**{f"{path}__in": organisations_of(user)})


def _owned_by_organisation(model: type[Model]) -> bool:
    return any(f.name == "organisation" for f in model._meta.get_fields())


def organisation_id_of(value: Any) -> int | None:
    if isinstance(value, Organisation):
        return value.pk
    return getattr(value, "organisation_id", None)


class SameOrganisationMixin(forms.BaseForm):
    """Refuse a form whose chosen records belong to different organisations.

    Each choice list is narrowed to the user's organisations, but a member of
    two organisations could still pick a customer of one and a tag or account
    of the other. The row's own organisation (chosen or stored) wins; without
    one, the first organisation met does.
    """

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        instance = getattr(self, "instance", None)
        expected = organisation_id_of(cleaned.get("organisation")) if "organisation" in self.fields else None
        if expected is None and not isinstance(instance, Organisation):
            expected = getattr(instance, "organisation_id", None)
        for name, value in list(cleaned.items()):
            if name == "organisation":
                continue
            values = list(value) if isinstance(self.fields.get(name), forms.ModelMultipleChoiceField) else [value]
            for item in values:
                if not isinstance(item, Model) or isinstance(item, Organisation):
                    continue
                owner = organisation_id_of(item)
                if owner is None:
                    continue
                if expected is None:
                    expected = owner
                elif owner != expected:
                    self.add_error(name, _("“%(value)s” belongs to another organisation.") % {"value": item})
                    break
        return cleaned


class OrganisationFilter(admin.SimpleListFilter):
    """The organisation picker of every list, shown to staff of several organisations."""

    title = _("organisation")
    parameter_name = "org"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(o.slug, o.name) for o in organisations_of(request.user).order_by("name")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            path = getattr(self, "organisation_path", "organisation")
            slug_path = "slug" if path == "pk" else f"{path}__slug"
            return queryset.filter(**{slug_path: self.value()})
        return queryset


class OrganisationScopedAdmin(admin.ModelAdmin):
    """Show, offer and accept only rows of the user's organisations.

    `organisation_path` is the lookup from the model to its organisation. Any
    foreign key to a model that has an `organisation` is narrowed the same
    way, so a form cannot attach a row to another organisation's customer, and
    the form refuses a mix of organisations (SameOrganisationMixin). Once a
    row exists its organisation is shown, not edited.
    """

    organisation_path = "organisation"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scoped(super().get_queryset(request), request.user, self.organisation_path)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        # Django's admin redirects to its index with "doesn't exist" for an unknown id;
        # a plain 404 says the same thing for another organisation's row and for a missing one.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(_("No such record."))
        return obj

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if issubclass(form, SameOrganisationMixin):
            return form
        return type(form.__name__, (SameOrganisationMixin, form), {})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if related is Organisation:
            kwargs["queryset"] = organisations_of(request.user)
        elif _owned_by_organisation(related):
            kwargs["queryset"] = scoped(related._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if _owned_by_organisation(related):
            kwargs["queryset"] = scoped(related._default_manager.all(), request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.organisation_path == "organisation" and "organisation" not in fields:
            fields.append("organisation")
        return fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if self.organisation_path == "organisation" and "organisation" not in initial:
            organisations = list(organisations_of(request.user)[:2])
            if len(organisations) == 1:
                initial["organisation"] = organisations[0].pk
        return initial

    def several_organisations(self, request: HttpRequest) -> bool:
        if not hasattr(request, "_backoffice_organisation_count"):
            request._backoffice_organisation_count = organisations_of(request.user)[:2].count()
        return request._backoffice_organisation_count > 1

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = list(super().get_list_filter(request))
        if self.several_organisations(request) and self.organisation_path != "pk":
            picker = type("OrganisationFilter", (OrganisationFilter,), {"organisation_path": self.organisation_path})
            filters.insert(0, picker)
        return filters

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if self.several_organisations(request) and self.organisation_path == "organisation":
            columns.append("organisation")
        return columns

    def _member(self, request: HttpRequest) -> bool:
        # Asked by every registered model's permission checks on every page (the menu): once per request.
        if not hasattr(request, "_backoffice_member"):
            user = request.user
            request._backoffice_member = (user.is_active and user.is_staff
                                          and (user.is_superuser or user.memberships.exists()))
        return request._backoffice_member

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


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under a record whose page already checked the organisation; never edited here."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return True

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def adopt(target: Model, source: Model) -> None:
    """Make the unsaved instance an admin form built into the row a service just created.

    The admin keeps working with its own instance after save_model (inline
    formsets, the change message, the redirect), so it must become that row.
    """
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db
    for name, value in vars(source).items():
        if name.startswith("_loaded_"):
            setattr(target, name, value)
