"""Invoices by email, wired to pay links: what the periodic task and the posting screens call.

The rules (who gets which invoice, once) live in invoicing.services.by_email;
invoicing may not import payments, nor payments invoicing (sibling layers),
so the pay link is plugged in here, in the first layer above both, for the
customers who chose invoices by email from this portal or through staff.
"""

from __future__ import annotations

from django.http import HttpRequest

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import by_email
from encaisse.parties.models import Organisation
from encaisse.payments.paylinks import pay_url


def email_posted_invoices(*, organisation: Organisation | None = None, limit: int = by_email.BATCH,
                          request: HttpRequest | None = None) -> int:
    """Email the posted invoices of customers who chose it, each with its pay link; how many were queued.

    `request` only makes the links use the address the staff member reached
    (paylinks.public_url's rule); without one, ENCAISSE_BASE_URL.
    """

    def pay_url_for(invoice: Invoice, due: Money) -> str | None:
        return pay_url(organisation_id=invoice.organisation_id, line_id=invoice.receivable_line_id, due=due,
                       request=request)

    return by_email.email_posted_invoices(pay_url_for=pay_url_for, organisation=organisation, limit=limit)
