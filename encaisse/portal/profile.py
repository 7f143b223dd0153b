"""What a customer may change about themselves from the portal, and the audit trail of it."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from encaisse.core.audit import record_event
from encaisse.invoicing.services.by_email import set_invoices_by_email
from encaisse.parties.models import Customer

# Contact details and language only: the name, reference, identifiers and payment terms are the organisation's.
PROFILE_FIELDS = ["email", "phone", "address_line1", "address_line2", "postcode", "city", "country", "language"]


@transaction.atomic
def update_profile(*, customer: Customer, changes: dict[str, Any], invoices_by_email: bool | None = None
                   ) -> list[str]:
    """Save the customer's new contact details; the names of the fields that changed (empty: nothing saved).

    The audit event lists which fields changed, not their values: the
    customer's record holds those, and the trail need not copy personal data.
    `invoices_by_email` (None: leave it) goes through set_invoices_by_email,
    which dates the choice and records its own event; it is decided after the
    new email address, in the same transaction: ticking it with no address
    refuses the whole form (NoEmailForInvoices) and saves nothing.
    """
    if set(changes) - set(PROFILE_FIELDS):
        raise ValueError(f"not editable from the portal: {sorted(set(changes) - set(PROFILE_FIELDS))}")
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    changed = [name for name, value in changes.items() if getattr(locked, name) != value]
    if changed:
        for name in changed:
            setattr(locked, name, changes[name])
            setattr(customer, name, changes[name])
        locked.full_clean(exclude=[f.name for f in Customer._meta.fields if f.name not in changed])
        locked.save(update_fields=changed)
        record_event(locked, "portal_profile_updated", data={"fields": changed, "customer_id": customer.pk})
    if invoices_by_email is not None and set_invoices_by_email(customer, enabled=invoices_by_email, by=None):
        changed.append("invoices_by_email")
    return changed
