"""Automatic collection: the policies staff set, and the collections and runs the services write.

Policies are the only thing edited here (audited). Collections and runs are
facts recorded by collection.services: their pages are read-only and tell
the whole story — each invoice a run considered with its result and reason,
each try of a collection (card attempts, direct debits, the bank's answers).
Holds (a customer blocked, an invoice disputed) are placed and lifted here
through collection.holds, never edited or deleted.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from encaisse.collection.holds import (
    HoldRefused,
    already_lifted,
    block_customer,
    check_block,
    check_dispute,
    dispute_invoice,
    lift_hold,
)
from encaisse.collection.models import (
    Collection,
    CollectionHold,
    CollectionPolicy,
    CollectionRun,
    HoldKind,
    Outcome,
    RunItem,
)
from encaisse.core.audit import events_for, record_event
from encaisse.core.money import Money
from encaisse.payments.models import PaymentAttempt
from encaisse.sepa.models import DirectDebit, RTransaction

from ..site import OrganisationScopedAdmin, ReadOnlyAdmin, adopt
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


# --- holds -------------------------------------------------------------------------------------------------------


class HoldForm(forms.ModelForm):
    """Place a hold: a customer blocked, or one posted invoice disputed (its customer is the invoice's).

    The form says the service's refusals (collection.holds.check_block and
    check_dispute) before anything is saved; the service checks again when
    it writes, and the database's indexes decide a race.
    """

    class Meta:
        model = CollectionHold
        fields = ("organisation", "kind", "customer", "invoice", "reason")
        widgets = {"reason": forms.Textarea(attrs={"rows": 3, "cols": 60})}
        help_texts = {
            "kind": _("Blocked: no automatic collection for any invoice of the customer. Disputed: none for the "
                      "chosen invoice; the customer's other invoices are collected as usual."),
            "customer": _("The customer to block (for a dispute: empty, or the invoice's customer)."),
            "invoice": _("The posted invoice the customer disputes (for a block: empty)."),
            "reason": _("Why; shown on every invoice the collection runs skip, and kept once the hold is "
                        "lifted."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "customer" in self.fields:  # the add form (a placed hold is shown read-only, without fields)
            self.fields["customer"].required = False  # a dispute's customer is its invoice's

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, customer, invoice = cleaned.get("kind"), cleaned.get("customer"), cleaned.get("invoice")
        organisation = cleaned.get("organisation")
        if kind == HoldKind.CUSTOMER_BLOCKED:
            if invoice is not None:
                self.add_error("invoice", _("A block is for every invoice of the customer: leave the invoice "
                                            "empty, or choose “Invoice disputed”."))
            if customer is None:
                self.add_error("customer", _("Choose the customer to block."))
        elif kind == HoldKind.DISPUTED:
            if invoice is None:
                self.add_error("invoice", _("Choose the disputed invoice."))
            elif customer is not None and customer.pk != invoice.party_id:
                self.add_error("customer", _("The invoice is not this customer's."))
            else:
                cleaned["customer"] = invoice.party
        if self.errors or organisation is None:
            return cleaned
        try:
            if kind == HoldKind.CUSTOMER_BLOCKED:
                check_block(organisation=organisation, customer=customer)
            else:
                check_dispute(organisation=organisation, invoice=invoice)
        except HoldRefused as error:
            self.add_error(None, str(error))
        return cleaned

    def validate_constraints(self) -> None:
        """The refusals above say it in words; the service and the database enforce it."""


class HoldStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("in_force", _("In force")), ("lifted", _("Lifted"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "in_force":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


@admin.register(CollectionHold)
class CollectionHoldAdmin(OrganisationScopedAdmin):
    """Holds are placed through the add form and lifted by the Lift button or action; never edited or deleted."""

    form = HoldForm
    change_form_template = "backoffice/collection/collectionhold_change_form.html"
    list_display = ("kind", "customer", "invoice_column", "reason", "created_at", "created_by", "lifted")
    list_filter = (HoldStateFilter, "kind")
    search_fields = ("customer__name", "customer__ref", "invoice__number", "reason")
    list_select_related = ("customer", "invoice", "created_by", "lifted_by", "organisation")
    autocomplete_fields = ("customer", "invoice")
    date_hierarchy = "created_at"
    actions = ["lift_selected"]
    shown = ("organisation", "kind", "customer", "invoice_column", "reason", "created_at", "created_by",
             "lifted_at", "lifted_by")

    @admin.display(description=_("invoice"), ordering="invoice__number")
    def invoice_column(self, hold: CollectionHold) -> str:
        return invoice_link(hold.invoice)

    @admin.display(description=_("lifted"), ordering="lifted_at")
    def lifted(self, hold: CollectionHold) -> str:
        if hold.lifted_at is None:
            return gettext("In force")
        return format_html("{} ({})", formats_datetime(hold.lifted_at), hold.lifted_by or gettext("system"))

    def get_fields(self, request: HttpRequest, obj: CollectionHold | None = None) -> Any:
        if obj is None:
            return HoldForm.Meta.fields
        return self.shown

    def get_readonly_fields(self, request: HttpRequest, obj: CollectionHold | None = None) -> Any:
        return () if obj is None else self.shown

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("kind", HoldKind.CUSTOMER_BLOCKED)
        return initial

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return self._member(request)

    def save_model(self, request: HttpRequest, obj: CollectionHold, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if data["kind"] == HoldKind.CUSTOMER_BLOCKED:
            hold = block_customer(organisation=data["organisation"], customer=data["customer"],
                                  reason=data["reason"], by=request.user)
        else:
            hold = dispute_invoice(organisation=data["organisation"], invoice=data["invoice"],
                                   reason=data["reason"], by=request.user)
        adopt(obj, hold)

    def get_form(self, request: HttpRequest, obj: CollectionHold | None = None, change: bool = False,
                 **kwargs: Any) -> type[forms.ModelForm]:
        form = super().get_form(request, obj, change, **kwargs)
        refused = getattr(request, "_hold_refused", None)
        if refused is None:
            return form

        class LostRace(form):  # the same form, its data kept, saying why the hold was not placed
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                if refused not in self.non_field_errors():  # the form's own checks may say it already
                    self.add_error(None, refused)
                return cleaned

        return LostRace

    def add_view(self, request: HttpRequest, form_url: str = "",
                 extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except HoldRefused as error:
            # Lost a race the form's checks could not see (another clerk's hold committed between them and the
            # write): nothing was written. The form comes back as it was filled in, with the refusal, so the
            # reason is not typed again.
            request._hold_refused = str(error)
            return super().add_view(request, form_url, extra_context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        hold = self.get_object(request, object_id)
        context = {
            **(extra_context or {}),
            "audit_events": list(events_for(hold)),
            "lift_url": reverse("admin:collection_collectionhold_lift", args=[hold.pk]) if hold.in_force else None,
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        lift = self.admin_site.admin_view(require_http_methods(["GET", "POST"])(self.lift_view))
        return [path("<int:pk>/lift/", lift, name="collection_collectionhold_lift"), *super().get_urls()]

    def lift_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Ask, then lift the hold: the next collection run collects what it stopped."""
        hold = self.get_object(request, str(pk))
        page = reverse("admin:collection_collectionhold_change", args=[hold.pk])
        if request.method == "POST":
            try:
                lift_hold(hold=hold, by=request.user)
            except HoldRefused as error:
                messages.error(request, str(error))
            else:
                messages.success(request, lifted_message(hold))
            return HttpResponseRedirect(page)
        if not hold.in_force:  # lifted meanwhile (another clerk, or an old tab): nothing to ask
            messages.error(request, str(already_lifted(hold)))
            return HttpResponseRedirect(page)
        context = {**self.admin_site.each_context(request), "title": gettext("Lift this hold?"), "hold": hold,
                   "opts": self.opts, "page_url": page}
        return TemplateResponse(request, "backoffice/collection/hold_lift.html", context)

    @admin.action(description=_("Lift the selected holds"), permissions=["lift"])
    def lift_selected(self, request: HttpRequest, queryset: QuerySet[CollectionHold]) -> None:
        lifted = 0
        for hold in queryset.select_related("customer", "invoice").order_by("pk"):
            try:
                lift_hold(hold=hold, by=request.user)
            except HoldRefused as error:
                self.message_user(request, f"{hold}: {error}", messages.WARNING)
            else:
                lifted += 1
        if lifted:
            self.message_user(request, ngettext(
                "%(count)s hold lifted: the next collection run collects what it stopped.",
                "%(count)s holds lifted: the next collection run collects what they stopped.",
                lifted) % {"count": lifted}, messages.SUCCESS)


def lifted_message(hold: CollectionHold) -> str:
    if hold.kind == HoldKind.CUSTOMER_BLOCKED:
        return gettext("%(customer)s is no longer blocked: the next collection run collects their invoices.") % {
            "customer": hold.customer}
    return gettext("Invoice %(invoice)s is no longer disputed: the next collection run collects it.") % {
        "invoice": hold.invoice.display_name}


def formats_datetime(value: Any) -> str:
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


__all__ = ["CollectionAdmin", "CollectionHoldAdmin", "CollectionPolicyAdmin", "CollectionRunAdmin", "invoice_link"]
