"""What a customer may see of their own SEPA mandates, scoped with `viewer=` (kept cards: payments.selectors)."""

from __future__ import annotations

from django.db.models import QuerySet

from encaisse.parties.models import Customer

from .models import Mandate


def mandates_for(*, viewer: Customer) -> QuerySet[Mandate]:
    return Mandate.objects.filter(customer=viewer, organisation_id=viewer.organisation_id).order_by("-signed_on",
                                                                                                     "-pk")
