"""encaisse post-invoices: validate and post the drafts of a scope, in batches, numbers gapless."""

from argparse import ArgumentParser
from typing import Any

from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand, UsageError, parse_month
from encaisse.invoicing.models import InvoiceType
from encaisse.invoicing.services import post_invoices
from encaisse.portal.delivery import email_posted_invoices


class Command(EncaisseCommand):
    help = _("Validate and post the draft and validated invoices of a period and type; report each failure.")
    takes_org = True

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--period", metavar="YYYY-MM", help=_("Only invoices of this month."))
        parser.add_argument("--type", metavar="CODE", help=_("Only invoices of this invoice type."))

    def run(self, **options: Any) -> dict[str, Any]:
        period = parse_month(options["period"]) if options.get("period") else None
        type_code = options.get("type")
        if type_code and not InvoiceType.objects.filter(organisation=self.organisation, code=type_code).exists():
            codes = InvoiceType.objects.filter(organisation=self.organisation).order_by("code")
            raise UsageError(_("Invoice type %(code)s does not exist. Choices: %(choices)s.") % {
                "code": type_code, "choices": ", ".join(codes.values_list("code", flat=True))})
        report = post_invoices(organisation=self.organisation, period=period, type_code=type_code)
        emailed = email_posted_invoices(organisation=self.organisation)  # customers who chose invoices by email
        return {"organisation": self.organisation.slug, **report.as_dict(), "failures": len(report.failed),
                "emailed": emailed}

    def show(self, answer: dict[str, Any]) -> None:
        self.stdout.write(_("%(validated)s validated, %(posted)s posted, %(failures)s refused.") % answer)
        if answer["numbers"]:
            numbers = answer["numbers"]
            span = numbers[0] if len(numbers) == 1 else f"{numbers[0]} … {numbers[-1]}"
            self.stdout.write(_("Numbers: %(span)s") % {"span": span})
        if answer["emailed"]:
            self.stdout.write(_("%(emailed)s emailed to customers who chose invoices by email.") % answer)
        for failure in answer["failed"]:
            self.stdout.write(_("  %(invoice)s: %(message)s") % failure)
