"""Staff views of automatic collection: run it by hand, export the direct-debit files, import the bank's answers,
download a file, change a mandate's IBAN.

Wrapped by admin.site.admin_view in urls.py (staff only, CSRF-checked, never
cached). Records are reached through `scoped`, so another organisation's file
or mandate answers 404. The work is done by collection.services and the sepa
services; a refusal (DomainError) comes back as a form error and writes nothing.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from encaisse.collection.models import CollectionRun, Outcome
from encaisse.collection.services import handle_r_transactions, run_collection
from encaisse.core.errors import DomainError
from encaisse.parties.models import Organisation
from encaisse.sepa.debits import change_mandate_account
from encaisse.sepa.export import export_direct_debits
from encaisse.sepa.models import DebitFile, DirectDebit, Mandate
from encaisse.sepa.returns import import_bank_file

from .admin.sepa import r_label
from .site import organisations_of, scoped
from .views import invoice_pay_url

MAX_BANK_FILE_BYTES = 20 * 1024 * 1024


def _context(request: HttpRequest, title: Any, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


class OrganisationForm(forms.Form):
    """The organisation the action is for: one of the staff member's, chosen already when they have only one."""

    organisation = forms.ModelChoiceField(label=_("Organisation"), queryset=Organisation.objects.none(),
                                          empty_label=None)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations_of(user).order_by("name")


# --- run collection -----------------------------------------------------------------------------------------


class RunForm(OrganisationForm):
    on = forms.DateField(label=_("Collection day"), widget=forms.DateInput(attrs={"type": "date"}),
                         help_text=_("Invoices due on or before this day are collected."))
    dry_run = forms.BooleanField(label=_("Dry run: show what would be done, charge and batch nothing"),
                                 required=False, initial=True)
    confirm = forms.BooleanField(label=_("I confirm: charge the saved cards and schedule the direct debits now"),
                                 required=False, help_text=_("Needed for a real run (without dry run)."))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("dry_run") and not cleaned.get("confirm"):
            self.add_error("confirm", _("Tick this box to run for real, or choose a dry run."))
        return cleaned


@require_http_methods(["GET", "POST"])
def collection_run(request: HttpRequest) -> HttpResponse:
    """Run collection now for one organisation; a dry run lists its lines here, a real run opens its page."""
    form = RunForm(request.POST or None, user=request.user, initial={"on": timezone.localdate()})
    run = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = run_collection(organisation=data["organisation"], on=data["on"], dry_run=data["dry_run"],
                                 trigger=CollectionRun.Trigger.BACKOFFICE, by=request.user)
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            if run.status == CollectionRun.Status.FAILED:
                messages.error(request, gettext("The run stopped on an error: %(error)s") % {"error": run.error})
            elif not run.dry_run:
                messages.success(request, gettext("Collection run of %(day)s done.") % {"day": run.run_on})
            if not run.dry_run:
                return HttpResponseRedirect(reverse("admin:collection_collectionrun_change", args=[run.pk]))
    # A dry run is not saved: its lines are the unsaved items the service returns with it (their customers read
    # in one query, not one per line).
    items = list(getattr(run, "item_list", [])) if run else []
    prefetch_related_objects(items, "customer")
    return render(request, "backoffice/collection/run.html", _context(
        request, _("Run collection"), form=form, run=run, items=items,
        counts=[(label, run.counts.get(value, 0)) for value, label in Outcome.choices] if run else []))


# --- export direct debits -----------------------------------------------------------------------------------


class ExportForm(OrganisationForm):
    collection_date = forms.DateField(
        label=_("Collection date"), required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Only the debits of this collection date; empty: every scheduled debit whose file is due."))
    confirm = forms.BooleanField(label=_("I confirm: the files written are frozen and must be sent to the bank"),
                                 required=True)


@require_http_methods(["GET", "POST"])
def debits_export(request: HttpRequest) -> HttpResponse:
    """Write the scheduled direct debits into pain.008 files, frozen once written; list them to download."""
    form = ExportForm(request.POST or None, user=request.user)
    files: list[DebitFile] | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            files = export_direct_debits(organisation=data["organisation"], today=timezone.localdate(),
                                         collection_date=data["collection_date"], by=request.user)
        except DomainError as error:
            form.add_error(None, str(error))
        else:
            if files:
                messages.success(request, gettext("%(count)s direct-debit files written.") % {"count": len(files)})
            else:
                messages.info(request, gettext("No direct debit to export."))
    return render(request, "backoffice/sepa/export.html", _context(
        request, _("Export direct debits"), form=form, files=files))


@require_GET
def debit_file_download(request: HttpRequest, pk: str) -> HttpResponse:
    """The pain.008 file exactly as frozen at export, to send to the bank."""
    debit_file = get_object_or_404(scoped(DebitFile.objects.all(), request.user), pk=pk)
    return FileResponse(debit_file.content.open("rb"), as_attachment=True,
                        filename=f"{debit_file.message_id}.xml", content_type="application/xml")


# --- import a bank file -------------------------------------------------------------------------------------


class BankFileForm(OrganisationForm):
    file = forms.FileField(label=_("Bank file"),
                           help_text=_("A payment status report (pain.002) or a debit notification (camt.054) "
                                       "as received from the bank."))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BANK_FILE_BYTES:
            raise forms.ValidationError(_("This file is too large for a bank file (at most 20 MB)."))
        return upload


@require_http_methods(["GET", "POST"])
def bank_import(request: HttpRequest) -> HttpResponse:
    """Read the bank's answer: each reject or return reverses its payment once and the policy says what next.

    A file that cannot be read is refused with its reason and changes nothing; the same file again is said
    to be already imported and changes nothing either.
    """
    form = BankFileForm(request.POST or None, request.FILES or None, user=request.user)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            with transaction.atomic():
                report = import_bank_file(organisation=form.cleaned_data["organisation"], data=upload.read(),
                                          name=upload.name, by=request.user,
                                          pay_url_for=lambda debit: _pay_url(request, debit))
                if report.applied:
                    handle_r_transactions(report.applied, by=request.user)
        except DomainError as error:
            form.add_error("file", str(error))
            report = None
    applied = [(r, r_label(r.reason_code)) for r in report.applied] if report else []
    prefetch_related_objects([r for r, _label in applied], "direct_debit__customer")
    return render(request, "backoffice/sepa/bank_import.html", _context(
        request, _("Import a bank file"), form=form, report=report, applied=applied,
        settled=report.settled if report else []))


def _pay_url(request: HttpRequest, debit: DirectDebit) -> str | None:
    """The invoice's pay link, put in the email telling the customer their debit came back."""
    return invoice_pay_url(request, debit.invoice) if debit.invoice_id else None


# --- change a mandate's IBAN --------------------------------------------------------------------------------


class MandateAccountForm(forms.Form):
    iban = forms.CharField(label=_("New IBAN"), max_length=42)
    bic = forms.CharField(label=_("New BIC"), max_length=11, required=False,
                          help_text=_("Optional inside the SEPA area."))


@require_http_methods(["GET", "POST"])
def mandate_change_account(request: HttpRequest, pk: int) -> HttpResponse:
    """A new account for the same mandate: told to the debtor's bank with the next debit (an amendment)."""
    mandate = get_object_or_404(scoped(Mandate.objects.select_related("customer"), request.user), pk=pk)
    form = MandateAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            changed = change_mandate_account(mandate=mandate, iban=form.cleaned_data["iban"],
                                             bic=form.cleaned_data["bic"], by=request.user)
        except DomainError as error:
            form.add_error(None, str(error))
        except ValidationError as error:
            for message in error.messages:
                form.add_error("iban", message)
        else:
            messages.success(request, gettext("The mandate %(reference)s now debits %(iban)s; the bank is told "
                                              "with the next collection.")
                             % {"reference": changed.reference, "iban": changed.masked_iban})
            return HttpResponseRedirect(reverse("admin:sepa_mandate_change", args=[mandate.pk]))
    return render(request, "backoffice/sepa/mandate_change_account.html", _context(
        request, _("Change the IBAN of mandate %(reference)s") % {"reference": mandate.reference},
        mandate=mandate, form=form))
