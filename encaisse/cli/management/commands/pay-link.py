"""encaisse pay-link NUMBER [--org SLUG] [--days N] [--json]: the address a customer pays an invoice or a deposit at."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from encaisse.invoicing.models import DepositRequest, Invoice
from encaisse.invoicing.selectors import amount_due, deposit_amount_due
from encaisse.payments.paylinks import pay_link, public_url


class Command(BaseCommand):
    help = "Print the pay link of a posted invoice or an issued deposit request (signed, expires after --days)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("number", help="the invoice or deposit request number, e.g. F-2026-00001, AC-2026-00001")
        parser.add_argument("--org", help="organisation slug, when several use the same number")
        parser.add_argument("--days", type=int, default=30, help="days before the link expires (default 30)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def _one(self, queryset: Any, org: str | None) -> Any:
        if org:
            queryset = queryset.filter(organisation__slug=org)
        found = list(queryset[:2])
        if len(found) > 1:
            raise CommandError("several organisations use this number: say which with --org")
        return found[0] if found else None

    def handle(self, *args: Any, **options: Any) -> None:
        number = options["number"]
        invoice = self._one(Invoice.objects.filter(number=number, status=Invoice.Status.POSTED,
                                                   kind=Invoice.Kind.INVOICE), options["org"])
        if invoice is not None:
            kind, record, due, line_id = "invoice", invoice, amount_due(invoice), invoice.receivable_line_id
        else:
            deposit = self._one(DepositRequest.objects.filter(number=number, status=DepositRequest.Status.ISSUED),
                                options["org"])
            if deposit is None:
                raise CommandError(f"no posted invoice or issued deposit request numbered {number}")
            kind, record, due, line_id = "deposit_request", deposit, deposit_amount_due(deposit), \
                deposit.receivable_line_id
        if due.minor <= 0:
            raise CommandError(f"{record.number} has nothing left to pay")
        path = pay_link(organisation_id=record.organisation_id, line_ids=[line_id], amount=due,
                        expires_in_days=options["days"])
        url = public_url(path)  # the payer opens it from an email: a full address
        if options["json"]:
            self.stdout.write(json.dumps({"invoice": record.number, "kind": kind, "amount_due": due.as_json(),
                                          "currency": due.currency, "path": path, "url": url,
                                          "expires_in_days": options["days"]}))
        else:
            self.stdout.write(f"{record.number}  {due}  {url}")
