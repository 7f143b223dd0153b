"""encaisse portal-link CUSTOMER_REF [--org SLUG] [--json]: a fresh one-time link to the customer's portal."""

from argparse import ArgumentParser
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from encaisse.cli.base import EncaisseCommand
from encaisse.core.errors import NotFound
from encaisse.parties.models import Customer
from encaisse.portal.auth import LINK_MINUTES, create_sign_in_link


class Command(EncaisseCommand):
    help = _("Print a one-time link that signs the customer in to the portal (valid 15 minutes, single use).")
    takes_org = True

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("ref", metavar="CUSTOMER_REF", help=_("The customer's reference, e.g. C001."))

    def run(self, **options: Any) -> dict[str, Any]:
        customer = Customer.objects.filter(organisation=self.organisation, ref=options["ref"]).first()
        if customer is None:
            raise NotFound(what=gettext_lazy("Customer"), key=options["ref"])
        # Links start with ENCAISSE_BASE_URL: the customer opens them from an email or a message.
        url = create_sign_in_link(customer, by=None)
        return {"organisation": self.organisation.slug, "customer": customer.ref, "name": customer.name,
                "url": url, "expires_in_minutes": LINK_MINUTES}

    def show(self, answer: dict[str, Any]) -> None:
        self.stdout.write(f"{answer['customer']}  {answer['name']}  {answer['url']}")
