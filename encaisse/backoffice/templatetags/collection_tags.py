"""The automatic-collection story of one invoice, for its back-office page (collections, tries, bank answers)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Q

from encaisse.collection.holds import holds_on
from encaisse.collection.models import Collection, CollectionHold
from encaisse.invoicing.models import Invoice
from encaisse.sepa.models import DirectDebit

from ..admin.collection import attempts_of, r_rows

register = template.Library()


@register.simple_tag
def collection_story(invoice: Invoice | None) -> dict[str, Any]:
    """Everything automatic collection did for the invoice, oldest first; `any` is False when it did nothing.

    The invoice page is reached through the organisation-scoped admin, so its rows are the staff member's.
    """
    if invoice is None or invoice.pk is None:
        return {"any": False}
    collections = list(Collection.objects.filter(invoice=invoice).order_by("created_at"))
    lines = Q(invoice=invoice) | Q(line_id=invoice.receivable_line_id) if invoice.receivable_line_id \
        else Q(invoice=invoice)
    debits = list(DirectDebit.objects.filter(lines).select_related("file").order_by("created_at"))
    return {
        "any": bool(collections or debits),
        "collections": collections,
        "attempts": list(attempts_of(*collections)) if collections else [],
        "debits": debits,
        "rtransactions": r_rows(debits),
    }


@register.simple_tag
def collection_holds(invoice: Invoice | None) -> list[CollectionHold]:
    """Why automatic collection leaves this invoice alone now (its customer's block, its dispute); [] when nothing
    does. Scoped like collection_story, by the admin that shows the page."""
    if invoice is None or invoice.pk is None:
        return []
    return holds_on(customer_id=invoice.party_id, invoice_id=invoice.pk)
