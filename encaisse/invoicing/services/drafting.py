"""Drafts: create, fill, validate, send back to draft, cancel. Nothing here touches the ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction

from encaisse.core.audit import record_event
from encaisse.parties.models import Customer

from ..errors import EmptyInvoice, ForeignRecord, InvalidTransition, InvoiceNotEditable
from ..models import Invoice, InvoiceLine, InvoiceType, Product, VatRate

# Posted invoices are never edited or cancelled: a credit note corrects them.
INVOICE_TRANSITIONS: frozenset[tuple[str, str]] = frozenset({
    (Invoice.Status.DRAFT, Invoice.Status.VALIDATED),
    (Invoice.Status.VALIDATED, Invoice.Status.DRAFT),
    (Invoice.Status.VALIDATED, Invoice.Status.POSTED),
    (Invoice.Status.DRAFT, Invoice.Status.CANCELLED),
    (Invoice.Status.VALIDATED, Invoice.Status.CANCELLED),
})


def _move(invoice: Invoice, to: str, *, by: Any) -> Invoice:
    if (invoice.status, to) not in INVOICE_TRANSITIONS:
        raise InvalidTransition(invoice=invoice.display_name, **{
            "from": invoice.get_status_display(), "to": Invoice.Status(to).label})
    invoice.status = to
    invoice.save(update_fields=["status"])
    record_event(invoice, to, by=by)
    return invoice


@transaction.atomic
def create_draft(
    *, customer: Customer, invoice_type: InvoiceType, by: Any = None, issued_on: date | None = None,
    billing_period: date | None = None, customer_reference: str = "", notes: str = "",
) -> Invoice:
    """Open a draft invoice for a customer; it gets its number only when posted."""
    if customer.organisation_id != invoice_type.organisation_id:
        raise ForeignRecord(what=str(customer))
    invoice = Invoice.objects.create(
        organisation_id=customer.organisation_id,
        invoice_type=invoice_type,
        party=customer,
        currency=customer.organisation.currency,
        issued_on=issued_on,
        billing_period=billing_period,
        customer_reference=customer_reference,
        notes=notes,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    record_event(invoice, "created", by=by)
    return invoice


def _editable(invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status != Invoice.Status.DRAFT:
        raise InvoiceNotEditable(invoice=invoice.display_name, status=invoice.get_status_display())
    return invoice


@transaction.atomic
def add_line(
    *, invoice_id: int, by: Any = None, product: Product | None = None, label: str = "",
    quantity: Decimal | str | int = 1, unit_price: Decimal | str | None = None, vat_rate: VatRate | None = None,
    unit: str | None = None, source: str = InvoiceLine.Source.MANUAL,
) -> InvoiceLine:
    """Add a line from the catalogue (label, price, VAT and account from the product) or a free line."""
    invoice = _editable(invoice_id)
    if product is not None and product.organisation_id != invoice.organisation_id:
        raise ForeignRecord(what=str(product))
    if vat_rate is not None and vat_rate.organisation_id != invoice.organisation_id:
        raise ForeignRecord(what=str(vat_rate))
    if product is None and (vat_rate is None or unit_price is None or not label):
        raise ValueError("a free line needs a label, a unit price and a VAT rate")
    rate = vat_rate or product.vat_rate
    revenue_account = product.revenue_account if product else _default_revenue_account(invoice)
    position = invoice.lines.count() + 1
    line = InvoiceLine.objects.create(
        invoice=invoice, position=position, product=product,
        label=label or product.label,
        quantity=Decimal(quantity),
        unit=unit or (product.unit if product else "u"),
        unit_price=Decimal(unit_price) if unit_price is not None else product.unit_price,
        vat_rate=rate, revenue_account=revenue_account, source=source,
    )
    record_event(invoice, "line_added", by=by, data={"line": line.pk, "label": line.label})
    return line


def _default_revenue_account(invoice: Invoice):
    from encaisse.ledger.models import Account

    return Account.objects.filter(organisation_id=invoice.organisation_id, kind=Account.Kind.REVENUE).order_by(
        "code").first()


@transaction.atomic
def remove_line(*, line_id: int, by: Any = None) -> None:
    line = InvoiceLine.objects.select_related("invoice").get(pk=line_id)
    invoice = _editable(line.invoice_id)
    record_event(invoice, "line_removed", by=by, data={"line": line.pk, "label": line.label})
    line.delete()


@transaction.atomic
def validate_invoice(*, invoice_id: int, by: Any = None) -> Invoice:
    """Mark a draft as reviewed and ready to post. Validating a validated invoice changes nothing."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    if invoice.status == Invoice.Status.VALIDATED:
        return invoice
    if invoice.status == Invoice.Status.DRAFT and not invoice.lines.exists():
        raise EmptyInvoice(invoice=invoice.display_name)
    return _move(invoice, Invoice.Status.VALIDATED, by=by)


@transaction.atomic
def reopen_draft(*, invoice_id: int, by: Any = None) -> Invoice:
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    return _move(invoice, Invoice.Status.DRAFT, by=by)


@transaction.atomic
def cancel_invoice(*, invoice_id: int, by: Any = None) -> Invoice:
    """Cancel a draft or validated invoice. A posted one needs a credit note instead."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    return _move(invoice, Invoice.Status.CANCELLED, by=by)
