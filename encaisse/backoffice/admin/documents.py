"""What the invoice and quote pages share: priced lines edited while a draft, through the services, and totals.

An invoice and a quote are both a header and lines (a product from the
catalogue, or a free line). Only a draft is edited; its lines are written by
the document's own services (add_line/remove_line, add_quote_line/
remove_quote_line), never saved by the admin directly, and its totals are the
frozen ones once it has left draft, else what leaving draft would freeze now.
The subclasses say which model and which services.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import Money

from ..site import OrganisationScopedAdmin, organisation_id_of, scoped
from ..templatetags.backoffice_tags import format_money


def is_draft(document: Any) -> bool:
    """True on the add page (no document yet) and for a draft invoice or quote."""
    return document is None or document.status == document.Status.DRAFT


def _organisation_id(document: Any) -> int | None:
    """The document's organisation, or its customer's while it is still unsaved; None without either."""
    if document is None:
        return None
    if document.organisation_id:
        return document.organisation_id
    return document.party.organisation_id if document.party_id else None


class DocumentLineForm(forms.ModelForm):
    """A line from the catalogue (the product fills in what is left empty) or a free line."""

    document_field = ""  # the line's foreign key to its invoice or quote

    class Meta:
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
        # The inline formset sets every line's document to the page's (maybe still unsaved) one.
        organisation_id = _organisation_id(getattr(self.instance, self.document_field, None))
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


class DraftLinesInline(admin.TabularInline):
    """A document's lines: added, changed and deleted while it is a draft; products and rates of its organisation."""

    def get_extra(self, request: HttpRequest, obj: Model | None = None, **kwargs: Any) -> int:
        return 1 if is_draft(obj) else 0

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return True  # the document's page itself is scoped to the user's organisations

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_draft(obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_draft(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return obj is not None and is_draft(obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name in ("product", "vat_rate"):
            queryset = scoped(db_field.related_model._default_manager.all(), request.user)
            if db_field.name == "product":
                queryset = queryset.filter(active=True)
            kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class DraftDocumentAdmin(OrganisationScopedAdmin):
    """An invoice's or a quote's admin: edited while a draft, lines through its services, totals, page context."""

    class Media:
        # The move buttons' style, also on admin pages that use Django's own header.
        css = {"all": ["backoffice/backoffice.css"]}

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Only a draft is edited: a validated invoice goes back to draft first, a posted one is credited, and
        # a sent quote stays as sent (it is what the deposits are a share of).
        return super().has_change_permission(request, obj) and is_draft(obj)

    # -- what the subclass says --

    def add_document_line(self, document: Model, by: Any, **arguments: Any) -> Model:
        """Add a line to `document` through its service; return the line."""
        raise NotImplementedError

    def remove_document_line(self, line_id: int, by: Any) -> None:
        """Remove a line through the document's service."""
        raise NotImplementedError

    def current_totals(self, document: Any) -> tuple[Money, Money, Money]:
        """Net, VAT and total of a draft's lines as leaving draft would freeze them now."""
        raise NotImplementedError

    def page_context(self, request: HttpRequest, document: Any) -> dict[str, Any]:
        """What the change page shows below the form (moves, related records, audit trail)."""
        return {}

    # -- totals --

    def _totals(self, document: Any) -> tuple[Money, Money, Money]:
        """Frozen totals once out of draft; before that, what leaving draft would freeze now (once per page)."""
        if not hasattr(document, "_backoffice_totals"):
            frozen = document.total_minor is not None
            document._backoffice_totals = (
                (document.net, document.vat, document.total) if frozen else self.current_totals(document))
        return document._backoffice_totals

    @admin.display(description=_("net"))
    def net(self, document: Any) -> str:
        return format_money(self._totals(document)[0])

    @admin.display(description=_("VAT"))
    def vat(self, document: Any) -> str:
        return format_money(self._totals(document)[1])

    @admin.display(description=_("total"))
    def total_amount(self, document: Any) -> str:
        return format_money(self._totals(document)[2])

    @admin.display(description=_("total"), ordering="total_minor")
    def total(self, document: Any) -> str:
        return "—" if document.total_minor is None else format_money(document.total)

    # -- writing through the services; the change page --

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        """Lines go through the document's services; a changed line is removed and added again.

        The admin's change message reads new_objects, changed_objects and
        deleted_objects, so they are filled as formset.save() would.
        """
        document = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for line_form in formset.forms:
            line = line_form.instance
            if line.pk is not None and formset.can_delete and formset._should_delete_form(line_form):
                self.remove_document_line(line.pk, request.user)
                formset.deleted_objects.append(line)
            elif line.pk is None and line_form.has_changed():
                formset.new_objects.append(
                    self.add_document_line(document, request.user, **line_form.service_arguments()))
            elif line.pk is not None and line_form.has_changed():
                self.remove_document_line(line.pk, request.user)
                new = self.add_document_line(document, request.user, **line_form.service_arguments())
                formset.changed_objects.append((new, line_form.changed_data))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        document = self.get_object(request, object_id)
        context = {**(extra_context or {}), **self.page_context(request, document)}
        return super().change_view(request, object_id, form_url, extra_context=context)
