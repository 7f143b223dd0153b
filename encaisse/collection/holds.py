"""Collection holds: staff stop automatic collection for a customer (blocked) or for one invoice (disputed).

A hold is placed with its reason and lifted later; it is never edited or
deleted, so it stays as the record of why an invoice was not collected, who
decided it and who lifted it. While a hold is in force a collection run lists
the invoice as skipped (SkipReason.CUSTOMER_BLOCKED or DISPUTED) with the
hold's reason as the line's message, and writes no collection or debit for it.

What a run guarantees: once a hold has committed (block_customer,
dispute_invoice), no run claims the held invoices, including a run that
started before and read the holds already. A run reads every hold in force
when it starts (`holds_in_force`: a dict lookup per invoice skips most),
then looks again inside each claim's transaction, after `lock_customers`:
the card claim of one invoice, the card retry, a chunk of direct debits
(one more query per chunk), a reject or return of the invoice's debit.
Placing a hold locks the customer's row (FOR UPDATE) and a claim holds it
with FOR KEY SHARE, so the two are in single file on PostgreSQL: either the
hold commits first and the claim sees it, or the hold waits until the claim
has committed. On SQLite every write transaction is in single file already.
A hold does not recall what a run claimed before it committed: a card
charge claimed or in flight, a direct debit scheduled follows its course.

The database keeps at most one hold in force per customer (block) and per
invoice (dispute): two clerks blocking the same customer at once get one hold,
and the second is refused like a double click. Lifting is a conditional
UPDATE: the second lift of the same hold changes nothing and is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.invoicing.models import Invoice
from encaisse.parties.models import Customer, Organisation

from .models import CollectionHold, HoldKind

MAX_REASON = CollectionHold._meta.get_field("reason").max_length


class HoldRefused(DomainError):
    code = "collection_hold_refused"
    message = _("The collection hold was refused.")


def _user(by: Any) -> Any:
    return by if getattr(by, "is_authenticated", False) else None


def _reason(reason: str) -> str:
    text = " ".join((reason or "").split())  # one line: it is repeated as a run line's message
    if not text:
        raise HoldRefused(_("Give the reason for the hold: it is shown on every invoice the runs skip."))
    if len(text) > MAX_REASON:
        raise HoldRefused(_("The reason is too long: at most %(max)s characters."), max=MAX_REASON)
    return text


def check_block(*, organisation: Organisation, customer: Customer) -> None:
    """Raise HoldRefused if `customer` cannot be blocked now (another organisation's, already blocked)."""
    if customer.organisation_id != organisation.pk:
        raise HoldRefused(_("%(customer)s is a customer of another organisation."), customer=str(customer))
    if CollectionHold.objects.filter(customer=customer, kind=HoldKind.CUSTOMER_BLOCKED,
                                     lifted_at__isnull=True).exists():
        raise _already_blocked(customer)


def check_dispute(*, organisation: Organisation, invoice: Invoice) -> None:
    """Raise HoldRefused if `invoice` cannot be disputed now: another organisation's, not a posted invoice (a
    draft or a cancelled one is not collected, a credit note is owed to the customer), already disputed."""
    if invoice.organisation_id != organisation.pk:
        raise HoldRefused(_("Invoice %(invoice)s belongs to another organisation."), invoice=invoice.display_name)
    if invoice.kind != Invoice.Kind.INVOICE:
        raise HoldRefused(_("%(invoice)s is a credit note: only an invoice can be disputed."),
                          invoice=invoice.display_name)
    if invoice.status != Invoice.Status.POSTED:
        raise HoldRefused(_("Only a posted invoice can be disputed; %(invoice)s is %(status)s."),
                          invoice=invoice.display_name, status=invoice.get_status_display())
    if CollectionHold.objects.filter(invoice=invoice, kind=HoldKind.DISPUTED, lifted_at__isnull=True).exists():
        raise _already_disputed(invoice)


def _already_blocked(customer: Customer) -> HoldRefused:
    return HoldRefused(_("%(customer)s is already blocked: lift that hold first."), customer=str(customer))


def _already_disputed(invoice: Invoice) -> HoldRefused:
    return HoldRefused(_("Invoice %(invoice)s is already disputed."), invoice=invoice.display_name)


@transaction.atomic
def block_customer(*, organisation: Organisation, customer: Customer, reason: str, by: Any) -> CollectionHold:
    """Stop automatic collection of every invoice of `customer` until the hold is lifted; return the hold.

    Refused (HoldRefused, nothing written) without a reason, for another
    organisation's customer, or while the customer is already blocked — also
    when another clerk blocked them a moment before (the customer's row lock
    puts them in single file; the database's index is the backstop). Waits
    for a run's claim of the customer's invoices under way to commit.
    """
    text = _reason(reason)
    _lock_for_hold(customer.pk)
    check_block(organisation=organisation, customer=customer)
    try:
        with transaction.atomic():  # savepoint: losing the race undoes only the insert
            hold = CollectionHold.objects.create(organisation=organisation, kind=HoldKind.CUSTOMER_BLOCKED,
                                                 customer=customer, reason=text, created_by=_user(by))
    except IntegrityError:
        raise _already_blocked(customer) from None
    _record(hold, customer, "collection_held", by=by)
    return hold


@transaction.atomic
def dispute_invoice(*, organisation: Organisation, invoice: Invoice, reason: str, by: Any) -> CollectionHold:
    """Stop automatic collection of one posted invoice until the hold is lifted; return the hold.

    The customer's other invoices are collected as usual. Refused
    (HoldRefused, nothing written) without a reason, for another
    organisation's invoice, a draft, validated or cancelled invoice, a credit
    note, or an invoice already disputed. Waits for a run's claim of the
    customer's invoices under way to commit.
    """
    text = _reason(reason)
    _lock_for_hold(invoice.party_id)
    check_dispute(organisation=organisation, invoice=invoice)
    try:
        with transaction.atomic():
            hold = CollectionHold.objects.create(organisation=organisation, kind=HoldKind.DISPUTED,
                                                 customer_id=invoice.party_id, invoice=invoice, reason=text,
                                                 created_by=_user(by))
    except IntegrityError:
        raise _already_disputed(invoice) from None
    _record(hold, invoice, "collection_held", by=by)
    return hold


@transaction.atomic
def lift_hold(*, hold: CollectionHold, by: Any) -> CollectionHold:
    """Lift a hold in force: the next collection run collects again what it stopped. Return the hold, lifted.

    One conditional UPDATE (only while not lifted), so two clerks lifting at
    once lift it once: the second is refused, saying when and by whom it was
    lifted, and changes nothing.
    """
    now = timezone.now()
    user = _user(by)
    if not CollectionHold.objects.filter(pk=hold.pk, lifted_at__isnull=True).update(lifted_at=now, lifted_by=user):
        raise already_lifted(CollectionHold.objects.select_related("lifted_by").get(pk=hold.pk))
    hold.lifted_at, hold.lifted_by = now, user
    subject = hold.invoice if hold.invoice_id else hold.customer
    _record(hold, subject, "collection_hold_lifted", by=by)
    return hold


def already_lifted(hold: CollectionHold) -> HoldRefused:
    """The refusal to lift `hold` (read with its lifted_by) again, saying when and by whom it was lifted."""
    return HoldRefused(_("This hold was already lifted on %(when)s by %(who)s."),
                       when=formats.date_format(timezone.localtime(hold.lifted_at), "SHORT_DATETIME_FORMAT"),
                       who=str(hold.lifted_by or _("the system")))


def _lock_for_hold(customer_id: int) -> None:
    """Wait for the collection claims of this customer under way to commit, and keep new ones waiting until the
    hold commits (see lock_customers)."""
    Customer.objects.select_for_update().filter(pk=customer_id).first()


def lock_customers(customer_ids: Iterable[int]) -> None:
    """In the caller's transaction: keep these customers from being held until it ends; read the holds after it.

    FOR KEY SHARE, in id order, on PostgreSQL: a hold being placed locks the
    row FOR UPDATE, so it waits for the claim and the claim waits for it (as
    do the other services that lock a customer FOR UPDATE, for the short
    while of a claim). Other claims, plain updates of the customer and
    foreign keys to it are not held up. SQLite runs one write transaction at
    a time, so it needs none. One statement for any number of customers.
    """
    ids = sorted(set(customer_ids))
    connection = connections[Customer.objects.db]
    if not ids or connection.vendor != "postgresql":
        return
    table, pk = connection.ops.quote_name(Customer._meta.db_table), connection.ops.quote_name(Customer._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {pk} = ANY(%s) ORDER BY {pk} FOR KEY SHARE", [ids])


def _record(hold: CollectionHold, subject: Any, verb: str, *, by: Any) -> None:
    """The same event on the hold and on what it holds (the customer or the invoice), whose page shows it."""
    data = {"hold": hold.pk, "kind": hold.kind, "reason": hold.reason}
    record_event(hold, verb, by=by, data=data)
    record_event(subject, verb, by=by, data=data)


@dataclass(frozen=True, slots=True)
class HoldsInForce:
    """The holds a run obeys, by customer id (blocks) and by invoice id (disputes)."""

    blocked: dict[int, CollectionHold] = field(default_factory=dict)
    disputed: dict[int, CollectionHold] = field(default_factory=dict)

    def on(self, *, customer_id: int, invoice_id: int) -> CollectionHold | None:
        """The hold stopping this invoice's collection, if any: the customer's block first, which lifting a
        dispute would not end."""
        return self.blocked.get(customer_id) or self.disputed.get(invoice_id)


def holds_in_force(organisation: Organisation) -> HoldsInForce:
    """Every hold in force of the organisation, in one query (holds are few: a run reads them all once)."""
    holds = HoldsInForce()
    for hold in CollectionHold.objects.filter(organisation=organisation, lifted_at__isnull=True):
        if hold.kind == HoldKind.CUSTOMER_BLOCKED:
            holds.blocked[hold.customer_id] = hold
        else:
            holds.disputed[hold.invoice_id] = hold
    return holds


def holds_on(*, customer_id: int, invoice_id: int | None) -> list[CollectionHold]:
    """The holds in force stopping one invoice's collection, the customer's block first (lifting the dispute
    would not end it), in one query; what the invoice's back-office page lists."""
    holds = CollectionHold.objects.filter(
        Q(kind=HoldKind.CUSTOMER_BLOCKED) | Q(invoice_id=invoice_id, kind=HoldKind.DISPUTED),
        customer_id=customer_id, lifted_at__isnull=True).select_related("created_by")
    return sorted(holds, key=lambda hold: hold.kind != HoldKind.CUSTOMER_BLOCKED)


def held_now(*, customer_id: int, invoice_id: int | None) -> CollectionHold | None:
    """In a claim's transaction: the hold stopping the invoice now, if any, the customer kept from being held until
    the claim commits (lock_customers first, so a hold committed a moment ago is seen)."""
    lock_customers([customer_id])
    return next(iter(holds_on(customer_id=customer_id, invoice_id=invoice_id)), None)


__all__ = ["HoldRefused", "HoldsInForce", "block_customer", "check_block", "check_dispute", "dispute_invoice",
           "held_now", "holds_in_force", "holds_on", "lift_hold", "lock_customers"]
