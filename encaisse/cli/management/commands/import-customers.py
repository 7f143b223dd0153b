"""encaisse import-customers FILE: customers, mandates and opening balances from a CSV file, all or nothing."""

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, UsageError, parse_day
from encaisse.onboarding.customers import COLUMNS, import_customers


class Command(EncaisseCommand):
    help = _("Import customers from a CSV file (columns: %(columns)s).") % {"columns": ", ".join(COLUMNS)}
    takes_org = True

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--on", metavar="YYYY-MM-DD",
                            help=_("Date of the opening balance entries (default: today)."))

    def run(self, **options: Any) -> dict[str, Any]:
        path = Path(options["file"])
        if not path.is_file():
            raise UsageError(_("%(file)s is not a file.") % {"file": path})
        on = parse_day(options["on"]) if options.get("on") else timezone.localdate()
        report = import_customers(organisation=self.organisation, file=path, today=on)
        return {"organisation": self.organisation.slug, "file": path.name, "opening_date": on, **report.as_dict()}

    def show(self, answer: dict[str, Any]) -> None:
        self.stdout.write(_("%(rows)s rows read: %(created)s customers created, %(updated)s updated, "
                            "%(unchanged)s unchanged; %(mandates_created)s mandates created.") % answer)
        self.stdout.write(_("%(opening_balances)s opening balances posted on %(date)s, total %(total)s %(currency)s.")
                          % {**answer, "date": answer["opening_date"], "total": answer["opening_total"]})
        for warning in answer["warnings"]:
            self.stdout.write(_("  line %(line)s: %(message)s") % warning)
