"""Automatic collection: the policies staff set, and the collections and runs the services write.

Policies are the only thing edited here (audited). Collections and runs are
facts recorded by collection.services: their pages are read-only and tell
the whole story — each invoice a run considered with its result and reason,
each try of a collection (card attempts, direct debits, the bank's answers).
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from encaisse.collection.models import Collection, CollectionPolicy, CollectionRun, Outcome, RunItem
from encaisse.core.audit import events_for, record_event
from encaisse.core.money import Money
from encaisse.payments.models import PaymentAttempt
from encaisse.sepa.models import DirectDebit, RTransaction

from ..site import OrganisationScopedAdmin, ReadOnlyAdmin
from ..templatetags.backoffice_tags import format_money
from .sepa import r_label


def invoice_link(invoice: Any) -> str:
    if invoice is None:
        return "—"
    url = reverse("admin:invoicing_invoice_change", args=[invoice.pk])
    return format_html('<a href="{}">{}</a>', url, invoice.display_name)


# --- policies ---------------------------------------------------------------------------------------------------


class RetryDaysField(forms.CharField):
    """Days after the first decline, typed "3, 7, 14" (or as JSON "[3, 7, 14]"): positive and increasing."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(day) for day in value)
        return value

    def to_python(self, value: Any) -> list[int]:
        if isinstance(value, list):
            return value
        text = (value or "").strip().removeprefix("[").removesuffix("]")
        if not text.strip():
            return []
        days = []
        for part in text.split(","):
            try:
                days.append(int(part.strip()))
            except ValueError:
                raise forms.ValidationError(_("“%(value)s” is not a number of days."), code="invalid",
                                            params={"value": part.strip()}) from None
        return days

    def validate(self, value: list[int]) -> None:
        if any(day < 1 for day in value):
            raise forms.ValidationError(_("Each delay is a positive number of days."), code="positive")
        if any(later <= earlier for earlier, later in pairwise(value)):
            raise forms.ValidationError(_("Give the delays in increasing order, e.g. 3, 7, 14."), code="order")


class CollectionPolicyForm(forms.ModelForm):
    card_retry_days = RetryDaysField(
        label=_("retry declined cards after (days)"), required=False,
        help_text=_("Days after the first decline, separated by commas, in increasing order, e.g. 3, 7, 14. "
                    "Empty: a declined card is not tried again."))
    minimum_amount = forms.DecimalField(
        label=_("minimum amount"), min_value=Decimal(0), decimal_places=2, max_digits=14,
        help_text=_("Invoices with less than this due are not collected automatically (in the organisation's "
                    "currency)."))

    class Meta:
        model = CollectionPolicy
        fields = ("organisation", "invoice_type", "active", "start", "days_after_issue", "use_cards",
                  "use_direct_debit", "card_retry_days", "max_card_attempts", "represent_insufficient_funds",
                  "prenotification_days", "send_pay_link_on_failure", "start_reminders_on_failure",
                  "block_credit_on_failure", "rebill_bank_fee")
        help_texts = {
            "invoice_type": _("Empty: the organisation's default policy, used for every invoice type without "
                              "its own."),
            "active": _("Untick to stop collecting these invoices automatically (they can still be paid online)."),
            "start": _("When an invoice becomes due for automatic collection."),
            "days_after_issue": _("Used when collecting a number of days after the issue date."),
            "use_cards": _("Charge the customer's saved card when they chose to pay by card."),
            "use_direct_debit": _("Debit the customer's active SEPA mandate when they chose direct debit."),
            "max_card_attempts": _("The first try included; at least 1."),
            "represent_insufficient_funds": _("A direct debit returned with reason AM04 (or MS03) is presented "
                                              "once more."),
            "prenotification_days": _("How many days before the debit the customer is told its amount and date "
                                       "(14 unless agreed otherwise with the customer)."),
            "send_pay_link_on_failure": _("When every try failed, email the customer the invoice's pay link."),
            "start_reminders_on_failure": _("When every try failed, start the reminder schedule."),
            "block_credit_on_failure": _("When every try failed, block the customer: no more automatic "
                                         "collection until staff unblock them."),
            "rebill_bank_fee": _("Bill the bank's fee for a rejected or returned debit to the customer."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["minimum_amount"] = self.instance.minimum_amount.to_decimal()
        elif "minimum_amount" not in self.initial:
            self.initial["minimum_amount"] = Decimal("1.00")

    def clean_max_card_attempts(self) -> int:
        value = self.cleaned_data.get("max_card_attempts")
        if value is not None and value < 1:
            raise forms.ValidationError(_("At least one attempt: the first charge."), code="min")
        return value

    def save(self, commit: bool = True) -> CollectionPolicy:
        policy = super().save(commit=False)
        policy.card_retry_days = self.cleaned_data.get("card_retry_days") or []
        currency = policy.organisation.currency if policy.organisation_id else "EUR"
        policy.minimum_amount_minor = Money.of(self.cleaned_data["minimum_amount"], currency).minor
        if commit:
            policy.save()
        return policy


@admin.register(CollectionPolicy)
class CollectionPolicyAdmin(OrganisationScopedAdmin):
    form = CollectionPolicyForm
    change_form_template = "backoffice/collection/audited_change_form.html"
    list_display = ("name", "active", "start", "use_cards", "use_direct_debit", "retry_days", "max_card_attempts",
                    "minimum")
    list_filter = ("active", "use_cards", "use_direct_debit")
    list_select_related = ("invoice_type", "organisation")
    fieldsets = [
        (None, {"fields": ("organisation", "invoice_type", "active", "start", "days_after_issue",
                           "minimum_amount")}),
        (_("Methods"), {"fields": ("use_cards", "use_direct_debit", "prenotification_days")}),
        (_("Retries"), {"fields": ("card_retry_days", "max_card_attempts", "represent_insufficient_funds")}),
        (_("When every try failed"), {"fields": ("send_pay_link_on_failure", "start_reminders_on_failure",
                                                 "block_credit_on_failure", "rebill_bank_fee")}),
    ]

    @admin.display(description=_("applies to"), ordering="invoice_type__name")
    def name(self, policy: CollectionPolicy) -> str:
        return str(policy)

    @admin.display(description=_("card retries (days)"))
    def retry_days(self, policy: CollectionPolicy) -> str:
        return ", ".join(str(day) for day in policy.card_retry_days) or "—"

    @admin.display(description=_("minimum amount"), ordering="minimum_amount_minor")
    def minimum(self, policy: CollectionPolicy) -> str:
        return format_money(policy.minimum_amount)

    def save_model(self, request: HttpRequest, obj: CollectionPolicy, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        record_event(obj, "changed" if change else "created", by=request.user, data={"fields": form.changed_data})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        policy = self.get_object(request, object_id)
        context = {**(extra_context or {}), "audit_events": list(events_for(policy))}
        return super().change_view(request, object_id, form_url, extra_context=context)


# --- collections ------------------------------------------------------------------------------------------------


def attempts_of(*collections: Collection) -> QuerySet[PaymentAttempt]:
    """Every card attempt of the collections, in one query: sent under their tries' keys, or named by them or
    their run lines."""
    found = (Q(pk__in=[collection.attempt_id for collection in collections if collection.attempt_id])
             | Q(pk__in=RunItem.objects.filter(collection__in=collections).values("attempt_id")))
    for collection in collections:
        found |= Q(idempotency_key__startswith=f"collection:{collection.pk}:try:")
    return PaymentAttempt.objects.filter(found).select_related("provider_account").order_by("created_at")


def debits_of(collection: Collection) -> list[DirectDebit]:
    return list(DirectDebit.objects.filter(line=collection.line_id)
                .select_related("file", "mandate").order_by("created_at"))


@admin.register(Collection)
class CollectionAdmin(ReadOnlyAdmin):
    change_form_template = "backoffice/collection/collection_change_form.html"
    list_display = ("created_at", "invoice_column", "customer", "method", "status", "tries", "next_try_on",
                    "reason")
    list_filter = ("status", "method")
    search_fields = ("invoice__number", "customer__name", "customer__ref")
    list_select_related = ("invoice", "customer", "organisation")
    date_hierarchy = "created_at"
    fields = ("invoice_column", "customer", "method", "status", "tries", "next_try_on", "reason", "created_at",
              "updated_at")
    readonly_fields = fields

    @admin.display(description=_("invoice"), ordering="invoice__number")
    def invoice_column(self, collection: Collection) -> str:
        return invoice_link(collection.invoice)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        collection = self.get_object(request, object_id)
        debits = debits_of(collection)
        context = {
            **(extra_context or {}),
            "run_items": list(collection.run_items.select_related("run").order_by("pk")),
            "attempts": list(attempts_of(collection)),
            "debits": debits,
            "rtransactions": r_rows(debits),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)


def r_rows(debits: list[DirectDebit]) -> list[dict[str, Any]]:
    """The bank's reject or return of each debit that has one: kind, reason with its meaning, amount, fee."""
    found = RTransaction.objects.filter(direct_debit__in=debits).select_related("direct_debit").order_by("pk")
    return [{"r": r, "label": r_label(r.reason_code), "amount": Money(r.amount_minor, r.currency),
             "fee": Money(r.fee_minor, r.currency) if r.fee_minor else None} for r in found]


# --- runs -------------------------------------------------------------------------------------------------------


class RunOutcomeFilter(admin.SimpleListFilter):
    """Runs with at least one invoice of this result (e.g. the runs that had declines)."""

    title = _("result")
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(Outcome.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(items__outcome=self.value()).distinct()
        return queryset


@admin.register(CollectionRun)
class CollectionRunAdmin(ReadOnlyAdmin):
    change_form_template = "backoffice/collection/collectionrun_change_form.html"
    change_list_template = "backoffice/collection/collectionrun_change_list.html"
    list_display = ("started_at", "run_on", "trigger", "dry_run", "status", "counts_column", "started_by")
    list_filter = ("status", "trigger", "dry_run", RunOutcomeFilter)
    list_select_related = ("started_by", "organisation")
    date_hierarchy = "started_at"
    fields = ("run_on", "trigger", "dry_run", "status", "counts_column", "started_at", "finished_at",
              "started_by", "error")
    readonly_fields = fields

    @admin.display(description=_("results"))
    def counts_column(self, run: CollectionRun) -> str:
        labels = dict(Outcome.choices)
        return ", ".join(f"{labels.get(outcome, outcome)}: {count}"
                         for outcome, count in sorted(run.counts.items())) or "—"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        run = self.get_object(request, object_id)
        items = run.items.select_related("invoice", "customer", "collection").order_by("pk")
        outcome = request.GET.get("outcome", "")
        if outcome in Outcome.values:
            items = items.filter(outcome=outcome)
        else:
            outcome = ""
        context = {
            **(extra_context or {}),
            "items": list(items),
            "outcome": outcome,
            "outcomes": [(value, label, run.counts.get(value, 0)) for value, label in Outcome.choices],
        }
        return super().change_view(request, object_id, form_url, extra_context=context)


__all__ = ["CollectionAdmin", "CollectionPolicyAdmin", "CollectionRunAdmin", "invoice_link"]
