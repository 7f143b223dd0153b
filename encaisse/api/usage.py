"""Usage imports over the API: a partner's program posts its monthly file and reads back the report.

The endpoint only translates: it finds the partner within the key's
organisation (another organisation's partner answers 404, as a missing one
does, so codes cannot be probed), reads the month, and hands the uploaded
file to usage.services.import_usage_file. Its report is the answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from encaisse.core.errors import DomainError
from encaisse.usage.formats import UnreadableFile
from encaisse.usage.models import Partner, UsageImport
from encaisse.usage.services import import_usage_file

from .auth import API_KEY_AUTH, organisation_of

router = Router(tags=["usage imports"], auth=API_KEY_AUTH)


class ErrorOut(Schema):
    code: str
    message: str


class RejectedLine(Schema):
    line: int
    raw: str
    code: str
    message: str


class DuplicateLine(Schema):
    line: int
    repeats: int


class UsageImportReport(Schema):
    id: int | None = None
    status: str
    partner: str
    period: str
    filename: str
    content_hash: str
    unchanged: bool
    dry_run: bool
    format: dict[str, Any]
    lines_read: int
    lines_accepted: int
    invoices_created: int
    invoices_updated: int
    amount_by_customer: dict[str, str]
    total: str
    currency: str
    rejected: list[RejectedLine]
    duplicates: list[DuplicateLine]


def _error(error: DomainError) -> dict[str, str]:
    return error.as_dict()


def _answer(usage_import: UsageImport) -> dict[str, Any]:
    report = dict(usage_import.report or {})
    report.setdefault("partner", usage_import.partner.code)
    report.setdefault("period", f"{usage_import.period:%Y-%m}")
    report.setdefault("filename", usage_import.filename)
    report.setdefault("content_hash", usage_import.content_hash)
    report.setdefault("dry_run", usage_import.status == UsageImport.Status.DRY_RUN)
    report["unchanged"] = bool(report.get("unchanged"))
    return {**report, "id": usage_import.pk, "status": usage_import.status}


@router.post(
    "/usage-imports",
    response={200: UsageImportReport, 201: UsageImportReport, 400: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Import a partner's usage file for a month",
)
def create_usage_import(request: HttpRequest, file: File[UploadedFile], partner: Form[str], period: Form[str],
                        dry_run: Form[bool] = False) -> Status:
    """Turn the file into one draft invoice per customer for the month, all lines or none.

    201 with the report when the import ran (or with `dry_run`, when it was
    checked without writing); 200 with the earlier import's report when this
    very file was already imported for the partner and month (nothing
    changes); 400 when the file cannot be read or the period is not YYYY-MM.
    """
    organisation = organisation_of(request)
    try:
        month = datetime.strptime(period.strip(), "%Y-%m").date()
    except ValueError:
        return Status(400, {"code": "bad_period",
                            "message": _("%(value)s is not a month: use YYYY-MM.") % {"value": period}})
    found = Partner.objects.filter(organisation=organisation, code=partner.strip()).first()
    if found is None:
        return Status(404, {"code": "not_found",
                            "message": _("Partner %(code)s does not exist.") % {"code": partner}})
    try:
        result = import_usage_file(partner=found, period=month, file=file.file, filename=file.name or "upload",
                                   dry_run=dry_run)
    except UnreadableFile as error:
        return Status(400, _error(error))
    except DomainError as error:
        return Status(409, _error(error))
    answer = _answer(result)
    return Status(200 if answer["unchanged"] else 201, answer)


@router.get("/usage-imports/{import_id}", response={200: UsageImportReport, 404: ErrorOut},
            summary="One usage import and its report")
def get_usage_import(request: HttpRequest, import_id: int) -> Status:
    """An import of the key's organisation; any other id answers 404."""
    found = (UsageImport.objects.select_related("partner")
             .filter(organisation=organisation_of(request), pk=import_id).first())
    if found is None:
        return Status(404, {"code": "not_found",
                            "message": _("Usage import %(id)s does not exist.") % {"id": import_id}})
    return Status(200, _answer(found))

