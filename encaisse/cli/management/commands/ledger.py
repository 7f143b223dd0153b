"""encaisse ledger verify: prove the books (balanced entries, intact hash chain, gapless numbers)."""

from argparse import ArgumentParser
from typing import Any

from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand
from encaisse.invoicing.verify import verify_numbering
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Organisation


class Command(EncaisseCommand):
    help = _("Ledger checks. `ledger verify` proves every entry balances, the hash chain is intact and "
             "numbers have no gap; it exits 1 when something is wrong.")

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser("verify", help=_("Verify the ledger and the invoice numbering."))
        verify.add_argument("--json", action="store_true", help=_("Print one JSON object on stdout."))
        verify.add_argument("--org", metavar="SLUG", help=_("Only this organisation (default: all of them)."))

    def run(self, **options: Any) -> dict[str, Any]:
        if options.get("org"):
            organisations = [self.resolve_organisation(options["org"])]
        else:
            organisations = list(Organisation.objects.order_by("slug"))
        results, problems = [], []
        for organisation in organisations:
            ledger = verify_ledger(organisation)
            numbering = verify_numbering(organisation)
            found = [{"organisation": organisation.slug, **p.as_dict()} for p in ledger.problems]
            found += [{"organisation": organisation.slug, "entry_id": None, **p.as_dict()}
                      for p in numbering.problems]
            problems += found
            results.append({"organisation": organisation.slug, "ok": not found, "entries": ledger.entries,
                            "lines": ledger.lines, "invoices": numbering.invoices, "series": numbering.series,
                            "problems": found})
        self.exit_code = 1 if problems else 0
        return {"ok": not problems, "organisations": results, "problems": problems}

    def show(self, answer: dict[str, Any]) -> None:
        for result in answer["organisations"]:
            verdict = _("OK") if result["ok"] else _("%(count)s problem(s)") % {"count": len(result["problems"])}
            self.stdout.write(_("%(organisation)s: %(entries)s entries, %(lines)s lines, %(invoices)s posted "
                                "invoices: %(verdict)s") % {**result, "verdict": verdict})
            for problem in result["problems"]:
                where = _(" (entry %(id)s)") % {"id": problem["entry_id"]} if problem.get("entry_id") else ""
                self.stdout.write(f"  {problem['code']}{where}: {problem['message']}")
