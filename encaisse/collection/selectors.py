"""Reading what collection works on: the invoices still due, the open collections, the policies, the runs.

Every function here answers for a whole organisation (or a shard of its
customers) in a constant number of queries, whatever the number of
invoices: a run over 100,000 invoices must not ask the database about each.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.functions import Mod

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import with_amounts
from encaisse.parties.models import Organisation
from encaisse.sepa.models import CreditorAccount

from .models import Collection, CollectionPolicy, CollectionRun

Shard = tuple[int, int] | None


def _in_shard(queryset: QuerySet, field: str, shard: Shard) -> QuerySet:
    """Only the rows whose customer (`field`, a customer id) falls in shard (k, n): id % n == k."""
    if shard is None:
        return queryset
    k, n = shard
    return queryset.annotate(_shard=Mod(field, n)).filter(_shard=k)


def invoices_due(organisation: Organisation, *, shard: Shard = None) -> QuerySet[Invoice]:
    """Posted invoices with something still owed on their receivable line (due_minor, derived from the ledger)."""
    invoices = Invoice.objects.filter(organisation=organisation, status=Invoice.Status.POSTED,
                                      kind=Invoice.Kind.INVOICE, receivable_line__isnull=False)
    invoices = _in_shard(invoices, "party_id", shard)
    return (with_amounts(invoices).filter(due_minor__gt=0)
            .select_related("party", "invoice_type", "receivable_line").order_by("pk"))


def open_collections(organisation: Organisation, *, shard: Shard = None) -> QuerySet[Collection]:
    """The organisation's collections in flight or waiting for a retry (at most one per receivable line)."""
    return _in_shard(Collection.objects.filter(organisation=organisation, status__in=Collection.OPEN),
                     "customer_id", shard)


def failed_lines(organisation: Organisation, *, shard: Shard = None) -> set[int]:
    """Receivable lines whose automatic collection used every try: left to the pay link and to people."""
    failed = Collection.objects.filter(organisation=organisation, status=Collection.Status.FAILED)
    return set(_in_shard(failed, "customer_id", shard).values_list("line_id", flat=True))


def policies(organisation: Organisation) -> tuple[CollectionPolicy, dict[int, CollectionPolicy]]:
    """The organisation's default policy (saved, or the built-in one unsaved) and its per-invoice-type policies."""
    rows = list(CollectionPolicy.objects.filter(organisation=organisation).select_related("organisation"))
    default = next((p for p in rows if p.invoice_type_id is None), None)
    if default is None:
        default = CollectionPolicy(organisation=organisation)
    return default, {p.invoice_type_id: p for p in rows if p.invoice_type_id is not None}


def active_creditor_account(organisation: Organisation) -> CreditorAccount | None:
    """The bank account direct debits are collected to (one active per organisation, a database constraint)."""
    return CreditorAccount.objects.filter(organisation=organisation, active=True).first()


def runs_of(organisation: Organisation) -> QuerySet[CollectionRun]:
    """The organisation's collection runs, newest first."""
    return CollectionRun.objects.filter(organisation=organisation).order_by("-started_at")


def collections_of(invoice: Invoice) -> QuerySet[Collection]:
    """Every collection of one invoice, newest first, with its last card attempt and direct debit."""
    return (Collection.objects.filter(invoice=invoice).select_related("attempt", "direct_debit")
            .order_by("-created_at", "-pk"))


__all__ = ["active_creditor_account", "collections_of", "failed_lines", "invoices_due", "open_collections",
           "policies", "runs_of"]
