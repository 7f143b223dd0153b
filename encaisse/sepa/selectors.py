"""What a customer may see of their own SEPA mandates, scoped with `viewer=` (kept cards: payments.selectors)."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from encaisse.parties.models import Customer

from .models import DirectDebit, Mandate


def mandates_for(*, viewer: Customer) -> QuerySet[Mandate]:
    return Mandate.objects.filter(customer=viewer, organisation_id=viewer.organisation_id).order_by("-signed_on",
                                                                                                     "-pk")


def debits_scheduled_for(*, viewer: Customer) -> dict[int, date]:
    """The viewer's receivable lines with a direct debit announced but not yet sent, and its collection date.

    The portal says so next to the invoice, so the customer does not pay by
    hand what the bank is about to take (if they do, the debit is cancelled
    when the file is written).
    """
    return dict(DirectDebit.objects.filter(customer=viewer, organisation_id=viewer.organisation_id,
                                           status=DirectDebit.Status.SCHEDULED)
                .values_list("line_id", "collection_date"))
