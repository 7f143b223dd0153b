"""encaisse import-usage FILE --partner CODE --period YYYY-MM: a partner's monthly usage file into draft invoices.

The whole file is imported in one transaction or refused: an unreadable file
(wrong encoding, no recognisable header, empty) is a domain error (exit 1)
and writes nothing. Without a declared format the partner's format is detected
from the file and reported, so the next run can be checked against it.
"""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, UsageError, parse_month
from encaisse.usage.models import Partner
from encaisse.usage.services import import_usage_file


class Command(EncaisseCommand):
    help = _("Import a partner's usage file for a month: one draft invoice per customer, all lines or none.")
    takes_org = True

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--partner", metavar="CODE", required=True, help=_("The partner's code."))
        parser.add_argument("--period", metavar="YYYY-MM", required=True, help=_("The month billed."))
        parser.add_argument("--dry-run", action="store_true",
                            help=_("Read and check the file, report what would happen, write nothing."))

    def run(self, **options: Any) -> dict[str, Any]:
        path = Path(options["file"])
        if not path.is_file():
            raise UsageError(_("%(file)s is not a file.") % {"file": path})
        period = parse_month(options["period"])
        partner = self._partner(options["partner"])
        with path.open("rb") as stream:
            result = import_usage_file(partner=partner, period=period, file=stream, filename=path.name,
                                       dry_run=options["dry_run"])
        # An identical file already imported comes back as the earlier import, its report saying "unchanged".
        return {**result.report, "import_id": result.pk, "status": result.status}

    def _partner(self, code: str) -> Partner:
        partners = Partner.objects.filter(organisation=self.organisation).order_by("code")
        partner = partners.filter(code=code).first()
        if partner is None:
            codes = ", ".join(partners.values_list("code", flat=True)) or _("none yet")
            raise UsageError(_("Partner %(code)s does not exist. Choices: %(choices)s.") % {
                "code": code, "choices": codes})
        return partner

    def show(self, answer: dict[str, Any]) -> None:
        fmt = answer.get("format") or {}
        if answer.get("unchanged"):
            self.stdout.write(_("This file was already imported for %(partner)s, %(period)s: nothing changed.")
                              % answer)
        elif answer.get("dry_run"):
            self.stdout.write(_("Dry run: nothing was written."))
        self.stdout.write(_("File %(filename)s, partner %(partner)s, period %(period)s.") % answer)
        self.stdout.write(_("Format: %(format)s") % {"format": describe_format(fmt)})
        self.stdout.write(_("%(lines_read)s lines read, %(lines_accepted)s accepted; %(invoices_created)s draft "
                            "invoices created, %(invoices_updated)s updated; total %(total)s %(currency)s.")
                          % answer)
        amounts = answer.get("amount_by_customer") or {}
        if amounts:
            self.table([_("Customer"), _("Amount added")], [[ref, amount] for ref, amount in amounts.items()])
        if answer.get("rejected"):
            self.stdout.write(_("Rejected lines:"))
            for row in answer["rejected"]:
                self.stdout.write(_("  line %(line)s [%(code)s]: %(message)s — %(raw)s") % row)
        if answer.get("duplicates"):
            self.stdout.write(_("Duplicate lines (billed once):"))
            for row in answer["duplicates"]:
                self.stdout.write(_("  line %(line)s repeats line %(repeats)s") % row)


def describe_format(fmt: dict[str, Any]) -> str:
    """One line a person can check: kind, encoding, separator, decimal mark, date format, columns."""
    if not fmt:
        return "—"
    parts = [str(fmt.get("kind", "")).upper()]
    if fmt.get("kind") == "csv":
        separator = {"\t": _("tab")}.get(fmt.get("separator", ""), fmt.get("separator", ""))
        parts += [fmt.get("encoding", ""), _("separator %(sep)s") % {"sep": separator}]
    parts.append(_("decimal comma") if fmt.get("decimal_comma") else _("decimal point"))
    if fmt.get("date_format"):
        parts.append(_("dates %(format)s") % {"format": fmt["date_format"]})
    if not fmt.get("has_header", True):
        parts.append(_("no header line"))
    columns = fmt.get("columns") or {}
    if columns:
        parts.append(", ".join(f"{field}={column}" for field, column in columns.items()))
    return "; ".join(str(p) for p in parts if p)
