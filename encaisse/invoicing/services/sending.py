"""Sending a posted invoice to its customer by email, with the address where it can be paid online.

The message is queued in the outbox in the same transaction as the audit
event that says it was sent, so both exist or neither does; the outbox
delivers it after commit. Invoicing does not know how pay links are made
(payments is a sibling layer): the caller passes the pay address.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.notifications.models import OutboxMessage
from encaisse.notifications.services import queue_email

from ..models import Invoice

TEMPLATE = "invoice_issued"


class InvoiceNotSendable(DomainError):
    code = "invoice_not_sendable"
    message = _("Invoice %(invoice)s cannot be sent: %(reason)s")


def sending_key(invoice: Invoice, *, now: Any = None) -> str:
    """The outbox idempotency key of a send: the invoice and the current minute.

    A double click, or the page sent again by the browser, falls in the same
    minute and finds the message already queued; a clerk who deliberately
    sends the invoice again later (the customer lost the mail) gets a new one.
    """
    moment = now or timezone.now()
    return f"invoice:{invoice.pk}:sent:{moment:%Y%m%d%H%M}"


def issued_key(invoice_id: int) -> str:
    """The outbox key of the one email a customer who chose invoices by email gets when the invoice is posted."""
    return f"invoice:{invoice_id}:issued"


@transaction.atomic
def send_invoice(invoice: Invoice, *, pay_url: str | None, by: Any, key: str | None = None) -> OutboxMessage:
    """Queue the invoice's email to its customer, with `pay_url` when something can be paid online.

    Refuses (InvoiceNotSendable, nothing written) an invoice that is not
    posted, and a customer without an email address. Repeated within the
    same minute, returns the message already queued and records nothing more.
    `key` replaces that per-minute key for a send that must happen once
    whenever it is asked (issued_key: the email sent when the invoice is posted).
    """
    invoice = Invoice.objects.select_related("party", "organisation").get(pk=invoice.pk)
    if invoice.status != Invoice.Status.POSTED:
        raise InvoiceNotSendable(invoice=invoice.display_name, reason=_("only a posted invoice is sent."))
    customer = invoice.party
    if not customer.email:
        raise InvoiceNotSendable(invoice=invoice.display_name,
                                 reason=_("the customer %(customer)s has no email address.")
                                 % {"customer": customer.name})
    key = key or sending_key(invoice)
    already = OutboxMessage.objects.filter(organisation=invoice.organisation, idempotency_key=key).first()
    if already is not None:
        return already
    message = queue_email(
        organisation=invoice.organisation, template_code=TEMPLATE, to=customer.email,
        cc=customer.emails[1:],  # the customer's other addresses are copied on every email
        context={"invoice_number": invoice.number, "amount": invoice.total, "due_date": invoice.due_on,
                 "customer_name": customer.name, "pay_url": pay_url or ""},
        language=customer.language or None, related=invoice, idempotency_key=key,
    )
    record_event(invoice, "invoice_sent", by=by, data={"to": customer.email, "outbox": message.pk,
                                                       "pay_link": bool(pay_url)})
    return message
