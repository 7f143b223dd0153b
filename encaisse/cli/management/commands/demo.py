"""encaisse demo: load the demo organisations (idempotent; `make run` calls it on every start)."""

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from encaisse.cli.base import EncaisseCommand
from encaisse.onboarding.demo import DEMO_SLUG, LOGINS, TOWN_SLUG, load_demo
from encaisse.parties.models import Organisation


class Command(EncaisseCommand):
    help = _("Load the demo organisations, customers and invoices, unless they are there; print the logins.")

    def run(self, **options: Any) -> dict[str, Any]:
        before = set(Organisation.objects.filter(slug__in=[DEMO_SLUG, TOWN_SLUG]).values_list("slug", flat=True))
        load_demo()
        organisations = Organisation.objects.filter(slug__in=[DEMO_SLUG, TOWN_SLUG]).order_by("slug")
        return {
            "organisations": [{"slug": o.slug, "name": o.name, "created": o.slug not in before}
                              for o in organisations],
            "created": len(before) < 2,
            "backoffice": "/backoffice/",
            "logins": [login.as_dict() for login in LOGINS],
        }

    def show(self, answer: dict[str, Any]) -> None:
        for org in answer["organisations"]:
            state = pgettext("demo load", "created") if org["created"] else _("already there")
            self.stdout.write(_("Demo organisation %(name)s (%(slug)s): %(state)s.") % {**org, "state": state})
        self.stdout.write(_("Back office at %(url)s; logins:") % {"url": answer["backoffice"]})
        for login in answer["logins"]:
            self.stdout.write("  {username} / {password}  ({organisation}, {role})".format(**login))
