"""Reading invoices: amount due and the status people see, both derived from the ledger."""

from __future__ import annotations

from datetime import date

from django.db.models import BigIntegerField, Case, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import Money
from encaisse.ledger.models import Settlement
from encaisse.parties.models import Customer

from .models import DepositRequest, Invoice, Quote
from .totals import LineInput, Totals, compute_totals

DISPLAY_STATUSES = {
    "draft": _("Draft"),
    "validated": _("Validated"),
    "cancelled": _("Cancelled"),
    "to_pay": _("To pay"),
    "partially_paid": _("Partially paid"),
    "paid": _("Paid"),
    "credited": _("Credited"),
    "overdue": _("Overdue"),
    "credit_note": _("Credit note"),
}


def with_amounts(queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Annotate settled_minor, credited_minor and due_minor (0 for drafts), one query for any number of rows."""
    settled = (
        Settlement.objects.filter(debit_line=OuterRef("receivable_line"))
        .values("debit_line").annotate(s=Sum("amount_minor")).values("s")
    )
    credit_used = (
        Settlement.objects.filter(credit_line=OuterRef("receivable_line"))
        .values("credit_line").annotate(s=Sum("amount_minor")).values("s")
    )
    credited = (
        Invoice.objects.filter(credited_invoice=OuterRef("pk"), status=Invoice.Status.POSTED)
        .values("credited_invoice").annotate(s=Sum("total_minor")).values("s")
    )
    return queryset.annotate(
        settled_minor=Coalesce(Subquery(settled, output_field=BigIntegerField()), 0),
        credit_used_minor=Coalesce(Subquery(credit_used, output_field=BigIntegerField()), 0),
        credited_minor=Coalesce(-Subquery(credited, output_field=BigIntegerField()), 0),
    ).annotate(
        due_minor=Case(
            When(status=Invoice.Status.POSTED, kind=Invoice.Kind.INVOICE, then=F("total_minor") - F("settled_minor")),
            When(status=Invoice.Status.POSTED, kind=Invoice.Kind.CREDIT_NOTE,
                 then=F("total_minor") + F("credit_used_minor")),
            default=Value(0),
            output_field=BigIntegerField(),
        )
    )


def filter_display_status(queryset: QuerySet[Invoice], status: str, *, today: date) -> QuerySet[Invoice]:
    """Filter an annotated queryset (with_amounts) by the status people see."""
    posted_invoice = Q(status=Invoice.Status.POSTED, kind=Invoice.Kind.INVOICE)
    conditions = {
        "draft": Q(status=Invoice.Status.DRAFT),
        "validated": Q(status=Invoice.Status.VALIDATED),
        "cancelled": Q(status=Invoice.Status.CANCELLED),
        "credit_note": Q(kind=Invoice.Kind.CREDIT_NOTE, status=Invoice.Status.POSTED),
        "overdue": posted_invoice & Q(due_minor__gt=0, due_on__lt=today),
        "to_pay": posted_invoice & Q(due_minor__gt=0, settled_minor=0) & ~Q(due_on__lt=today),
        "partially_paid": posted_invoice & Q(due_minor__gt=0, settled_minor__gt=0) & ~Q(due_on__lt=today),
        "paid": posted_invoice & Q(due_minor__lte=0) & ~Q(credited_minor=F("total_minor")),
        "credited": posted_invoice & Q(due_minor__lte=0, credited_minor=F("total_minor")),
    }
    return queryset.filter(conditions[status])


def amount_due(invoice: Invoice) -> Money:
    """What the customer still owes on a posted invoice (or, for a credit note, the credit not yet used)."""
    if getattr(invoice, "due_minor", None) is not None:
        return Money(invoice.due_minor, invoice.currency)
    annotated = with_amounts(Invoice.objects.filter(pk=invoice.pk)).get()
    return Money(annotated.due_minor, invoice.currency)


def display_status(invoice: Invoice, *, today: date) -> str:
    """The status people see: lifecycle for drafts, the ledger's word for posted invoices."""
    if invoice.status != Invoice.Status.POSTED:
        return invoice.status
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return "credit_note"
    if not hasattr(invoice, "due_minor"):
        invoice = with_amounts(Invoice.objects.filter(pk=invoice.pk)).get()
    if invoice.due_minor <= 0:
        return "credited" if invoice.credited_minor == invoice.total_minor else "paid"
    if invoice.due_on and invoice.due_on < today:
        return "overdue"
    return "partially_paid" if invoice.settled_minor else "to_pay"


def display_status_label(code: str) -> str:
    return str(DISPLAY_STATUSES[code])


# --- quotes and deposit requests ------------------------------------------------------------------------------


def quote_totals(quote: Quote) -> Totals:
    """What the quote comes to: computed from its lines as posting would (frozen copies live on the quote)."""
    return compute_totals(
        (LineInput(quantity=line.quantity, unit_price=line.unit_price, vat_percent=line.vat_rate.percent,
                   vat_key=line.vat_rate_id, revenue_key=line.revenue_account_id)
         for line in quote.lines.select_related("vat_rate")),
        currency=quote.currency,
    )


def _settled_on(deposit: DepositRequest, *, by_payments_only: bool) -> int:
    settlements = Settlement.objects.filter(debit_line_id=deposit.receivable_line_id)
    if by_payments_only:
        closing = [pk for pk in (deposit.deduction_entry_id, deposit.cancel_entry_id) if pk]
        settlements = settlements.exclude(credit_line__entry_id__in=closing)
    return settlements.aggregate(s=Sum("amount_minor"))["s"] or 0


def deposit_paid(deposit: DepositRequest) -> Money:
    """What the customer paid on an issued deposit request (not what its deduction or cancellation closed)."""
    if deposit.receivable_line_id is None:
        return Money.zero(deposit.currency)
    return Money(_settled_on(deposit, by_payments_only=True), deposit.currency)


def deposit_amount_due(deposit: DepositRequest) -> Money:
    """What is still to pay on a deposit request: its receivable line minus what settled it; 0 unless issued.

    Once the final invoice deducted the request, or it was cancelled, its line
    is closed and nothing is due: a late payment becomes an advance (419).
    """
    if deposit.status != DepositRequest.Status.ISSUED or deposit.receivable_line_id is None:
        return Money.zero(deposit.currency)
    return Money(deposit.amount_minor - _settled_on(deposit, by_payments_only=False), deposit.currency)


DEPOSIT_STATUSES = {
    "draft": _("Draft"),
    "to_pay": _("To pay"),
    "partially_paid": _("Partially paid"),
    "paid": _("Paid"),
    "deducted": _("Deducted from the final invoice"),
    "cancelled": _("Cancelled"),
}


def deposit_display_status(deposit: DepositRequest) -> str:
    """The status people see, from the ledger: to pay, partially paid, paid, deducted."""
    if deposit.status != DepositRequest.Status.ISSUED:
        return deposit.status
    if deposit.deduction_entry_id:
        return "deducted"
    paid = deposit_paid(deposit).minor
    if paid >= deposit.amount_minor:
        return "paid"
    return "partially_paid" if paid else "to_pay"


def deposit_payable(deposit: DepositRequest) -> tuple[bool, str]:
    """May this deposit request be paid online now? (yes, "") or (no, the reason to show the payer).

    One request at a time: every earlier issued request of the same quote must
    be paid in full first, so a customer never pays the balance before the
    first instalment.
    """
    if deposit.status != DepositRequest.Status.ISSUED or deposit.deduction_entry_id:
        return False, str(_("This deposit request can no longer be paid online."))
    if deposit_amount_due(deposit).minor <= 0:
        return False, str(_("Nothing is left to pay on this deposit request."))
    earlier = (DepositRequest.objects.filter(quote_id=deposit.quote_id, status=DepositRequest.Status.ISSUED)
               .filter(Q(position__lt=deposit.position) | Q(position=deposit.position, pk__lt=deposit.pk))
               .order_by("position", "pk"))
    for other in earlier:
        if deposit_amount_due(other).minor > 0:
            return False, str(_("Deposit request %(number)s must be paid first.") % {"number": other.number})
    return True, ""


def deposit_of_lines(line_ids: list[int] | tuple[int, ...]) -> DepositRequest | None:
    """The deposit request whose receivable line is among these ledger lines, if any (for the pay page)."""
    return (DepositRequest.objects.filter(receivable_line_id__in=line_ids)
            .select_related("quote__invoice_type__regie").first())


# --- what a customer may see (portal): every read scoped to the viewer ------------------------------------------


def invoices_for(*, viewer: Customer) -> QuerySet[Invoice]:
    """The viewer's posted invoices and credit notes, with amounts (with_amounts), newest first.

    Drafts are the organisation's work in progress: a customer never sees them.
    """
    return with_amounts(
        Invoice.objects.filter(party=viewer, organisation_id=viewer.organisation_id, status=Invoice.Status.POSTED)
        .select_related("invoice_type__regie")
    ).order_by("-issued_on", "-pk")


def invoice_for(*, viewer: Customer, pk: int | str) -> Invoice:
    """One of the viewer's posted invoices; Invoice.DoesNotExist for anyone else's, a draft or no such id."""
    return invoices_for(viewer=viewer).get(pk=pk)


def deposit_requests_for(*, viewer: Customer) -> QuerySet[DepositRequest]:
    """The viewer's issued deposit requests (never drafts), newest first."""
    return (DepositRequest.objects.filter(quote__party=viewer, organisation_id=viewer.organisation_id,
                                          status=DepositRequest.Status.ISSUED)
            .select_related("quote").order_by("-issued_on", "-pk"))


def deposit_request_for(*, viewer: Customer, pk: int | str) -> DepositRequest:
    """One of the viewer's issued deposit requests; DepositRequest.DoesNotExist otherwise."""
    return deposit_requests_for(viewer=viewer).get(pk=pk)


def credit_notes_of(invoice: Invoice) -> QuerySet[Invoice]:
    """The posted credit notes that corrected this invoice."""
    return Invoice.objects.filter(credited_invoice=invoice, status=Invoice.Status.POSTED).order_by("issued_on", "pk")
