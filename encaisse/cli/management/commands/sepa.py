"""encaisse sepa export: write the scheduled direct debits into pain.008 files for the bank."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, UsageError, parse_day
from encaisse.sepa.export import export_direct_debits


class Command(EncaisseCommand):
    help = _("SEPA direct debits. `sepa export` writes the scheduled debits into pain.008 files (one per bank "
             "account, scheme and collection date), books them and saves a copy of each file in --out.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        export = actions.add_parser("export", help=_("Export the scheduled direct debits into pain.008 files."))
        export.add_argument("--collection-date", metavar="YYYY-MM-DD",
                            help=_("Only the debits collected on this day."))
        export.add_argument("--out", metavar="DIR", required=True, help=_("Directory to write the files in."))
        export.add_argument("--json", action="store_true", help=_("Print one JSON object on stdout."))
        export.add_argument("--org", metavar="SLUG",
                            help=_("The organisation (may be left out when there is only one)."))

    def run(self, **options: Any) -> dict[str, Any]:
        organisation = self.resolve_organisation(options.get("org"))
        day = parse_day(options["collection_date"]) if options.get("collection_date") else None
        out = Path(options["out"])
        if out.exists() and not out.is_dir():
            raise UsageError(_("%(path)s is not a directory.") % {"path": out})
        out.mkdir(parents=True, exist_ok=True)
        files = export_direct_debits(organisation=organisation, today=timezone.localdate(), collection_date=day)
        written = []
        for debit_file in files:
            path = out / f"{debit_file.message_id}.xml"
            with debit_file.content.open("rb") as content:
                path.write_bytes(content.read())
            written.append({"message_id": debit_file.message_id, "count": debit_file.count,
                            "control_sum": debit_file.control_sum, "collection_date": debit_file.collection_date,
                            "scheme": debit_file.scheme, "schema": debit_file.schema, "sha256": debit_file.sha256,
                            "path": str(path)})
        return {"organisation": organisation.slug, "files": written}

    def show(self, answer: dict[str, Any]) -> None:
        if not answer["files"]:
            self.stdout.write(_("Nothing to export: no direct debit is waiting for a file."))
            return
        self.table([_("Message id"), _("Collection"), _("Debits"), _("Total"), _("File")],
                   [[f["message_id"], f["collection_date"], f["count"], f["control_sum"], f["path"]]
                    for f in answer["files"]])
