"""Reading invoices: amount due and the status people see, both derived from the ledger."""

from __future__ import annotations

from datetime import date

from django.db.models import BigIntegerField, Case, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from encaisse.core.money import Money
from encaisse.ledger.models import Settlement

from .models import Invoice

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
