"""Usage imports in the back office: upload, preview, confirm, progress, report; original files; drafts to review.

The flow is three requests and a background task:

1. upload: the form (partner, month, file) stores the file under
   MEDIA_ROOT/usage/uploads/<token>/ and shows the format that will be used
   (declared on the partner, or detected from the file) and the first rows as
   they will be read, or why the file cannot be read at all;
2. confirm: optionally saves the shown format on the partner
   (format_confirmed), then enqueues usage.tasks.import_usage_upload;
3. status: a progress bar refreshed by htmx polling from the task's progress
   file, and the report once the import is done.

Every record is reached through `scoped`: another organisation's partner,
import or file answers 404.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice, InvoiceLine
from encaisse.invoicing.services import post_invoices, validate_invoice
from encaisse.invoicing.services.posting import postable_scope
from encaisse.parties.models import Organisation
from encaisse.usage.formats import FileFormat, UnreadableFile, detect_format, format_for, preview
from encaisse.usage.models import USAGE_FIELDS, Partner, UsageImport
from encaisse.usage.services import HEAD_SIZE, declared_format

from .site import organisations_of, scoped
from .views import email_chosen_invoices

# encaisse.usage.tasks is imported inside the views: the admin loads this module at start-up, and defining a
# django.tasks task binds the task backends to the settings of that moment (tests switch to the immediate one).

SESSION_KEY = "usage_upload_%s"
FIELD_LABELS = {
    "customer": _("Customer"), "service": _("Service"), "quantity": _("Quantity"), "unit_price": _("Unit price"),
    "date": _("Date"), "label": _("Label"), "comment": _("Comment"),
}


def _context(request: HttpRequest, title: Any, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, **extra}


class UploadForm(forms.Form):
    partner = forms.ModelChoiceField(label=_("Partner"), queryset=Partner.objects.none())
    period = forms.DateField(label=_("Month"), input_formats=["%Y-%m"],
                             widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
                             help_text=_("The month billed, YYYY-MM."))
    file = forms.FileField(label=_("File"), help_text=_("CSV or XLSX, as the partner sends it."))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        partners = scoped(Partner.objects.filter(active=True).select_related("organisation"), user)
        self.fields["partner"].queryset = partners.order_by("organisation__name", "name")


def format_of(partner: Partner, stored_name: str, filename: str) -> tuple[FileFormat, bool]:
    """The format the import will use (as the service chooses it), and whether it was detected from the file."""
    if partner.format_confirmed:
        return format_for(declared_format(partner), None), False
    with default_storage.open(stored_name, "rb") as stream:
        head = stream.read(HEAD_SIZE)
    return format_for(declared_format(partner), detect_format(head, filename=filename)), True


def _count_lines(stored_name: str, kind: str) -> int | None:
    """Lines of a CSV file, for the progress bar's end; unknown for XLSX. Read in chunks, never whole."""
    if kind != "csv":
        return None
    count, last = 0, b"\n"
    with default_storage.open(stored_name, "rb") as stream:
        while chunk := stream.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _pending(request: HttpRequest, token: str) -> dict[str, Any]:
    pending = request.session.get(SESSION_KEY % token)
    if not pending:
        raise Http404(_("No such upload."))
    return pending


def _partner(request: HttpRequest, partner_id: int) -> Partner:
    return get_object_or_404(scoped(Partner.objects.select_related("organisation"), request.user), pk=partner_id)


@require_http_methods(["GET", "POST"])
def usage_import(request: HttpRequest) -> HttpResponse:
    """Step 1: the upload form; once posted, the format and the first rows as they will be read."""
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        partner = form.cleaned_data["partner"]
        period: date = form.cleaned_data["period"].replace(day=1)
        upload = form.cleaned_data["file"]
        token = uuid.uuid4().hex
        filename = Path(upload.name).name
        from encaisse.usage.tasks import upload_name

        stored_name = default_storage.save(upload_name(token, filename), upload)
        request.session[SESSION_KEY % token] = {
            "partner_id": partner.pk, "period": period.isoformat(), "filename": filename,
            "stored_name": stored_name,
        }
        error, fmt, detected, rows = None, None, False, []
        try:
            fmt, detected = format_of(partner, stored_name, filename)
            with default_storage.open(stored_name, "rb") as stream:
                rows = preview(stream, fmt, limit=10)
        except UnreadableFile as refusal:
            error = str(refusal)
        fields = [f for f in USAGE_FIELDS if fmt is not None and f in fmt.columns]
        return render(request, "backoffice/usage/preview.html", _context(
            request, _("Import usage: check the file"), partner=partner, period=period, filename=filename,
            token=token, error=error, format=fmt, detected=detected, format_rows=_format_rows(fmt),
            fields=[(f, FIELD_LABELS[f]) for f in fields],
            rows=[{"line": row.line, "values": [row.values.get(f, "") for f in fields]} for row in rows],
        ))
    return render(request, "backoffice/usage/upload.html", _context(request, _("Import usage"), form=form))


def _format_rows(fmt: FileFormat | None) -> list[tuple[Any, str]]:
    """The format as label/value pairs a manager can check against the file."""
    if fmt is None:
        return []
    separators = {";": ";", ",": ",", "\t": gettext("tab")}
    rows = [(_("File kind"), fmt.kind.upper())]
    if fmt.kind == "csv":
        rows += [(_("Encoding"), fmt.encoding), (_("Separator"), separators.get(fmt.separator, fmt.separator))]
    rows += [
        (_("Decimal mark"), gettext("comma") if fmt.decimal_comma else gettext("point")),
        (_("Date format"), fmt.date_format or "—"),
        (_("Header line"), gettext("yes") if fmt.has_header else gettext("no")),
        (_("Columns"), ", ".join(f"{FIELD_LABELS.get(k, k)} = {v}" for k, v in fmt.columns.items())),
    ]
    return rows


@require_POST
def usage_import_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Step 2: keep the format on the partner if asked, then run the import in the background."""
    from encaisse.usage.tasks import import_usage_upload, write_progress

    pending = _pending(request, token)
    partner = _partner(request, pending["partner_id"])
    try:
        fmt, _detected = format_of(partner, pending["stored_name"], pending["filename"])
    except UnreadableFile as refusal:
        messages.error(request, str(refusal))
        return HttpResponseRedirect(reverse("staff:usage_import"))
    if request.POST.get("confirm_format"):
        partner.file_kind, partner.encoding, partner.separator = fmt.kind, fmt.encoding, fmt.separator
        partner.decimal_comma, partner.date_format, partner.has_header = fmt.decimal_comma, fmt.date_format, \
            fmt.has_header
        partner.columns, partner.format_confirmed = dict(fmt.columns), True
        partner.save(update_fields=["file_kind", "encoding", "separator", "decimal_comma", "date_format",
                                    "has_header", "columns", "format_confirmed"])
        messages.success(request, gettext("The format is saved on partner %(partner)s.") % {"partner": partner})
    write_progress(token, state="queued", lines_read=0, total=_count_lines(pending["stored_name"], fmt.kind))
    import_usage_upload.enqueue(token=token, stored_name=pending["stored_name"], partner_id=partner.pk,
                                period=pending["period"], filename=pending["filename"], user_id=request.user.pk)
    return HttpResponseRedirect(reverse("staff:usage_import_status", args=[token]))


def _status_context(request: HttpRequest, token: str) -> dict[str, Any]:
    from encaisse.usage.tasks import read_progress

    pending = _pending(request, token)
    partner = _partner(request, pending["partner_id"])
    progress = read_progress(token) or {"state": "queued", "lines_read": 0}
    total = progress.get("total")
    percent = None
    if total:
        # The header is one of the lines counted; never show 100 % before the end.
        percent = min(99, int(100 * progress.get("lines_read", 0) / total))
    usage_import = None
    if progress.get("state") == "done":
        percent = 100
        if progress.get("import_id"):
            usage_import = scoped(UsageImport.objects.all(), request.user).filter(pk=progress["import_id"]).first()
    return {"token": token, "partner": partner, "filename": pending["filename"], "period": pending["period"][:7],
            "progress": progress, "percent": percent, "usage_import": usage_import,
            "report": usage_import.report if usage_import else None,
            "finished": progress.get("state") in ("done", "failed"),
            "status_url": reverse("staff:usage_import_status", args=[token])}


@require_GET
def usage_import_status(request: HttpRequest, token: str) -> HttpResponse:
    """Step 3: the progress bar (the fragment alone for htmx polls), then the report."""
    context = _status_context(request, token)
    if request.htmx or request.GET.get("fragment"):
        return render(request, "backoffice/usage/progress.html", context)
    return render(request, "backoffice/usage/status.html", _context(request, _("Import usage: progress"),
                                                                     **context))


@require_GET
def usage_import_file(request: HttpRequest, pk: int) -> FileResponse:
    """The original file of an import, for staff of its organisation only."""
    usage_import = get_object_or_404(scoped(UsageImport.objects.all(), request.user), pk=pk)
    if not usage_import.original:
        raise Http404(_("The original file of this import was not kept."))
    try:
        stream = usage_import.original.open("rb")
    except FileNotFoundError as error:
        raise Http404(_("The original file of this import was not kept.")) from error
    return FileResponse(stream, as_attachment=True, filename=usage_import.filename)


# --- the month's drafts ------------------------------------------------------------------------------------


def _month(value: str | None) -> date | None:
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


def _organisation(request: HttpRequest, slug: str | None) -> Organisation | None:
    organisations = organisations_of(request.user).order_by("name")
    if slug:
        return get_object_or_404(organisations, slug=slug)
    candidates = list(organisations[:2])
    return candidates[0] if len(candidates) == 1 else None


def _drafts(organisation: Organisation, period: date) -> QuerySet[Invoice]:
    return postable_scope(organisation=organisation, period=period).filter(status=Invoice.Status.DRAFT)


def drafts_summary(organisation: Organisation, period: date) -> dict[str, Any]:
    """Per partner: the drafts holding its lines for the month and their net total; and all drafts together.

    Net amounts are summed line by line in minor units (each line rounded as
    posting rounds it), never in floating point.
    """
    drafts = _drafts(organisation, period)
    lines = InvoiceLine.objects.filter(invoice__in=drafts).values_list(
        "invoice_id", "quantity", "unit_price", "source_key")
    net_by_invoice: dict[int, int] = {}
    invoices_by_key: dict[str, set[int]] = {}
    imported_by_key: dict[str, int] = {}
    for invoice_id, quantity, unit_price, key in lines.iterator(chunk_size=5000):
        net = Money.of(Decimal(quantity) * Decimal(unit_price), organisation.currency).minor
        net_by_invoice[invoice_id] = net_by_invoice.get(invoice_id, 0) + net
        if key:
            invoices_by_key.setdefault(key, set()).add(invoice_id)
            imported_by_key[key] = imported_by_key.get(key, 0) + net
    rows = []
    for partner in Partner.objects.filter(organisation=organisation).order_by("name"):
        key = f"usage:{partner.pk}:{period:%Y-%m}"
        ids = invoices_by_key.get(key, set())
        if not ids:
            continue
        rows.append({
            "partner": partner, "drafts": len(ids),
            "imported": Money(imported_by_key[key], organisation.currency),
            "net": Money(sum(net_by_invoice[i] for i in ids), organisation.currency),
            "imports": UsageImport.objects.filter(partner=partner, period=period,
                                                  status=UsageImport.Status.SUCCEEDED).count(),
        })
    return {"rows": rows, "drafts": drafts.count(),
            "net": Money(sum(net_by_invoice.values()), organisation.currency)}


@require_GET
def usage_drafts(request: HttpRequest) -> HttpResponse:
    """The month's drafts per partner with totals, and the buttons that validate and post them."""
    organisation = _organisation(request, request.GET.get("org"))
    if organisation is None:
        return render(request, "backoffice/choose_organisation.html", _context(
            request, _("Drafts of the month"), organisations=organisations_of(request.user).order_by("name")))
    period = _month(request.GET.get("period"))
    months = sorted(set(Invoice.objects.filter(organisation=organisation, status=Invoice.Status.DRAFT,
                                               billing_period__isnull=False).dates("billing_period", "month")),
                    reverse=True)
    if period is None:
        period = months[0] if months else date.today().replace(day=1)
    summary = drafts_summary(organisation, period)
    changelist = reverse("admin:invoicing_invoice_changelist")
    return render(request, "backoffice/usage/drafts.html", _context(
        request, _("Drafts of %(month)s") % {"month": f"{period:%m/%Y}"}, organisation=organisation,
        period=period, months=months, summary=summary,
        drafts_url=f"{changelist}?period={period:%Y-%m}&status=draft",
        validated=postable_scope(organisation=organisation, period=period).filter(
            status=Invoice.Status.VALIDATED).count(),
    ))


@require_POST
def usage_drafts_action(request: HttpRequest) -> HttpResponse:
    """Validate every draft of the month (each on its own, failures named), or post the month."""
    organisation = _organisation(request, request.POST.get("org"))
    period = _month(request.POST.get("period"))
    if organisation is None or period is None:
        raise Http404(_("Choose an organisation and a month."))
    if request.POST.get("action") == "post":
        report = post_invoices(organisation=organisation, period=period, by=request.user)
        messages.success(request, gettext("%(validated)s validated, %(posted)s posted, %(failures)s refused.") % {
            **report.as_dict(), "failures": len(report.failed)})
        email_chosen_invoices(request, organisation)
        for failure in report.failed:
            messages.error(request, f"{failure['invoice']}: {failure['message']}")
    else:
        validated, failures = validate_drafts(list(_drafts(organisation, period).values_list("pk", flat=True)),
                                              by=request.user)
        messages.success(request, gettext("%(count)s drafts validated.") % {"count": validated})
        for failure in failures:
            messages.error(request, failure)
    return HttpResponseRedirect(f"{reverse('staff:usage_drafts')}?org={organisation.slug}&period={period:%Y-%m}")


def validate_drafts(invoice_ids: list[int], *, by: Any) -> tuple[int, list[str]]:
    """Validate each draft on its own, so one refused draft (no line…) leaves the others validated."""
    validated, failures = 0, []
    for invoice_id in sorted(invoice_ids):
        try:
            validate_invoice(invoice_id=invoice_id, by=by)
        except DomainError as error:
            name = Invoice.objects.get(pk=invoice_id).display_name
            failures.append(f"{name}: {error}")
        else:
            validated += 1
    return validated, failures
