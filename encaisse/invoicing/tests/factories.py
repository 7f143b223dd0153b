"""Invoices ready to post, with their lines, for tests across apps."""

from datetime import date
from decimal import Decimal
from typing import Any

from encaisse.invoicing.models import Invoice, InvoiceLine, InvoiceType, VatRate
from encaisse.invoicing.services import post_invoice
from encaisse.parties.models import Customer, Organisation


def draft_invoice(
    org: Organisation, customer: Customer, *lines: tuple[str, str, str], status: str = Invoice.Status.DRAFT,
    issued_on: Any = None, vat_code: str = "FR20", **extra: Any,
) -> Invoice:
    """A draft (or validated) invoice with lines given as (label, quantity, unit price)."""
    invoice_type = InvoiceType.objects.get(organisation=org, code="STANDARD")
    rate = VatRate.objects.get(organisation=org, code=vat_code)
    revenue = org.accounts.get(code="706")
    invoice = Invoice.objects.create(organisation=org, invoice_type=invoice_type, party=customer,
                                     currency=org.currency, status=status, issued_on=issued_on, **extra)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=invoice, position=n, label=label, quantity=Decimal(qty), unit_price=Decimal(price),
                    vat_rate=rate, revenue_account=revenue)
        for n, (label, qty, price) in enumerate(lines or [("Service", "1", "100.00")], start=1)
    )
    return invoice


def posted_invoice(org: Organisation, customer: Customer, clerk: Any, price: str = "50.00") -> Invoice:
    """An invoice posted on 1 March 2026: one line at `price` excl. VAT, VAT 20 %, so `price` × 1.2 due (60.00)."""
    draft = draft_invoice(org, customer, ("Service", "1", price), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=draft.pk, by=clerk, today=date(2026, 3, 1))
