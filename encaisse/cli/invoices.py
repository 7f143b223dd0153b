"""Invoices as the CLI shows them: one dict per invoice, amounts as Money, read through the selectors."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice, InvoiceLine
from encaisse.invoicing.selectors import amount_due, display_status, with_amounts
from encaisse.invoicing.totals import LineInput, compute_totals
from encaisse.ledger.models import Settlement


def plain(value: Decimal, *, places: int = 0) -> str:
    """A decimal without trailing zeros beyond `places` ("3", "4.50", "0.125")."""
    normal = value.normalize()
    if -normal.as_tuple().exponent < places:
        normal = value.quantize(Decimal(1).scaleb(-places))
    return format(normal, "f")


def _draft_totals(invoices: Iterable[Invoice]) -> dict[int, Any]:
    """Totals of invoices not posted yet, computed as posting would (posted ones carry theirs)."""
    ids = [i.pk for i in invoices if i.total_minor is None]
    lines: dict[int, list[InvoiceLine]] = defaultdict(list)
    for line in InvoiceLine.objects.filter(invoice_id__in=ids).select_related("vat_rate").order_by("position", "pk"):
        lines[line.invoice_id].append(line)
    currency = {i.pk: i.currency for i in invoices}
    return {
        pk: compute_totals((LineInput(quantity=ln.quantity, unit_price=ln.unit_price, vat_percent=ln.vat_rate.percent,
                                      vat_key=ln.vat_rate_id, revenue_key=ln.revenue_account_id)
                            for ln in lines[pk]), currency=currency[pk])
        for pk in ids
    }


def invoice_rows(queryset: QuerySet[Invoice], *, today: date) -> list[dict[str, Any]]:
    invoices = list(with_amounts(queryset).select_related("party", "invoice_type"))
    drafts = _draft_totals(invoices)
    rows = []
    for invoice in invoices:
        totals = drafts.get(invoice.pk)
        rows.append({
            "id": invoice.pk, "number": invoice.number, "customer": invoice.party.ref,
            "customer_name": invoice.party.name, "type": invoice.invoice_type.code, "kind": invoice.kind,
            "status": display_status(invoice, today=today), "issued_on": invoice.issued_on,
            "due_on": invoice.due_on,
            "total": invoice.total if totals is None else totals.total,
            "amount_due": Money(invoice.due_minor, invoice.currency), "currency": invoice.currency,
        })
    return rows


def invoice_detail(invoice: Invoice, *, today: date) -> dict[str, Any]:
    """Everything a script needs about one invoice, including what settled it (payments, credit notes)."""
    lines = list(invoice.lines.select_related("vat_rate").order_by("position", "pk"))
    if invoice.total_minor is None:
        totals = _draft_totals([invoice]).get(invoice.pk)
        net, vat, total = totals.net, totals.vat, totals.total
        nets = list(totals.line_nets)
    else:
        net, vat, total = invoice.net, invoice.vat, invoice.total
        nets = [Money(line.net_minor or 0, invoice.currency) for line in lines]
    detail: dict[str, Any] = {
        "id": invoice.pk, "number": invoice.number, "kind": invoice.kind,
        "customer": invoice.party.ref, "customer_name": invoice.party.name,
        "type": invoice.invoice_type.code, "status": display_status(invoice, today=today),
        "issued_on": invoice.issued_on, "due_on": invoice.due_on, "billing_period": invoice.billing_period,
        "currency": invoice.currency,
        "lines": [
            {"label": line.label, "quantity": plain(line.quantity), "unit": line.unit,
             "unit_price": plain(line.unit_price, places=2), "vat_rate": plain(line.vat_rate.percent),
             "net": line_net}
            for line, line_net in zip(lines, nets, strict=True)
        ],
        "net": net, "vat": vat, "total": total,
        "amount_due": amount_due(invoice) if invoice.is_posted else Money.zero(invoice.currency),
        "payments": [], "credit_notes": [],
    }
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        detail["credited_invoice"] = invoice.credited_invoice.number if invoice.credited_invoice else None
    if invoice.receivable_line_id is None:
        return detail
    settlements = list(
        Settlement.objects.filter(debit_line_id=invoice.receivable_line_id)
        .select_related("credit_line__entry__journal").order_by("credit_line__entry__date", "pk")
    )
    credit_notes = dict(Invoice.objects.filter(
        entry_id__in=[s.credit_line.entry_id for s in settlements], kind=Invoice.Kind.CREDIT_NOTE,
    ).values_list("entry_id", "number"))
    for settlement in settlements:
        entry = settlement.credit_line.entry
        if entry.pk in credit_notes:
            detail["credit_notes"].append({"number": credit_notes[entry.pk], "date": entry.date,
                                           "amount": settlement.amount})
        else:
            detail["payments"].append({"date": entry.date, "journal": entry.journal.code, "label": entry.label,
                                       "amount": settlement.amount})
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        applied = Settlement.objects.filter(credit_line_id=invoice.receivable_line_id).select_related(
            "debit_line__invoice").order_by("pk")
        detail["applied_to"] = [
            {"number": getattr(getattr(s.debit_line, "invoice", None), "number", None),
             "label": s.debit_line.label, "amount": s.amount}
            for s in applied
        ]
    return detail
