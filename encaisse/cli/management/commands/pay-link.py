"""encaisse pay-link INVOICE_NUMBER [--org SLUG] [--days N] [--json]: the address a customer pays an invoice at."""

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.ledger.models import Account
from encaisse.payments.paylinks import pay_link


class Command(BaseCommand):
    help = "Print the pay link of a posted invoice (signed, expires after --days)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("number", help="the invoice number, e.g. F-2026-00001")
        parser.add_argument("--org", help="organisation slug, when several use the same number")
        parser.add_argument("--days", type=int, default=30, help="days before the link expires (default 30)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        invoices = Invoice.objects.filter(number=options["number"], status=Invoice.Status.POSTED,
                                          kind=Invoice.Kind.INVOICE).select_related("organisation", "entry")
        if options["org"]:
            invoices = invoices.filter(organisation__slug=options["org"])
        found = list(invoices[:2])
        if not found:
            raise CommandError(f"no posted invoice numbered {options['number']}")
        if len(found) > 1:
            raise CommandError("several organisations use this number: say which with --org")
        invoice = found[0]
        due = amount_due(invoice)
        if due.minor <= 0:
            raise CommandError(f"invoice {invoice.number} has nothing left to pay")
        line = invoice.entry.lines.get(account__kind=Account.Kind.RECEIVABLE)
        path = pay_link(organisation_id=invoice.organisation_id, line_ids=[line.pk], amount=due,
                        expires_in_days=options["days"])
        url = settings.ENCAISSE_BASE_URL.rstrip("/") + path  # the payer opens it from an email: a full address
        if options["json"]:
            self.stdout.write(json.dumps({"invoice": invoice.number, "amount_due": due.as_json(),
                                          "currency": due.currency, "path": path, "url": url,
                                          "expires_in_days": options["days"]}))
        else:
            self.stdout.write(f"{invoice.number}  {due}  {url}")
