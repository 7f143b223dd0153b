"""What a customer may see of their own methods for automatic collection: saved cards and SEPA mandates.

Both kinds are read here, scoped with `viewer=`, because the portal shows them
together as "payment methods"; an id of another customer's record finds nothing.
"""

from __future__ import annotations

from django.db.models import QuerySet

from encaisse.parties.models import Customer
from encaisse.payments.models import SavedMethod

from .models import Mandate


def saved_methods_for(*, viewer: Customer) -> QuerySet[SavedMethod]:
    return SavedMethod.objects.filter(customer=viewer, organisation_id=viewer.organisation_id)


def mandates_for(*, viewer: Customer) -> QuerySet[Mandate]:
    return Mandate.objects.filter(customer=viewer, organisation_id=viewer.organisation_id).order_by("-signed_on",
                                                                                                     "-pk")
