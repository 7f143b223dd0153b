"""Credit notes: the only way to correct a posted invoice.

A credit note is an invoice of kind credit_note whose lines mirror (some of)
the original's with negative quantities. It is posted through the same path
as any invoice, so it gets its own gapless number and entry, and then settles
what is still due on the original.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Sum

from encaisse.core.audit import record_event

from ..errors import CreditNoteRefused
from ..models import Invoice, InvoiceLine
from .posting import post_invoice


@dataclass(frozen=True, slots=True)
class CreditLine:
    line_id: int
    quantity: Decimal


def credited_quantities(invoice: Invoice) -> dict[int, Decimal]:
    """Quantity already credited per original line, counting posted credit notes only."""
    rows = (
        InvoiceLine.objects.filter(invoice__credited_invoice=invoice, invoice__status=Invoice.Status.POSTED)
        .values("credited_line").annotate(q=Sum("quantity"))
    )
    return {row["credited_line"]: -Decimal(row["q"]) for row in rows}


@transaction.atomic
def issue_credit_note(
    *, invoice_id: int, lines: Sequence[CreditLine] | None = None, reason: str = "", by: Any = None,
    today: date | None = None,
) -> Invoice:
    """Issue and post a credit note for all of an invoice (lines=None) or for given quantities of lines.

    Refuses a credit note for an invoice that is not posted, for a line of
    another invoice, or for more than is left to credit on a line.
    """
    original = Invoice.objects.select_for_update(of=("self",)).select_related("invoice_type").get(pk=invoice_id)
    if original.kind != Invoice.Kind.INVOICE or original.status != Invoice.Status.POSTED:
        raise CreditNoteRefused(invoice=original.display_name, reason="only a posted invoice can be credited")
    already = credited_quantities(original)
    originals = {line.pk: line for line in original.lines.all()}
    if lines is None:
        wanted = [CreditLine(pk, line.quantity - already.get(pk, Decimal(0))) for pk, line in originals.items()]
        wanted = [w for w in wanted if w.quantity > 0]
        if not wanted:
            raise CreditNoteRefused(invoice=original.display_name, reason="it is already fully credited")
    else:
        wanted = list(lines)
        if not wanted:
            raise CreditNoteRefused(invoice=original.display_name, reason="no line was chosen")
    for item in wanted:
        line = originals.get(item.line_id)
        if line is None:
            raise CreditNoteRefused(invoice=original.display_name, reason=f"line {item.line_id} is not on it")
        left = line.quantity - already.get(line.pk, Decimal(0))
        if item.quantity <= 0 or item.quantity > left:
            raise CreditNoteRefused(
                invoice=original.display_name,
                reason=f"“{line.label}”: {item.quantity} asked, {left} left to credit",
            )
    credit_note = Invoice.objects.create(
        organisation_id=original.organisation_id, invoice_type=original.invoice_type, party_id=original.party_id,
        kind=Invoice.Kind.CREDIT_NOTE, status=Invoice.Status.VALIDATED, currency=original.currency,
        credited_invoice=original, issued_on=today, notes=reason,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=credit_note, position=n, product_id=originals[item.line_id].product_id,
            label=originals[item.line_id].label, quantity=-item.quantity, unit=originals[item.line_id].unit,
            unit_price=originals[item.line_id].unit_price, vat_rate_id=originals[item.line_id].vat_rate_id,
            revenue_account_id=originals[item.line_id].revenue_account_id, source=InvoiceLine.Source.CREDIT,
            credited_line_id=item.line_id,
        )
        for n, item in enumerate(wanted, start=1)
    )
    record_event(credit_note, "created", by=by, data={"credits": original.number, "reason": reason})
    posted = post_invoice(invoice_id=credit_note.pk, by=by, today=today)
    record_event(original, "credited", by=by, data={"credit_note": posted.number, "reason": reason})
    return posted
