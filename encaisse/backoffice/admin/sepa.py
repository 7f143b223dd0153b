"""SEPA: mandates, the direct-debit bank account, the files sent and received, and the bank's R-transactions.

The IBAN is shown masked in lists and in full only on the mandate's own page;
a mandate's IBAN is changed through its "Change the IBAN" page (an amendment
told to the bank with the next debit), not by editing the field.

The proof of a mandate signed online (source, the text as signed, when and
from where) and its revocation are shown read-only: they are facts recorded
by sepa.services, which staff may read but never rewrite.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from encaisse.core.audit import events_for, record_event
from encaisse.core.money import Money
from encaisse.ledger.models import Account
from encaisse.sepa.models import BankFile, CreditorAccount, DebitFile, DirectDebit, Mandate, RTransaction, masked_iban
from encaisse.sepa.reasons import reason

from ..site import OrganisationScopedAdmin, ReadOnlyAdmin
from ..templatetags.backoffice_tags import format_money
from .ledger import entry_link
from .payments import ManagersOnlyAdmin


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

    change_form_template = "backoffice/sepa/mandate_change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["iban", "bic"]  # an amendment, through the "Change the IBAN" page
        return fields

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        mandate = self.get_object(request, object_id)
        context = {**(extra_context or {}),
                   "change_account_url": reverse("staff:mandate_change_account", args=[mandate.pk])}
        return super().change_view(request, object_id, form_url, extra_context=context)


# --- direct-debit bank accounts ---------------------------------------------------------------------------------


class CreditorAccountForm(forms.ModelForm):
    class Meta:
        model = CreditorAccount
        fields = ("organisation", "name", "iban", "bic", "schema", "lead_days", "bank_account", "active")
        help_texts = {
            "bank_account": _("The ledger's bank account (512…) credited when the bank collects the debits."),
            "active": _("One active account per organisation: its direct debits are sent from it."),
        }

    clean_iban = MandateForm.clean_iban
    clean_bic = MandateForm.clean_bic


@admin.register(CreditorAccount)
class CreditorAccountAdmin(ManagersOnlyAdmin):
    """Where direct debits are paid in: set up by an organisation's managers only, every change audited."""

    form = CreditorAccountForm
    change_form_template = "backoffice/collection/audited_change_form.html"
    list_display = ("name", "masked", "bic", "schema", "lead_days", "bank_account", "active")
    list_filter = ("active", "schema")
    list_select_related = ("bank_account", "organisation")

    @admin.display(description=_("IBAN"))
    def masked(self, account: CreditorAccount) -> str:
        return masked_iban(account.iban)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "bank_account":
            field.queryset = field.queryset.filter(kind=Account.Kind.BANK)
        return field

    def save_model(self, request: HttpRequest, obj: CreditorAccount, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        record_event(obj, "changed" if change else "created", by=request.user, data={"fields": form.changed_data})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        account = self.get_object(request, object_id)
        context = {**(extra_context or {}), "audit_events": list(events_for(account))}
        return super().change_view(request, object_id, form_url, extra_context=context)


# --- direct-debit files, direct debits, bank files, R-transactions (written by the services only) -------------


def r_label(code: str) -> str:
    """A bank reason code with its meaning in the reader's language ("AM04 – Insufficient funds")."""
    return str(reason(code)) if code else "—"


def _link(name: str, pk: Any, text: Any) -> str:
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{name}", args=[pk]), text)


@admin.register(DebitFile)
class DebitFileAdmin(ReadOnlyAdmin):
    change_form_template = "backoffice/sepa/debitfile_change_form.html"
    change_list_template = "backoffice/sepa/debitfile_change_list.html"
    list_display = ("created_at", "message_id", "collection_date", "scheme", "schema", "count", "total", "status",
                    "download")
    list_filter = ("status", "scheme", "schema", "collection_date")
    search_fields = ("message_id",)
    list_select_related = ("organisation",)
    fields = ("message_id", "status", "schema", "scheme", "collection_date", "count", "total",
              "creditor_account", "created_at", "created_by", "sha256", "entry_column", "settlement_column",
              "download")
    readonly_fields = fields

    @admin.display(description=_("control sum"), ordering="control_sum_minor")
    def total(self, debit_file: DebitFile) -> str:
        return format_money(debit_file.control_sum)

    @admin.display(description=_("file"))
    def download(self, debit_file: DebitFile) -> str:
        url = reverse("staff:debit_file_download", args=[debit_file.pk])
        return format_html('<a href="{}" download>{}</a>', url, _("Download"))

    @admin.display(description=_("ledger entry"))
    def entry_column(self, debit_file: DebitFile) -> str:
        return entry_link(debit_file.entry)

    @admin.display(description=_("settlement entry"))
    def settlement_column(self, debit_file: DebitFile) -> str:
        return entry_link(debit_file.settlement_entry)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        debit_file = self.get_object(request, object_id)
        debits = list(debit_file.debits.select_related("customer", "invoice", "mandate").order_by("pk"))
        answers = {r.direct_debit_id: r for r in RTransaction.objects.filter(direct_debit__file=debit_file)}
        rows = [{"debit": debit, "r": answers.get(debit.pk),
                 "reason": r_label(answers[debit.pk].reason_code) if debit.pk in answers else ""}
                for debit in debits]
        context = {**(extra_context or {}), "debit_rows": rows,
                   "download_url": reverse("staff:debit_file_download", args=[debit_file.pk])}
        return super().change_view(request, object_id, form_url, extra_context=context)


@admin.register(DirectDebit)
class DirectDebitAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "end_to_end_id", "customer", "invoice_column", "amount_column", "sequence_type",
                    "collection_date", "status", "file_column", "reason")
    list_filter = ("status", "sequence_type", "collection_date")
    search_fields = ("end_to_end_id", "customer__name", "customer__ref", "invoice__number", "mandate__reference")
    list_select_related = ("customer", "invoice", "file", "organisation")
    fields = ("end_to_end_id", "customer", "mandate", "invoice_column", "amount_column", "sequence_type",
              "collection_date", "status", "prenotified_at", "file_column", "represents", "reason", "amendment",
              "created_at", "created_by")
    readonly_fields = fields

    @admin.display(description=_("invoice"), ordering="invoice__number")
    def invoice_column(self, debit: DirectDebit) -> str:
        if debit.invoice_id is None:
            return "—"
        return _link("invoicing_invoice_change", debit.invoice_id, debit.invoice.display_name)

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_column(self, debit: DirectDebit) -> str:
        return format_money(debit.amount)

    @admin.display(description=_("file"), ordering="file__message_id")
    def file_column(self, debit: DirectDebit) -> str:
        return _link("sepa_debitfile_change", debit.file_id, debit.file) if debit.file_id else "—"

    @admin.display(description=_("reason"), ordering="reason_code")
    def reason(self, debit: DirectDebit) -> str:
        return r_label(debit.reason_code) if debit.reason_code else ""


@admin.register(BankFile)
class BankFileAdmin(ReadOnlyAdmin):
    change_form_template = "backoffice/sepa/bankfile_change_form.html"
    change_list_template = "backoffice/sepa/bankfile_change_list.html"
    list_display = ("imported_at", "name", "kind", "message_id", "applied", "imported_by")
    list_filter = ("kind",)
    search_fields = ("name", "message_id")
    list_select_related = ("imported_by", "organisation")
    fields = ("name", "kind", "message_id", "imported_at", "imported_by", "sha256")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(r_count=Count("r_transactions"))

    @admin.display(description=_("R-transactions"), ordering="r_count")
    def applied(self, bank_file: BankFile) -> int:
        return bank_file.r_count

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        bank_file = self.get_object(request, object_id)
        report = bank_file.report or {}
        applied = [(r, r_label(r.reason_code)) for r in bank_file.r_transactions
                   .select_related("direct_debit__customer", "direct_debit__invoice").order_by("pk")]
        context = {**(extra_context or {}), "applied": applied,
                   "already_known": report.get("already_known") or [],
                   "unmatched": report.get("unmatched") or [], "settled": report.get("settled") or []}
        return super().change_view(request, object_id, form_url, extra_context=context)


@admin.register(RTransaction)
class RTransactionAdmin(ReadOnlyAdmin):
    list_display = ("booked_on", "kind", "code_label", "debit_column", "customer", "amount_column", "fee_column",
                    "bank_file")
    list_filter = ("kind", "reason_code", "booked_on")
    search_fields = ("direct_debit__end_to_end_id", "direct_debit__customer__name", "reason_code")
    list_select_related = ("direct_debit__customer", "bank_file", "organisation")
    fields = ("kind", "code_label", "debit_column", "customer", "amount_column", "fee_column", "booked_on",
              "bank_file", "entry_column", "fee_entry_column", "created_at")
    readonly_fields = fields

    @admin.display(description=_("reason"), ordering="reason_code")
    def code_label(self, r_transaction: RTransaction) -> str:
        return r_label(r_transaction.reason_code)

    @admin.display(description=_("direct debit"))
    def debit_column(self, r_transaction: RTransaction) -> str:
        debit = r_transaction.direct_debit
        return _link("sepa_directdebit_change", debit.pk, debit.end_to_end_id)

    @admin.display(description=_("customer"))
    def customer(self, r_transaction: RTransaction) -> Any:
        return r_transaction.direct_debit.customer

    @admin.display(description=_("amount"), ordering="amount_minor")
    def amount_column(self, r_transaction: RTransaction) -> str:
        return format_money(Money(r_transaction.amount_minor, r_transaction.currency))

    @admin.display(description=_("bank fee"), ordering="fee_minor")
    def fee_column(self, r_transaction: RTransaction) -> str:
        if not r_transaction.fee_minor:
            return "—"
        return format_money(Money(r_transaction.fee_minor, r_transaction.currency))

    @admin.display(description=_("ledger entry"))
    def entry_column(self, r_transaction: RTransaction) -> str:
        return entry_link(r_transaction.entry)

    @admin.display(description=_("fee entry"))
    def fee_entry_column(self, r_transaction: RTransaction) -> str:
        return entry_link(r_transaction.fee_entry)
