"""encaisse balances: every customer's balance, overdue amount and last payment."""

from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from encaisse.cli.base import EncaisseCommand
from encaisse.core.money import Money, money_sum
from encaisse.ledger.selectors import balances_overview


class Command(EncaisseCommand):
    help = _("List every customer's balance (positive: owes; negative: holds credit).")
    takes_org = True

    def run(self, **options: Any) -> dict[str, Any]:
        currency = self.organisation.currency
        rows = balances_overview(self.organisation, today=timezone.localdate())
        return {
            "organisation": self.organisation.slug, "currency": currency,
            "customers": [{"ref": r.ref, "name": r.name, "balance": r.balance, "overdue": r.overdue,
                           "last_payment_on": r.last_payment_on} for r in rows],
            "total": money_sum([r.balance for r in rows], currency),
            "overdue": money_sum([r.overdue for r in rows], currency),
        }

    def show(self, answer: dict[str, Any]) -> None:
        self.table([_("Ref"), _("Name"), _("Balance"), _("Overdue"), _("Last payment")],
                   [[c["ref"], c["name"], c["balance"], c["overdue"], c["last_payment_on"]]
                    for c in answer["customers"]])
        total: Money = answer["total"]
        self.stdout.write(_("Total %(total)s %(currency)s, of which overdue %(overdue)s.") % {
            "total": total.as_json(), "currency": answer["currency"], "overdue": answer["overdue"].as_json()})
