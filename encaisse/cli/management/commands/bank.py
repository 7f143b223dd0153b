"""encaisse bank import FILE: read a pain.002 or camt.054 from the bank and apply each R-transaction once."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, UsageError
from encaisse.collection.services import handle_r_transactions
from encaisse.sepa.returns import import_bank_file


class Command(EncaisseCommand):
    help = _("The bank's answers. `bank import FILE` reads a pain.002 (rejects) or camt.054 (returns, refunds, "
             "credits): each R-transaction reverses its payment once, reopens the invoice and follows the "
             "collection policy; the same file twice changes nothing.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        command = actions.add_parser("import", help=_("Import a pain.002 or camt.054 file."))
        command.add_argument("file", metavar="FILE", help=_("The file the bank sent."))
        command.add_argument("--json", action="store_true", help=_("Print one JSON object on stdout."))
        command.add_argument("--org", metavar="SLUG",
                             help=_("The organisation (may be left out when there is only one)."))

    def run(self, **options: Any) -> dict[str, Any]:
        organisation = self.resolve_organisation(options.get("org"))
        path = Path(options["file"])
        if not path.is_file():
            raise UsageError(_("%(path)s is not a file.") % {"path": path})
        report = import_bank_file(organisation=organisation, data=path.read_bytes(), name=path.name)
        if report.applied:
            handle_r_transactions(report.applied)  # the policy: re-present, re-bill the fee, or fail the collection
        return {"organisation": organisation.slug, **report.as_dict()}

    def show(self, answer: dict[str, Any]) -> None:
        if answer["already_imported"]:
            self.stdout.write(_("This file was imported before: nothing changed."))
            return
        self.stdout.write(_("%(applied)s applied, %(known)s already known, %(unmatched)s unmatched, "
                            "%(settled)s settled.") % {
            "applied": len(answer["applied"]), "known": len(answer["already_known"]),
            "unmatched": len(answer["unmatched"]), "settled": len(answer["settled"])})
        for row in answer["applied"]:
            self.stdout.write(_("  %(end_to_end_id)s %(kind)s %(reason_code)s – %(reason)s (%(amount)s)") % row)
        for row in answer["unmatched"]:
            self.stdout.write(_("  not matched: %(end_to_end_id)s %(reason_code)s – %(message)s") % row)
