"""encaisse create-org: an organisation ready to invoice, from the command line."""

from argparse import ArgumentParser
from typing import Any

from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand
from encaisse.invoicing.models import InvoiceType
from encaisse.onboarding.organisations import create_organisation


class Command(EncaisseCommand):
    help = _("Create an organisation with its chart of accounts, journals and a default invoice type.")

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True, help=_("Short name used in URLs and by --org."))
        parser.add_argument("--currency", default="EUR", help=_("ISO 4217 code (default EUR)."))
        parser.add_argument("--siren", default="")
        parser.add_argument("--vat", default="", help=_("Intra-EU VAT number."))
        parser.add_argument("--creditor-id", default="", help=_("SEPA creditor identifier (ICS)."))
        parser.add_argument("--language", default="fr", choices=["fr", "en"])

    def run(self, **options: Any) -> dict[str, Any]:
        organisation = create_organisation(
            name=options["name"], slug=options["slug"], currency=options["currency"], siren=options["siren"],
            vat_number=options["vat"], creditor_id=options["creditor_id"], language=options["language"],
        )
        return {
            "organisation": {
                "id": organisation.pk, "slug": organisation.slug, "name": organisation.name,
                "currency": organisation.currency, "siren": organisation.siren,
                "vat_number": organisation.vat_number, "creditor_id": organisation.creditor_id,
                "language": organisation.language,
            },
            "accounts": organisation.accounts.count(),
            "journals": organisation.journals.count(),
            "invoice_types": list(InvoiceType.objects.filter(organisation=organisation).order_by("code")
                                  .values_list("code", flat=True)),
        }

    def show(self, answer: dict[str, Any]) -> None:
        org = answer["organisation"]
        self.stdout.write(_("Organisation %(name)s (%(slug)s) created in %(currency)s.") % org)
        self.stdout.write(_("%(accounts)s accounts, %(journals)s journals, invoice types: %(types)s.") % {
            **answer, "types": ", ".join(answer["invoice_types"])})
