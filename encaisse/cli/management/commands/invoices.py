"""encaisse invoices: list invoices, filtered by customer, displayed status and month."""

from argparse import ArgumentParser
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, parse_month
from encaisse.cli.invoices import invoice_rows
from encaisse.core.errors import NotFound
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import DISPLAY_STATUSES, display_status_label, filter_display_status, with_amounts
from encaisse.parties.models import Customer


class Command(EncaisseCommand):
    help = _("List invoices with their status, total and amount due.")
    takes_org = True

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--customer", metavar="REF", help=_("Only this customer's invoices."))
        parser.add_argument("--status", choices=list(DISPLAY_STATUSES), help=_("Only invoices in this status."))
        parser.add_argument("--period", metavar="YYYY-MM",
                            help=_("Only invoices of this month (billing period, else issue date)."))

    def run(self, **options: Any) -> dict[str, Any]:
        today = timezone.localdate()
        invoices = Invoice.objects.filter(organisation=self.organisation)
        if ref := options.get("customer"):
            customer = Customer.objects.filter(organisation=self.organisation, ref=ref).first()
            if customer is None:
                raise NotFound(what=_("Customer"), key=ref)
            invoices = invoices.filter(party=customer)
        if options.get("period"):
            month = parse_month(options["period"])
            # The same month as `post-invoices --period`: billing period, else issue date, else creation.
            invoices = invoices.filter(
                Q(billing_period__year=month.year, billing_period__month=month.month)
                | Q(billing_period__isnull=True, issued_on__year=month.year, issued_on__month=month.month)
                | Q(billing_period__isnull=True, issued_on__isnull=True, created_at__year=month.year,
                    created_at__month=month.month)
            )
        if status := options.get("status"):
            invoices = filter_display_status(with_amounts(invoices), status, today=today)
        rows = invoice_rows(invoices.order_by("pk"), today=today)
        return {"organisation": self.organisation.slug, "count": len(rows), "invoices": rows}

    def show(self, answer: dict[str, Any]) -> None:
        self.table(
            [_("Number"), _("Customer"), _("Type"), _("Status"), _("Issued"), _("Due"), _("Total"), _("Amount due")],
            [[row["number"] or f"#{row['id']}", row["customer"], row["type"], display_status_label(row["status"]),
              row["issued_on"], row["due_on"], row["total"], row["amount_due"]] for row in answer["invoices"]],
        )
        self.stdout.write(_("%(count)s invoice(s).") % answer)
