"""The collection holds in force on one invoice, for its back-office page (a block of its customer, its dispute)."""

from __future__ import annotations

from django import template

from encaisse.collection.models import CollectionHold
from encaisse.invoicing.models import Invoice

from ..admin.collection import holds_in_force_on

register = template.Library()


@register.simple_tag
def collection_holds(invoice: Invoice | None) -> list[CollectionHold]:
    """Why automatic collection leaves this invoice alone now; empty for an unsaved invoice or none in force.

    The invoice page is reached through the organisation-scoped admin, so the holds are the staff member's.
    """
    if invoice is None or invoice.pk is None:
        return []
    return holds_in_force_on(invoice)
