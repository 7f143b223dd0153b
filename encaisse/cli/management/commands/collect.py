"""encaisse collect: run automatic collection of one organisation's due invoices now, or see what it would do."""

from argparse import ArgumentParser
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, UsageError, parse_day
from encaisse.collection.models import CollectionRun, RunItem
from encaisse.collection.services import run_collection


def parse_shard(value: str) -> tuple[int, int]:
    """Read --shard K/N (this worker takes the customers whose id % N == K)."""
    try:
        k, n = (int(part) for part in value.split("/"))
    except ValueError as error:
        raise UsageError(_("%(value)s is not a shard: use K/N, e.g. 0/4.") % {"value": value}) from error
    if n < 1 or not 0 <= k < n:
        raise UsageError(_("%(value)s is not a shard: K must be between 0 and N-1.") % {"value": value})
    return k, n


def item_json(item: RunItem) -> dict[str, Any]:
    return {"invoice": item.invoice.number, "customer": item.invoice.party.ref, "amount": item.amount,
            "method": item.method, "outcome": item.outcome, "reason": item.reason, "code": item.code,
            "message": item.message}


class Command(EncaisseCommand):
    help = _("Collect the due invoices (saved cards charged, direct debits scheduled) and list each one's result.")
    takes_org = True

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--on", metavar="YYYY-MM-DD", help=_("The collection day (default: today)."))
        parser.add_argument("--dry-run", action="store_true", help=_("Say what would be done; change nothing."))
        parser.add_argument("--shard", metavar="K/N", help=_("Only customers whose id %% N is K (several workers)."))

    def run(self, **options: Any) -> dict[str, Any]:
        on = parse_day(options["on"]) if options.get("on") else timezone.localdate()
        shard = parse_shard(options["shard"]) if options.get("shard") else None
        run = run_collection(organisation=self.organisation, on=on, dry_run=bool(options.get("dry_run")),
                             trigger=CollectionRun.Trigger.CLI, shard=shard)
        if run.status == CollectionRun.Status.FAILED:
            self.exit_code = 1
        return {"organisation": self.organisation.slug, "run": str(run.pk) if not run.dry_run else None,
                "on": on, "dry_run": run.dry_run, "status": run.status, "error": run.error, "counts": run.counts,
                "items": [item_json(item) for item in run.item_list]}

    def show(self, answer: dict[str, Any]) -> None:
        if answer["dry_run"]:
            self.stdout.write(_("Dry run: nothing was charged, batched or recorded."))
        rows = [[i["invoice"], i["customer"], i["amount"], i["method"], i["outcome"],
                 i["reason"] or i["code"], i["message"]] for i in answer["items"]]
        self.table([_("Invoice"), _("Customer"), _("Amount"), _("Method"), _("Result"), _("Reason"), _("Message")],
                   rows)
        counts = ", ".join(f"{outcome}: {n}" for outcome, n in sorted(answer["counts"].items())) or _("nothing to do")
        self.stdout.write(_("%(count)s invoices considered (%(counts)s).") % {"count": len(answer["items"]),
                                                                          "counts": counts})
        if answer["error"]:
            self.stderr.write(_("The run stopped: %(error)s") % {"error": answer["error"]})
