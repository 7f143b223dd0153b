"""Chart of accounts, journals, fiscal years and periods, and the ledger entries (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet, Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.ledger.models import Account, Entry, EntryLine, FiscalYear, Journal, Period
from encaisse.ledger.services import close_period

from ..site import OrganisationScopedAdmin, ReadOnlyAdmin, ReadOnlyInline
from ..templatetags.backoffice_tags import format_money


class CodedAdmin(OrganisationScopedAdmin):
    """Accounts and journals: code and kind are fixed once an entry uses them (lines and exports name them)."""

    list_display = ("code", "name", "kind")
    list_display_links = ("code", "name")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    fields = ("organisation", "code", "name", "kind")

    def in_use(self, obj: Model) -> bool:
        raise NotImplementedError

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.in_use(obj):
            fields += ["code", "kind"]
        return fields


@admin.register(Account)
class AccountAdmin(CodedAdmin):
    def in_use(self, obj: Model) -> bool:
        return EntryLine.objects.filter(account=obj).exists()


@admin.register(Journal)
class JournalAdmin(CodedAdmin):
    def in_use(self, obj: Model) -> bool:
        return Entry.objects.filter(journal=obj).exists()


class PeriodInline(ReadOnlyInline):
    model = Period
    fields = ("start", "end", "state", "closed_at", "closed_by")
    readonly_fields = fields


@admin.register(FiscalYear)
class FiscalYearAdmin(ReadOnlyAdmin):
    """Fiscal years open themselves (calendar years) with the first entry dated in them."""

    list_display = ("name", "start", "end")
    fields = ("organisation", "name", "start", "end")
    inlines = [PeriodInline]


@admin.register(Period)
class PeriodAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "start", "end", "state", "closed_at", "closed_by")
    list_filter = ("state", ("fiscal_year", admin.RelatedOnlyFieldListFilter))
    fields = ("organisation", "fiscal_year", "start", "end", "state", "closed_at", "closed_by")
    actions = ["close_periods"]

    def has_close_permission(self, request: HttpRequest) -> bool:
        return self._member(request)

    @admin.action(description=_("Close the selected periods"), permissions=["close"])
    def close_periods(self, request: HttpRequest, queryset: QuerySet[Period]) -> None:
        closed = []
        for period in queryset.select_related("organisation").order_by("start"):
            try:
                close_period(organisation=period.organisation, month=period.start, by=request.user)
            except DomainError as error:
                self.message_user(request, str(error), messages.ERROR)
            else:
                closed.append(str(period))
        if closed:
            self.message_user(request, _("Closed: %(periods)s. No entry can be dated in them any more.")
                              % {"periods": ", ".join(closed)}, messages.SUCCESS)


class EntryLineInline(ReadOnlyInline):
    model = EntryLine
    fields = ("account", "party", "debit", "credit", "due_on", "label")
    readonly_fields = fields

    @admin.display(description=_("debit"))
    def debit(self, line: EntryLine) -> str:
        return format_money(line.debit) if line.debit_minor else ""

    @admin.display(description=_("credit"))
    def credit(self, line: EntryLine) -> str:
        return format_money(line.credit) if line.credit_minor else ""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("account", "party")


def entry_link(entry: Entry | None) -> str:
    if entry is None:
        return "—"
    url = reverse("admin:ledger_entry_change", args=[entry.pk])
    return format_html('<a href="{}">{}</a>', url, entry)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    """Entries are append-only: this page shows them, corrections are new entries written by services."""

    list_display = ("sequence", "date", "journal", "label", "amount", "idempotency_key", "origin")
    list_display_links = ("sequence", "label")
    list_filter = (("journal", admin.RelatedOnlyFieldListFilter), "origin")
    list_select_related = ("journal", "organisation")
    date_hierarchy = "date"
    search_fields = ("label", "idempotency_key")
    fields = ("organisation", "sequence", "date", "journal", "label", "idempotency_key", "reverses_link",
              "reversals_links", "posted_by", "posted_at", "origin", "prev_hash", "hash")
    readonly_fields = ("reverses_link", "reversals_links")
    inlines = [EntryLineInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(debit_total_minor=Sum("lines__debit_minor"))

    @admin.display(description=_("amount"), ordering="debit_total_minor")
    def amount(self, entry: Entry) -> str:
        currency = entry.organisation.currency
        return format_money(Money(entry.debit_total_minor or 0, currency))

    @admin.display(description=_("reverses"))
    def reverses_link(self, entry: Entry) -> str:
        return entry_link(entry.reverses)

    @admin.display(description=_("reversed by"))
    def reversals_links(self, entry: Entry) -> str:
        reversals = list(entry.reversals.all())
        if not reversals:
            return "—"
        return format_html_join(", ", '<a href="{}">{}</a>', (
            (reverse("admin:ledger_entry_change", args=[r.pk]), str(r)) for r in reversals))
