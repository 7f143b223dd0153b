"""Invoices by email: customers who chose it get each invoice, with its pay link, as soon as it is posted.

The choice is dated: only invoices posted at or after
`invoices_by_email_since` are sent, so ticking the box never sends a burst of
old invoices. Each invoice is sent once, whoever asks and however often: the
outbox key `invoice:<pk>:issued` is unique per organisation, and the invoice
row is locked (SKIP LOCKED) while one process sends it, so two runs at once
neither queue two emails nor record the sending twice.

Invoicing does not know how pay links are made (payments is a sibling
layer): the caller passes `pay_url_for`, which encaisse.portal.delivery
wires to payments.paylinks for the periodic task and the posting screens.

Credit notes are not sent: the invoice_issued email says "your invoice …
for <amount>, due on …", which would read wrong for a credit; staff can
still send one by hand from its page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer, Organisation

from ..models import Invoice
from ..selectors import with_amounts
from .sending import issued_key, send_invoice

logger = logging.getLogger(__name__)

BATCH = 200  # invoices sent per run; the periodic task takes the rest five minutes later

# (invoice, amount still due) → the full pay address, or None when nothing can be paid online.
PayUrlFor = Callable[[Invoice, Money], str | None]


class NoEmailForInvoices(DomainError):
    code = "no_email_for_invoices"
    message = _("%(customer)s has no email address: invoices cannot be sent by email. Add an address first.")


@transaction.atomic
def set_invoices_by_email(customer: Customer, *, enabled: bool, by: Any) -> bool:
    """Turn invoices by email on or off; True when something changed (and an audit event says so).

    Turning it on dates the choice (only invoices posted from then on are
    sent) and keeps the first date when it was already on. Turning it off
    clears the date, so invoices posted while it was off are not sent when it
    is turned on again. Refuses (NoEmailForInvoices, nothing changed) to turn
    it on for a customer without an email address.
    """
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
    if enabled and not locked.email:
        raise NoEmailForInvoices(customer=locked.name)
    if locked.invoices_by_email == enabled:
        return False
    locked.invoices_by_email = enabled
    locked.invoices_by_email_since = timezone.now() if enabled else None
    locked.save(update_fields=["invoices_by_email", "invoices_by_email_since"])
    customer.invoices_by_email = locked.invoices_by_email
    customer.invoices_by_email_since = locked.invoices_by_email_since
    since = locked.invoices_by_email_since
    record_event(locked, "invoices_by_email_on" if enabled else "invoices_by_email_off", by=by,
                 data={"since": since.isoformat() if since else None})
    return True


def _already_issued() -> Exists:
    key = Concat(Value("invoice:"), Cast(OuterRef("pk"), output_field=CharField()), Value(":issued"),
                 output_field=CharField())
    return Exists(OutboxMessage.objects.filter(organisation=OuterRef("organisation"), idempotency_key=key))


def invoices_to_email(*, organisation: Organisation | None = None) -> QuerySet[Invoice]:
    """Posted invoices of customers who chose email, posted since they chose it, not sent yet; with amounts."""
    invoices = Invoice.objects.filter(
        status=Invoice.Status.POSTED, kind=Invoice.Kind.INVOICE,
        party__invoices_by_email=True, party__invoices_by_email_since__isnull=False,
        posted_at__gte=F("party__invoices_by_email_since"),
    ).exclude(party__email="")
    if organisation is not None:
        invoices = invoices.filter(organisation=organisation)
    return with_amounts(invoices.filter(~_already_issued())).order_by("posted_at", "pk")


def email_posted_invoices(*, pay_url_for: PayUrlFor, organisation: Organisation | None = None,
                          limit: int = BATCH) -> int:
    """Queue the invoice_issued email of each invoice due to be sent (invoices_to_email); how many were queued.

    One query finds the invoices with their amounts due; each is then sent in
    its own transaction, so one refusal (an address the mail server would
    not take) is logged and leaves the others sent.
    """
    sent = 0
    for invoice in invoices_to_email(organisation=organisation)[:limit]:
        try:
            if _send_once(invoice, pay_url_for):
                sent += 1
        except DomainError as error:
            logger.warning("Invoice %s was not emailed: %s", invoice.pk, error)
    return sent


@transaction.atomic
def _send_once(invoice: Invoice, pay_url_for: PayUrlFor) -> bool:
    # Another process sending this invoice holds its row: it is theirs. Once they commit, the key is there.
    if not list(Invoice.objects.select_for_update(skip_locked=True).filter(pk=invoice.pk).values_list("pk")):
        return False
    key = issued_key(invoice.pk)
    if OutboxMessage.objects.filter(organisation_id=invoice.organisation_id, idempotency_key=key).exists():
        return False
    link = pay_url_for(invoice, Money(invoice.due_minor, invoice.currency))
    send_invoice(invoice, pay_url=link, by=None, key=key)
    return True
