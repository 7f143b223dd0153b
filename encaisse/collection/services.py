"""Running automatic collection: each due invoice charged on its saved card or put in a direct-debit batch.

**Candidates.** `run_collection(organisation, on)` takes the organisation's
POSTED invoices with something still due on their receivable line (derived
from the ledger: the line minus its settlements, one query for all of them;
see selectors.invoices_due) whose policy (`policy_for`: the invoice type's,
else the organisation's default, else the built-in default, unsaved) is
active and whose collection day has come. The collection day is the due date
(or the issue date plus `days_after_issue`). A card is charged once that day
≤ `on`; a direct debit is scheduled as soon as that day ≤ `on` +
`prenotification_days`, so its pre-notification goes out before the debit
(the debit's collection date is never before the collection day: the SEPA
calendar, sepa.debits, decides it). Collections waiting for a retry whose
`next_try_on` ≤ `on` are tried again. Invoices whose collection already used
every try (FAILED) are not collected automatically again: the pay link went
to the customer and people take over.

**Skips**, each kept as a RunItem with its SkipReason: no usable method
(`sepa.preferences.collection_method_for`), a method the policy does not
allow, an amount below the policy's minimum, a collection already open for
the invoice (IN_PROGRESS; also what a second worker gets when it loses the
race on the one-open-collection-per-line index), a lapsed or revoked mandate
(MANDATE_LAPSED), no active direct-debit bank account (NO_BANK_ACCOUNT),
and the holds staff place (collection.holds): a blocked customer
(CUSTOMER_BLOCKED) or a disputed invoice (DISPUTED), the hold's reason as
the line's message. A run reads the holds in force once (`holds_in_force`)
and looks each invoice up in them: a due card retry is held before it is
charged (its collection keeps waiting, tried again once the hold is lifted),
an invoice with a collection already open stays IN_PROGRESS, any other is
held before anything is claimed or written for it. A hold placed after the
run started is obeyed too: each claim's transaction (a card, a card retry, a
chunk of debits) locks its customers against holds and reads them again
(collection.holds.lock_customers), so nothing is claimed for an invoice
after its hold committed. A hold does not recall what is already under way
(a card charge claimed or in flight, a debit scheduled), but what comes
back for a held invoice (a reject or return) cancels its collection with the
hold's reason: neither presented again nor failed, so no pay link for a
disputed invoice; the first run after the lift collects it afresh.

**Card.** Claim, call, apply: the Collection (IN_FLIGHT, try n) is committed
first, then `payments.methods.charge_saved_method` is called outside any
transaction with the key `collection:<pk>:try:<n>`, then the answer is
recorded with a conditional update (only if the collection is still at that
try, in flight). SUCCEEDED → COLLECTED; DECLINED (or not processed) → RETRY
on the first decline's day + `card_retry_days[n-1]` while tries <
`max_card_attempts` and a retry day is left, else FAILED and the failure
actions; PENDING or unknown → stays IN_FLIGHT. Every run starts by taking up
the card collections left in flight: an attempt still queued, sending or
unknown (a run killed between the provider call and the recording) is sent
again through charge_saved_method under the SAME key, so the provider replays
its first answer — one charge; a settled attempt's status is recorded. A
second worker doing this at the same moment is harmless for the same reason.

**Direct debit.** The Collection (DIRECT_DEBIT) and its debit with its
pre-notification are written in one transaction: BATCHED. Invoices are taken
in chunks of CHUNK: a chunk's collections, debits
(`sepa.debits.schedule_direct_debits`), pre-notifications and run lines go
in with a few set-based statements in one transaction. The partial unique
indexes still decide: if a line of the chunk is taken meanwhile (another
worker, a debit scheduled by hand) or was paid, the chunk is rolled back and
done again invoice by invoice, each in its own transaction, so only those
invoices come out skipped (IN_PROGRESS). A chunk's items are listed in
invoice order whatever path they took.
The collection follows its debit at the start of every run (settled →
COLLECTED, cancelled → CANCELLED); rejects and returns come through
`handle_r_transactions`. A debit returned for insufficient funds while its
customer is blocked or its invoice disputed is not presented again: the
collection is CANCELLED with the hold's reason, and the invoice is collected
afresh once the hold is lifted.

**Failure actions**, when every try failed: the pay link emailed to the
customer (template `collection_failed`), and — since no dunning or credit
module exists yet — the audit events "reminders_requested" and
"credit_block_requested" on the customer, for that work to read.

**Dry run** writes nothing at all: the returned run is unsaved and its
`item_list` holds unsaved RunItems saying what would be done (outcome
CHARGED or BATCHED with a "dry run" message, or the skip). A real run
saves its items too; `item_list` has them in both cases, in the same order.

**Shards**: `shard=(k, n)` takes only customers whose id % n == k.

**Errors**: an unexpected exception stops the run, marks it FAILED with the
error and returns it; what was committed before stays consistent, since each
invoice's claim, call and recording are their own steps.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from encaisse.core.audit import record_event
from encaisse.core.bulk import column_in, in_chunks, insert_rows
from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.ledger.models import Account, Journal
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entry
from encaisse.notifications.models import OutboxMessage
from encaisse.notifications.services import queue_email
from encaisse.parties.models import Customer, Organisation
from encaisse.payments.errors import PaymentRefused
from encaisse.payments.methods import charge_saved_method
from encaisse.payments.models import AttemptStatus, PaymentAttempt, SavedMethod
from encaisse.payments.paylinks import pay_url
from encaisse.sepa.debits import (
    DebitRequest,
    MandateFacts,
    active_creditor_account,
    schedule_direct_debit,
    schedule_direct_debits,
)
from encaisse.sepa.models import DirectDebit, Mandate, RTransaction
from encaisse.sepa.preferences import CollectionMethod, card_expired, collection_method_for, current_mandate
from encaisse.sepa.reasons import reason as reason_of

from . import selectors
from .holds import HoldsInForce, held_now, holds_in_force, lock_customers
from .models import Collection, CollectionHold, CollectionPolicy, CollectionRun, Method, Outcome, RunItem, SkipReason
from .selectors import DueInvoice

logger = logging.getLogger(__name__)

S = Collection.Status
A = AttemptStatus
RESEND = {A.QUEUED, A.SENDING, A.UNKNOWN}
ITEM_BATCH = 500
CHUNK = 2000  # invoices per transaction of direct debits (SQLite holds its write lock per transaction)
FAILED_TEMPLATE = "collection_failed"
_METHODS = frozenset(Method.values)  # Method.values builds its list at each call


def policy_for(invoice: Invoice) -> CollectionPolicy:
    """The invoice type's policy, else the organisation's default, else the built-in default (not saved)."""
    rows = {p.invoice_type_id: p for p in CollectionPolicy.objects.filter(organisation_id=invoice.organisation_id)}
    policy = rows.get(invoice.invoice_type_id) or rows.get(None)
    return policy or CollectionPolicy(organisation=invoice.organisation)


def collection_day(invoice: Invoice, policy: CollectionPolicy) -> date | None:
    """The day the policy collects `invoice`: its due date, or its issue date plus the policy's days."""
    if policy.start == CollectionPolicy.Start.AFTER_ISSUE and invoice.issued_on:
        return invoice.issued_on + timedelta(days=policy.days_after_issue)
    return invoice.due_on or invoice.issued_on


def try_key(collection: Collection) -> str:
    return _try_key(collection.pk, collection.tries)


def _try_key(collection_id: int, tries: int) -> str:
    return f"collection:{collection_id}:try:{tries}"


@dataclass
class _Run:
    """One run's state: what it read once (policies, bank account, methods) and the items it writes."""

    run: CollectionRun
    on: date
    by: Any
    dry_run: bool
    default_policy: CollectionPolicy
    type_policies: dict[int, CollectionPolicy]
    creditor_account: Any
    currency: str  # the organisation's, that of the policies' minimum amounts
    holds: HoldsInForce = field(default_factory=HoldsInForce)  # blocked customers, disputed invoices
    methods: dict[int, CollectionMethod] = field(default_factory=dict)
    taken_up: set[int] = field(default_factory=set)  # lines already listed by _take_up_in_flight
    pending: list[tuple] = field(default_factory=list)  # run lines to write, as _ITEM_COLUMNS rows
    dry_items: list[RunItem] = field(default_factory=list)  # a dry run's lines, never written
    counts: Counter = field(default_factory=Counter)
    batch: list[tuple[DueInvoice, Money, CollectionPolicy, MandateFacts]] = field(default_factory=list)
    holding: bool = False  # while a chunk of invoices is taken: its items are written in invoice order at its end

    def policy(self, invoice: Invoice | DueInvoice) -> CollectionPolicy:
        return self.type_policies.get(invoice.invoice_type_id, self.default_policy)

    def method(self, invoice: Invoice | DueInvoice) -> CollectionMethod:
        """The customer's method: read in bulk per chunk (_read_mandates) when usable, else asked with the reason."""
        if invoice.party_id not in self.methods:
            customer = Customer.objects.select_related("organisation").get(pk=invoice.party_id)
            self.methods[invoice.party_id] = collection_method_for(customer)
        return self.methods[invoice.party_id]

    def item(self, invoice: Invoice | DueInvoice, due: Money, outcome: str, *, method: str = "", reason: str = "",
             collection: Collection | None = None, attempt: PaymentAttempt | None = None,
             collection_id: int | None = None, direct_debit_id: int | None = None, code: str = "",
             message: str = "") -> None:
        """One line of the run's list: written a few hundred at a time (a dry run only keeps it)."""
        self.counts[outcome] += 1
        collection_id = collection.pk if collection is not None else collection_id
        code, message = (code or "")[:64], str(message or "")[:300]
        if self.dry_run:
            self.dry_items.append(RunItem(
                run=self.run, invoice_id=invoice.pk, customer_id=invoice.party_id, amount_minor=due.minor,
                currency=due.currency, method=method, outcome=outcome, reason=reason, code=code, message=message))
            return
        self.pending.append((self.run_id, invoice.pk, invoice.party_id, collection_id, due.minor, due.currency,
                             method, outcome, reason, code, message, direct_debit_id,
                             self.attempt_id(attempt.pk) if attempt is not None else None, None))
        if len(self.pending) >= ITEM_BATCH and not self.holding:
            self.flush()

    @cached_property
    def run_id(self) -> Any:
        # Runs and attempts have UUID ids: prepared for the driver (core.bulk passes foreign keys as they are).
        return RunItem._meta.get_field("run").get_db_prep_save(self.run.pk, connections[RunItem.objects.db])

    def attempt_id(self, pk: Any) -> Any:
        return RunItem._meta.get_field("attempt").get_db_prep_save(pk, connections[RunItem.objects.db])

    def flush(self) -> None:
        if self.pending and not self.dry_run:
            now = timezone.now()
            insert_rows(RunItem, _ITEM_COLUMNS, [(*row[:-1], now) for row in self.pending])
            self.pending = []


_ITEM_COLUMNS = ("run", "invoice", "customer", "collection", "amount_minor", "currency", "method", "outcome", "reason",
                 "code", "message", "direct_debit", "attempt", "created_at")


def run_collection(*, organisation: Organisation, on: date, dry_run: bool = False,
                   trigger: str = CollectionRun.Trigger.SCHEDULE, by: Any = None,
                   shard: tuple[int, int] | None = None) -> CollectionRun:
    """Collect every due invoice of `organisation` on `on`; the run lists each invoice considered and its result.

    `shard=(k, n)` takes only customers with id % n == k, so several workers can share a run's work."""
    if shard is not None and not (shard[1] > 0 and 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard {shard!r}: k must be in [0, n)")
    user = by if getattr(by, "pk", None) else None
    run = CollectionRun(organisation=organisation, run_on=on, dry_run=dry_run, trigger=trigger, started_by=user)
    if not dry_run:
        run.save(force_insert=True)
    default, per_type = selectors.policies(organisation)
    state = _Run(run=run, on=on, by=user, dry_run=dry_run, default_policy=default, type_policies=per_type,
                 creditor_account=active_creditor_account(organisation), currency=organisation.currency,
                 holds=holds_in_force(organisation))
    try:
        if not dry_run:
            _take_up_in_flight(state, organisation, shard)
        _collect_due(state, organisation, shard)
        run.status = CollectionRun.Status.DONE
    except Exception as error:  # the run is kept, stopped, with its error; what was committed stays
        logger.exception("collection run %s of %s stopped", run.pk, organisation.slug)
        run.status = CollectionRun.Status.FAILED
        run.error = f"{type(error).__name__}: {error}"
    state.flush()
    if dry_run:
        run.item_list = _with_invoices(state.dry_items)
    run.counts = dict(state.counts)
    run.finished_at = timezone.now()
    if not dry_run:
        run.save(update_fields=["status", "error", "counts", "finished_at"])
    return run


def _with_invoices(items: list[RunItem]) -> list[RunItem]:
    """A dry run's lines with their invoices and customers, read a few thousand at a time, for the page and the CLI
    to show (as CollectionRun.item_list reads a real run's)."""
    for chunk in in_chunks(items):
        invoices = Invoice.objects.select_related("party").in_bulk([item.invoice_id for item in chunk])
        for item in chunk:
            item.invoice = invoices[item.invoice_id]
    return items


# --- taking up what earlier runs left --------------------------------------------------------------------------


def _take_up_in_flight(state: _Run, organisation: Organisation, shard: tuple[int, int] | None) -> None:
    """Card collections left in flight are sent again (same key) or recorded; debits' collections follow them."""
    open_ones = selectors.open_collections(organisation, shard=shard).filter(status=S.IN_FLIGHT)
    _collect_settled_debits(open_ones)
    # A debit still with the bank (scheduled, exported: most of them) leaves its collection as it is: not read.
    in_flight = (open_ones.exclude(method=Method.DIRECT_DEBIT, direct_debit__status__in=_WITH_THE_BANK)
                 .select_related("invoice__party", "invoice__invoice_type", "direct_debit").order_by("pk"))
    for collection in in_flight:
        if collection.method == Method.DIRECT_DEBIT:
            _follow_debit(collection)
            continue
        attempt = PaymentAttempt.objects.filter(idempotency_key=try_key(collection)).first()
        invoice = collection.invoice
        due = Money(attempt.amount_minor if attempt else 0, organisation.currency)
        state.taken_up.add(collection.line_id)
        if attempt is not None and attempt.status not in RESEND:
            _record_card(state, collection, attempt, due)
            continue
        card = attempt.saved_method if attempt is not None else state.method(invoice).card
        if attempt is None:
            due = Money(_due_minor(invoice), organisation.currency)
        if card is None or due.minor <= 0:
            _cancel(collection, _("nothing left to charge, or no card to charge it on"))
            state.taken_up.discard(collection.line_id)  # collected afresh below if still due
            continue
        _charge(state, collection, card, due)


def _due_minor(invoice: Invoice) -> int:
    return selectors.invoices_due(invoice.organisation).filter(pk=invoice.pk).values_list(
        "due_minor", flat=True).first() or 0


# An R-transaction is recorded with its debit's status (sepa.returns): a debit still scheduled or exported, as
# most in-flight debits are, has none to look for.
_SENT_BACK = (DirectDebit.Status.REJECTED, DirectDebit.Status.RETURNED, DirectDebit.Status.REFUNDED)


_WITH_THE_BANK = (DirectDebit.Status.SCHEDULED, DirectDebit.Status.EXPORTED)


def _collect_settled_debits(in_flight: QuerySet[Collection]) -> None:
    """Collections whose debit the bank settled are collected, a few thousand per UPDATE rather than one each (a
    file of 100,000 debits settles at once). Only while that debit is still theirs and settled."""
    ids = list(in_flight.filter(method=Method.DIRECT_DEBIT, direct_debit__status=DirectDebit.Status.SETTLED)
               .values_list("pk", flat=True))
    for chunk in in_chunks(ids, CHUNK):
        Collection.objects.filter(pk__in=chunk, status=S.IN_FLIGHT,
                                  direct_debit__status=DirectDebit.Status.SETTLED).update(
            status=S.COLLECTED, updated_at=timezone.now())


def _follow_debit(collection: Collection) -> None:
    """A direct-debit collection whose debit was cancelled, or sent back by the bank."""
    debit = collection.direct_debit
    if debit is None:
        return
    if debit.status == DirectDebit.Status.CANCELLED:
        _cancel(collection, _("the direct debit was cancelled"))
    elif debit.status in _SENT_BACK and (rtx := RTransaction.objects.filter(direct_debit=debit).first()):
        handle_r_transactions([rtx])  # its importer did not pass it on: the policy's answer, once, now


def _cancel(collection: Collection, why: str) -> None:
    Collection.objects.filter(pk=collection.pk, status__in=Collection.OPEN, tries=collection.tries).update(
        status=S.CANCELLED, reason=why[:200], next_try_on=None, updated_at=timezone.now())


# --- the due invoices --------------------------------------------------------------------------------------------


def _collect_due(state: _Run, organisation: Organisation, shard: tuple[int, int] | None) -> None:
    open_by_line = {c.line_id: c for c in selectors.open_collections(organisation, shard=shard)}
    failed = selectors.failed_lines(organisation, shard=shard)
    seen_retries: set[int] = set()
    chunk: list[DueInvoice] = []
    for invoice in selectors.due_invoices(organisation, shard=shard, chunk_size=CHUNK):
        chunk.append(invoice)
        if len(chunk) >= CHUNK:
            _collect_chunk(state, chunk, open_by_line, failed, seen_retries)
            chunk = []
    _collect_chunk(state, chunk, open_by_line, failed, seen_retries)
    if not state.dry_run:  # retries whose invoice was paid meanwhile: nothing left to collect
        for collection in open_by_line.values():
            if collection.status == S.RETRY and collection.pk not in seen_retries and collection.next_try_on \
                    and collection.next_try_on <= state.on:
                _cancel(collection, _("nothing left to collect"))


def _collect_chunk(state: _Run, chunk: list[DueInvoice], open_by_line: dict[int, Collection], failed: set[int],
                   seen_retries: set[int]) -> None:
    """One chunk of due invoices: their direct debits scheduled together, their items written in invoice order."""
    if not chunk:
        return
    state.methods = {}  # what one chunk read: kept for a whole run, 100,000 customers' methods weigh
    _read_mandates(state, chunk)
    first_item, first_pending = len(state.dry_items), len(state.pending)
    state.holding = True
    try:
        for invoice in chunk:
            _consider(state, invoice, open_by_line, failed, seen_retries)
        pending, counts = list(state.pending), state.counts.copy()
        try:
            with transaction.atomic():  # the chunk's debits and its run lines commit together, in one commit
                _schedule_batch(state)
                _in_invoice_order(state, first_item, first_pending)
                state.flush()
        except BaseException:
            # Rolled back: the lines of debits that no longer exist go too (the run's last flush would fail on
            # them), those of what was done before (cards charged, skips) are written by it.
            state.pending, state.counts = pending, counts
            raise
    finally:
        state.holding = False
        _in_invoice_order(state, first_item, first_pending)
        if len(state.pending) >= ITEM_BATCH:
            state.flush()


def _in_invoice_order(state: _Run, first_item: int, first_pending: int) -> None:
    """Sort the chunk's lines by invoice (stable: an invoice has one line per run)."""
    state.dry_items[first_item:] = sorted(state.dry_items[first_item:], key=lambda item: item.invoice_id)
    state.pending[first_pending:] = sorted(state.pending[first_pending:], key=lambda row: row[1])


def _read_mandates(state: _Run, chunk: list[DueInvoice]) -> None:
    """The current mandates and default cards of the chunk's customers in a query each, instead of one per customer.

    Only a usable answer is kept (an active mandate and an organisation with
    a creditor identifier; an active, unexpired card of an active provider
    account): any other customer goes through
    sepa.preferences.collection_method_for, which says why."""
    organisation = state.run.organisation
    wanted = {Method.DIRECT_DEBIT: set(), Method.CARD: set()}
    for invoice in chunk:
        if invoice.collect_by in wanted and invoice.party_id not in state.methods:
            wanted[invoice.collect_by].add(invoice.party_id)
    if wanted[Method.DIRECT_DEBIT] and organisation.creditor_id:
        for customer_id, mandate in selectors.current_mandates(organisation,
                                                               sorted(wanted[Method.DIRECT_DEBIT])).items():
            state.methods[customer_id] = CollectionMethod(Method.DIRECT_DEBIT, mandate=mandate)
    if wanted[Method.CARD]:
        for customer_id, card in selectors.default_cards(organisation, sorted(wanted[Method.CARD])).items():
            if card.provider_account.active and not card_expired(card):
                state.methods[customer_id] = CollectionMethod(Method.CARD, card=card)


def _consider(state: _Run, invoice: DueInvoice, open_by_line: dict[int, Collection], failed: set[int],
              seen_retries: set[int]) -> None:
    """One due invoice: collected, retried, skipped, or left for a later run."""
    policy = state.policy(invoice)
    day = collection_day(invoice, policy)
    line_id = invoice.receivable_line_id
    if not policy.active or day is None or line_id in failed or line_id in state.taken_up:
        return
    kind = invoice.collect_by
    horizon = state.on + timedelta(days=policy.prenotification_days) if kind == Method.DIRECT_DEBIT else state.on
    open_one = open_by_line.get(invoice.receivable_line_id)
    retry_due = (open_one is not None and open_one.status == S.RETRY and open_one.next_try_on is not None
                 and open_one.next_try_on <= state.on)
    if day > horizon and not retry_due:
        return
    due = Money(invoice.due_minor, invoice.currency)
    # Two dict lookups: the holds were read once for the run.
    hold = state.holds.on(customer_id=invoice.party_id, invoice_id=invoice.pk)
    if retry_due:
        seen_retries.add(open_one.pk)  # held, it keeps waiting: not cancelled at the end of the run
        if hold is not None:
            _skip_held(state, invoice, due, hold, method=open_one.method,
                       collection=None if state.dry_run else open_one)
            return
        _retry_card(state, open_one, invoice, due, policy)
    elif open_one is not None:
        state.item(invoice, due, Outcome.SKIPPED, method=open_one.method, reason=SkipReason.IN_PROGRESS,
                   collection=open_one if not state.dry_run else None)
    elif hold is not None:
        _skip_held(state, invoice, due, hold, method=kind if kind in _METHODS else "")
    else:
        _collect_one(state, invoice, due, policy)


def _why_not(state: _Run, invoice: DueInvoice, due: Money, policy: CollectionPolicy,
             method: CollectionMethod) -> tuple[str, str, str]:
    """(method, skip reason, message) when `invoice` cannot be collected now; reason "" when it can."""
    kind = method.kind
    name = kind if kind in _METHODS else ""
    if (kind == Method.CARD and not policy.use_cards) or (kind == Method.DIRECT_DEBIT
                                                          and not policy.use_direct_debit):
        return name, SkipReason.METHOD_NOT_ALLOWED, ""
    if (due.minor < policy.minimum_amount_minor) if due.currency == state.currency else (due < policy.minimum_amount):
        return name, SkipReason.BELOW_MINIMUM, _("minimum %(minimum)s") % {"minimum": policy.minimum_amount}
    if not method.usable:
        if kind == Method.DIRECT_DEBIT and method.mandate is None and Mandate.objects.filter(
                customer_id=invoice.party_id, status__in=[Mandate.Status.LAPSED, Mandate.Status.REVOKED]).exists():
            return name, SkipReason.MANDATE_LAPSED, method.reason
        return name, SkipReason.NO_METHOD, method.reason
    if kind == Method.DIRECT_DEBIT and state.creditor_account is None:
        return name, SkipReason.NO_BANK_ACCOUNT, ""
    return name, "", ""


class _PaidMeanwhile(Exception):
    """Nothing is due any more: another worker's collection finished between our reading and our claim."""


def _open(invoice: Invoice, method: str) -> tuple[Collection, Money]:
    """In the caller's transaction: claim the line (IntegrityError when a collection of it is open) and say
    what is due now.

    Read after the claim, the amount is current: another worker's collection
    leaves the open state only after its payment is committed, so once our
    insert passes the one-open-per-line index, that payment is visible here.
    """
    collection = Collection.objects.create(
        organisation_id=invoice.organisation_id, invoice=invoice, line_id=invoice.receivable_line_id,
        customer_id=invoice.party_id, method=method, status=S.IN_FLIGHT, tries=1)
    collection.invoice = invoice
    due = Money(selectors.open_on_lines([invoice.receivable_line_id]).get(invoice.receivable_line_id, 0),
                invoice.currency)
    if due.minor <= 0:
        raise _PaidMeanwhile
    return collection, due


def _collect_one(state: _Run, invoice: DueInvoice, due: Money, policy: CollectionPolicy) -> None:
    method = state.method(invoice)
    name, skip, message = _why_not(state, invoice, due, policy, method)
    if skip:
        state.item(invoice, due, Outcome.SKIPPED, method=name, reason=skip, message=message)
        return
    if method.kind == Method.CARD:
        if state.dry_run:
            state.item(invoice, due, Outcome.CHARGED, method=name, message=_("dry run: would be charged"))
            return
        invoice = _invoice(invoice)
        try:
            with transaction.atomic():
                if (hold := held_now(customer_id=invoice.party_id, invoice_id=invoice.pk)) is None:
                    collection, due = _open(invoice, Method.CARD)
        except IntegrityError:  # another worker opened it a moment ago
            state.item(invoice, due, Outcome.SKIPPED, method=name, reason=SkipReason.IN_PROGRESS)
            return
        except _PaidMeanwhile:
            state.item(invoice, due, Outcome.SKIPPED, method=name, reason=SkipReason.IN_PROGRESS,
                       message=_("collected meanwhile by another run"))
            return
        if hold is not None:  # placed since the run read the holds
            _skip_held(state, invoice, due, hold, method=name)
            return
        collection.invoice = invoice
        _charge(state, collection, method.card, due)
        return
    _batch(state, invoice, due, policy, method.mandate)


def _skip_held(state: _Run, invoice: Invoice | DueInvoice, due: Money, hold: CollectionHold, *, method: str,
               collection: Collection | None = None) -> None:
    """The run line of an invoice a hold stops: the hold's kind as the reason, its reason as the message."""
    state.item(invoice, due, Outcome.SKIPPED, method=method, reason=SkipReason(hold.kind), message=hold.reason,
               collection=collection)


def _invoice(invoice: DueInvoice) -> Invoice:
    """The Invoice of a due row, with its customer, for the card path (a provider call per invoice anyway)."""
    return Invoice.objects.select_related("party").get(pk=invoice.pk)


def _batch(state: _Run, invoice: DueInvoice, due: Money, policy: CollectionPolicy,
           mandate: MandateFacts | Mandate) -> None:
    if state.dry_run:
        state.item(invoice, due, Outcome.BATCHED, method=Method.DIRECT_DEBIT,
                   message=_("dry run: would be added to a direct-debit batch"))
        return
    if isinstance(mandate, Mandate):  # from collection_method_for rather than the chunk's bulk read
        mandate = MandateFacts.of(mandate)
    state.batch.append((invoice, due, policy, mandate))  # scheduled at the end of the chunk, which bounds it


def _schedule_batch(state: _Run) -> None:
    entries, state.batch = state.batch, []
    _schedule(state, _without_holds(state, entries))


def _without_holds(state: _Run, entries: list[tuple[DueInvoice, Money, CollectionPolicy, MandateFacts]]
                   ) -> list[tuple[DueInvoice, Money, CollectionPolicy, MandateFacts]]:
    """In the chunk's transaction, before its debits: the entries no hold stops now; the others listed as skipped.

    The chunk's customers are kept from being held until it commits, then the
    holds are read again (one query, the later chunks use it too): a hold
    placed since the run started is obeyed."""
    if not entries:
        return entries
    lock_customers(invoice.party_id for invoice, *_rest in entries)
    state.holds = holds_in_force(state.run.organisation)
    kept = []
    for entry in entries:
        invoice, due, *_rest = entry
        if (hold := state.holds.on(customer_id=invoice.party_id, invoice_id=invoice.pk)) is None:
            kept.append(entry)
        else:
            _skip_held(state, invoice, due, hold, method=Method.DIRECT_DEBIT)
    return kept


def _schedule(state: _Run, entries: list[tuple[DueInvoice, Money, CollectionPolicy, MandateFacts]]) -> None:
    """The entries' direct debits in one transaction (collections, debits, pre-notifications, a few statements).

    When a line turns out taken or paid meanwhile (another worker, a debit
    scheduled by hand), the transaction (a savepoint inside a caller's) rolls
    back, which leaves a PostgreSQL transaction usable, and the same invoices
    go again one at a time, each in its own: only those come out skipped."""
    if not entries:
        return
    try:
        with transaction.atomic():
            done = _schedule_many(state, entries)
    except (IntegrityError, _PaidMeanwhile) as error:
        if len(entries) > 1:
            for entry in entries:
                _schedule(state, [entry])
            return
        invoice, due, *_rest = entries[0]
        state.item(invoice, due, Outcome.SKIPPED, method=Method.DIRECT_DEBIT, reason=SkipReason.IN_PROGRESS,
                   message=_("collected meanwhile by another run") if isinstance(error, _PaidMeanwhile) else "")
        return
    for invoice, due, collection_id, result in done:
        if isinstance(result, DomainError):
            state.item(invoice, due, Outcome.SKIPPED, method=Method.DIRECT_DEBIT, reason=SkipReason.NO_METHOD,
                       message=str(result))
        else:
            state.item(invoice, due, Outcome.BATCHED, method=Method.DIRECT_DEBIT, collection_id=collection_id,
                       direct_debit_id=result.pk)


def _schedule_many(state: _Run, entries: list[tuple[DueInvoice, Money, CollectionPolicy, MandateFacts]]
                   ) -> list[tuple]:
    """In the caller's transaction: claim every line (IntegrityError if one is open), read what is due after the
    claim (_PaidMeanwhile if nothing is left on one), schedule the debits; refused ones leave no collection."""
    organisation = state.run.organisation
    now = timezone.now()
    insert_rows(Collection, ("organisation", "invoice", "line", "customer", "method", "status", "tries", "reason",
                             "created_at", "updated_at"),
                [(invoice.organisation_id, invoice.pk, invoice.receivable_line_id, invoice.party_id,
                  Method.DIRECT_DEBIT, S.IN_FLIGHT, 1, "", now, now) for invoice, *_rest in entries])
    lines = [invoice.receivable_line_id for invoice, *_rest in entries]
    ids: dict[int, int] = {}
    for chunk in in_chunks(lines, CHUNK):  # ours: one open collection per line, the index says so
        ids.update(Collection.objects.filter(column_in(Collection, "line", chunk),
                                             status__in=Collection.OPEN)
                   .values_list("line_id", "pk"))
    collection_ids = [ids[line] for line in lines]
    open_on = selectors.open_on_lines(lines)
    dues = [Money(open_on.get(invoice.receivable_line_id, 0), invoice.currency) for invoice, *_rest in entries]
    if any(due.minor <= 0 for due in dues):
        raise _PaidMeanwhile
    results = schedule_direct_debits(organisation=organisation, today=state.on, by=state.by, listed_by=state.run,
                                     requests=[
        DebitRequest(mandate=mandate, invoice_id=invoice.pk, invoice_number=invoice.number,
                     line_id=invoice.receivable_line_id, amount=due,
                     due_on=collection_day(invoice, policy), prenotification_days=policy.prenotification_days,
                     key=_try_key(pk, 1))
        for (invoice, _due, policy, mandate), due, pk in zip(entries, dues, collection_ids, strict=True)])
    refused = [pk for pk, result in zip(collection_ids, results, strict=True) if isinstance(result, DomainError)]
    if refused:
        Collection.objects.filter(pk__in=refused).delete()
    # Each collection points to its line's debit, found by the database: the one scheduled debit of that line
    # (one in flight per line, an index) is the one just written, or this batch would have failed.
    scheduled = [pk for pk, result in zip(collection_ids, results, strict=True) if not isinstance(result, DomainError)]
    debit_of_line = DirectDebit.objects.filter(line_id=OuterRef("line_id"),
                                               status=DirectDebit.Status.SCHEDULED).values("pk")[:1]
    for chunk in in_chunks(scheduled, CHUNK):
        Collection.objects.filter(column_in(Collection, "id", chunk)).update(
            direct_debit=Subquery(debit_of_line))
    return [(invoice, due, pk, result) for (invoice, *_rest), due, pk, result in zip(entries, dues, collection_ids,
                                                                                     results, strict=True)]


# --- cards ---------------------------------------------------------------------------------------------------------


def _retry_card(state: _Run, collection: Collection, invoice: DueInvoice, due: Money,
                policy: CollectionPolicy) -> None:
    method = state.method(invoice)
    _name, skip, message = _why_not(state, invoice, due, policy, method)
    if not skip and method.kind != Method.CARD:
        skip, message = SkipReason.NO_METHOD, _("the customer is no longer collected by card")
    if skip:  # the collection keeps waiting: the customer may add a card before the next run
        state.item(invoice, due, Outcome.SKIPPED, method=Method.CARD, reason=skip, message=message,
                   collection=None if state.dry_run else collection)
        return
    if state.dry_run:
        state.item(invoice, due, Outcome.CHARGED, method=Method.CARD, message=_("dry run: would be charged again"))
        return
    with transaction.atomic():
        hold = held_now(customer_id=invoice.party_id, invoice_id=invoice.pk)
        claimed = hold is None and Collection.objects.filter(pk=collection.pk, status=S.RETRY,
                                                             tries=collection.tries).update(
            status=S.IN_FLIGHT, tries=F("tries") + 1, updated_at=timezone.now())
    if hold is not None:  # placed since the run read the holds: the collection keeps waiting
        _skip_held(state, invoice, due, hold, method=Method.CARD, collection=collection)
        return
    if not claimed:  # another worker took this retry
        state.item(invoice, due, Outcome.SKIPPED, method=Method.CARD, reason=SkipReason.IN_PROGRESS)
        return
    collection.refresh_from_db()
    collection.invoice = _invoice(invoice)
    _charge(state, collection, method.card, due)


def _charge(state: _Run, collection: Collection, card: SavedMethod, due: Money) -> None:
    """Call the provider (outside any transaction) under the collection's key for this try, then record."""
    invoice = collection.invoice
    try:
        attempt = charge_saved_method(method=card, amount=due, line_ids=[collection.line_id],
                                      key=try_key(collection), by=state.by)
    except PaymentRefused as error:  # nothing was sent: the method or the items cannot be charged now
        _cancel(collection, str(error.message))
        state.item(invoice, due, Outcome.SKIPPED, method=Method.CARD, reason=SkipReason.NO_METHOD,
                   collection=collection, message=str(error.message))
        return
    _record_card(state, collection, attempt, due)


def _record_card(state: _Run, collection: Collection, attempt: PaymentAttempt, due: Money) -> None:
    """Apply an attempt's status to its collection, once (only while the collection is still at that try)."""
    policy = state.policy(collection.invoice)
    outcome = {A.SUCCEEDED: Outcome.CHARGED, A.PENDING: Outcome.PENDING,
               A.DECLINED: Outcome.DECLINED, A.NOT_PROCESSED: Outcome.DECLINED}.get(attempt.status, Outcome.UNKNOWN)
    if outcome != Outcome.DECLINED:  # collected, or still in flight: one conditional UPDATE records it
        status = S.COLLECTED if outcome == Outcome.CHARGED else S.IN_FLIGHT
        Collection.objects.filter(pk=collection.pk, status=S.IN_FLIGHT, tries=collection.tries).update(
            attempt=attempt, status=status, updated_at=timezone.now())
        collection.attempt, collection.status = attempt, status
        state.item(collection.invoice, due, outcome, method=Method.CARD, collection=collection, attempt=attempt,
                   code=attempt.decline_code, message=attempt.message)
        return
    with transaction.atomic():
        locked = Collection.objects.select_for_update().filter(pk=collection.pk, status=S.IN_FLIGHT,
                                                               tries=collection.tries).first()
        if locked is not None:
            locked.attempt = attempt
            if outcome == Outcome.CHARGED:
                locked.status = S.COLLECTED
            elif outcome == Outcome.DECLINED:
                next_try = _next_try(locked, policy, state.on)
                if next_try is None:
                    locked.status, locked.next_try_on = S.FAILED, None
                    locked.reason = (attempt.message or attempt.decline_code or "")[:200]
                    outcome = Outcome.FAILED
                else:
                    locked.status, locked.next_try_on = S.RETRY, next_try
            locked.save()
            if locked.status == S.FAILED:
                _failure_actions(locked, policy, by=state.by)
            collection = locked
        elif outcome == Outcome.DECLINED and Collection.objects.filter(pk=collection.pk, status=S.FAILED).exists():
            outcome = Outcome.FAILED
    state.item(collection.invoice, due, outcome, method=Method.CARD, collection=collection, attempt=attempt,
               code=attempt.decline_code, message=attempt.message)


def _next_try(collection: Collection, policy: CollectionPolicy, on: date) -> date | None:
    """The day of the next try after a decline of try n, counted from the first decline; None when none is left."""
    n = collection.tries
    days = list(policy.card_retry_days or [])
    if n >= policy.max_card_attempts or n > len(days):
        return None
    # The try just declined was scheduled first_decline + days[n - 2]: the anchor comes back from it.
    first_decline = on if n == 1 else (collection.next_try_on or on) - timedelta(days=int(days[n - 2]))
    return max(first_decline + timedelta(days=int(days[n - 1])), on + timedelta(days=1))


# --- when every try failed -------------------------------------------------------------------------------------


def _failure_actions(collection: Collection, policy: CollectionPolicy, *, by: Any) -> None:
    """In the caller's transaction: the pay link to the customer, and what dunning and credit will act upon."""
    invoice = Invoice.objects.select_related("party", "organisation").get(pk=collection.invoice_id)
    customer = invoice.party
    due = Money(_due_minor(invoice), invoice.currency)
    data = {"invoice": invoice.number, "collection": collection.pk}
    if policy.send_pay_link_on_failure and customer.email and due.minor > 0:
        key = f"collection:{collection.pk}:failed"
        if not OutboxMessage.objects.filter(organisation=invoice.organisation, idempotency_key=key).exists():
            url = pay_url(organisation_id=invoice.organisation_id, line_id=collection.line_id, due=due)
            queue_email(organisation=invoice.organisation, template_code=FAILED_TEMPLATE, to=customer.email,
                        context={"invoice_number": invoice.number, "amount": due, "due_date": invoice.due_on,
                                 "customer_name": customer.name, "pay_url": url or "",
                                 "reason": collection.reason},
                        language=customer.language or None, related=invoice, idempotency_key=key)
    # No dunning or credit module yet: these events are the request, for them to act upon when they exist.
    if policy.start_reminders_on_failure:
        record_event(customer, "reminders_requested", by=by, data=data)
    if policy.block_credit_on_failure:
        record_event(customer, "credit_block_requested", by=by, data=data)
    record_event(collection, "collection_failed", by=by, data=data)


# --- the bank's rejects and returns ------------------------------------------------------------------------------


def handle_r_transactions(rtransactions: Sequence[RTransaction], *, by: Any = None) -> None:
    """What the policy says after a reject or return: re-present (AM04), re-bill the fee, or fail the collection.

    Once per R-transaction whatever the number of calls: the re-presentation
    is keyed by the collection's next try (the same debit comes back), the
    collection moves only while its last debit is the returned one, and the
    re-billing entry has its own idempotency key.
    """
    user = by if getattr(by, "pk", None) else None
    for rtx in rtransactions:
        with transaction.atomic():
            _handle_one(rtx, by=user)


def _handle_one(rtx: RTransaction, *, by: Any) -> None:
    debit = DirectDebit.objects.select_related("invoice", "mandate", "customer").get(pk=rtx.direct_debit_id)
    collection = Collection.objects.select_for_update().filter(direct_debit=debit).first()
    invoice = debit.invoice
    policy = policy_for(invoice) if invoice is not None else CollectionPolicy(organisation=rtx.organisation)
    if policy.rebill_bank_fee and rtx.fee_minor > 0:
        _rebill_fee(rtx, debit, by=by)
    if collection is None or collection.status in (S.FAILED, S.CANCELLED):
        return
    if (hold := held_now(customer_id=debit.customer_id, invoice_id=debit.invoice_id)) is not None:
        # While staff hold it, neither presented again nor failed (no pay link for a disputed invoice, no reminders
        # requested): cancelled with the hold's reason, and collected afresh by the first run after the lift.
        collection.status, collection.next_try_on = S.CANCELLED, None
        collection.reason = f"{hold.get_kind_display()}: {hold.reason}"[:200]
        collection.save()
        return
    already_represented = debit.represents_id is not None or debit.representations.exists()
    if reason_of(rtx.reason_code).represent and policy.represent_insufficient_funds and not already_represented:
        mandate = current_mandate(debit.customer)
        if mandate is not None:
            collection.tries += 1
            again = schedule_direct_debit(
                mandate=mandate, invoice=invoice, line=debit.line, amount=debit.amount,
                due_on=max(rtx.booked_on, debit.collection_date), today=max(rtx.booked_on, timezone.localdate()),
                prenotification_days=policy.prenotification_days, key=try_key(collection), represents=debit,
                by=by)
            collection.status, collection.direct_debit = S.IN_FLIGHT, again
            collection.reason = str(reason_of(rtx.reason_code).label)[:200]
            collection.save()
            return
    collection.status = S.FAILED
    collection.reason = f"{rtx.reason_code} {reason_of(rtx.reason_code).label}"[:200]
    collection.save()
    _failure_actions(collection, policy, by=by)


def _rebill_fee(rtx: RTransaction, debit: DirectDebit, *, by: Any) -> None:
    """The bank's fee for the returned debit, owed by the customer now (411 / 627)."""
    org = rtx.organisation
    fee = Money(rtx.fee_minor, rtx.currency)
    label = _("Bank fee for returned direct debit %(e2e)s") % {"e2e": debit.end_to_end_id}
    post_entry(org, EntryDraft(
        journal=journal_of_kind(org, Journal.Kind.MISC), date=rtx.booked_on, label=label,
        lines=(LineDraft.signed(account_of_kind(org, Account.Kind.RECEIVABLE), fee, party=debit.customer,
                                due_on=rtx.booked_on, label=label),
               LineDraft.signed(account_of_kind(org, Account.Kind.EXPENSE), -fee, label=label))),
        idempotency_key=f"sepa:r:{debit.pk}:rebill", by=by)


__all__ = ["collection_day", "handle_r_transactions", "policy_for", "run_collection", "try_key"]
