"""Direct debits from scheduling to the bank: pre-notification, pain.008 files, settlement, mandate upkeep.

The life of a debit (see DirectDebit): scheduled and pre-notified in the
caller's transaction (a collection run), written into a frozen pain.008 file
and booked (5113 / 411, lettered with the invoice, which then shows nothing
due while the bank works), then collected on its collection date (512 / 5113)
unless the bank sends it back (sepa.returns).

Exporting is written for 100,000 debits in one file: the rows are read as
tuples, the ledger entry goes through post_entries (one statement for its
lines), the lettering is inserted with one prepared statement (core.bulk)
and the debits' new state with a few set-based UPDATEs, instead of one ORM
call per debit; the audit trail is one event for the file (each debit points
to its file). The rules of ledger.services.settle still hold: every receivable
line is locked first, and only what is still open on it is lettered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from encaisse.core.audit import record_event, record_events
from encaisse.core.bulk import insert_rows, update_rows
from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.ledger.models import Account, Entry, EntryLine, Journal, Settlement
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entries, post_entry
from encaisse.notifications.services import EmailToQueue, queue_emails
from encaisse.parties.models import Customer, Organisation

from . import calendar, pain008
from .models import CreditorAccount, DebitFile, DirectDebit, Mandate, SequenceType, masked_iban
from .services import mandate_language

CURRENCY = "EUR"
LAPSE_AFTER_MONTHS = 36
_CHUNK = 5000  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


class DirectDebitRefused(DomainError):
    code = "direct_debit_refused"
    message = _("This direct debit cannot be scheduled: %(reason)s.")


class MandateChangeRefused(DomainError):
    code = "mandate_change_refused"
    message = _("The mandate's account cannot be changed: %(reason)s.")


# --- scheduling ----------------------------------------------------------------------------------------------------

def end_to_end_id_for(organisation_id: int, key: str) -> str:
    """The end-to-end id of the debit named `key`: deterministic, 35 characters at most, EPC characters only.

    Readable keys ("collection:12:try:1") are kept when they fit; others are
    hashed. The organisation is part of it because the id is unique
    installation-wide (the bank's answers only carry the id).
    """
    readable = re.sub(r"[^A-Za-z0-9]", "", key)
    candidate = f"E{organisation_id}-{readable}"
    if len(candidate) <= 35 and readable == key.replace(":", ""):
        return candidate
    digest = hashlib.sha256(f"{organisation_id}:{key}".encode()).hexdigest()[:28]
    return f"E{organisation_id}-{digest}"[:35]


def active_creditor_account(organisation: Organisation) -> CreditorAccount | None:
    """The bank account direct debits are collected to (one active per organisation, a database constraint)."""
    return CreditorAccount.objects.filter(organisation=organisation, active=True).first()


def _amendment(mandate: Mandate) -> dict[str, str]:
    amendment = {}
    if mandate.original_iban:
        amendment["original_iban"] = mandate.original_iban
    if mandate.original_reference:
        amendment["original_reference"] = mandate.original_reference
    return amendment


def schedule_direct_debit(*, mandate: Mandate, invoice: Invoice | None, line: EntryLine, amount: Money,
                          due_on: date, today: date, prenotification_days: int, key: str,
                          represents: DirectDebit | None = None, by: Any = None) -> DirectDebit:
    """Schedule one debit of `amount` on `line` from `mandate` and queue its pre-notification, in the caller's
    transaction. `key` names the business event (e.g. the collection and try) and makes the end-to-end id:
    the same key returns the same debit. The one-in-flight-per-line constraint raises IntegrityError.

    The collection date is the latest of the due date, the bank's earliest
    date for a file sent today and the end of the pre-notification period,
    moved to a TARGET day. Refused (DirectDebitRefused, nothing written): a
    mandate not active, an organisation without creditor identifier or
    active direct-debit bank account, an amount not positive or not in euros,
    a customer without an email address for the pre-notification.

    A batch of one (schedule_direct_debits), so that the two cannot differ;
    in a savepoint, so that a refusal by the database undoes only this debit.
    """
    with transaction.atomic():
        [result] = schedule_direct_debits(organisation=mandate.organisation, today=today, by=by, requests=[
            DebitRequest(mandate=mandate, invoice=invoice, line_id=line.pk, amount=amount, due_on=due_on,
                         prenotification_days=prenotification_days, key=key, represents=represents)])
    if isinstance(result, DirectDebitRefused):
        raise result
    return result


_DEBIT_COLUMNS = ("organisation", "customer", "mandate", "creditor_account", "invoice", "line", "amount_minor",
                  "currency", "end_to_end_id", "sequence_type", "collection_date", "status", "amendment",
                  "prenotified_at", "reason_code", "represents", "created_at", "created_by")
_DEBIT_ATTRS = tuple(f"{name}_id" if DirectDebit._meta.get_field(name).is_relation else name
                     for name in _DEBIT_COLUMNS)


@dataclass(frozen=True, slots=True)
class DebitRequest:
    """One debit for schedule_direct_debits: what schedule_direct_debit takes, for one invoice line."""

    mandate: Mandate  # with its customer loaded
    invoice: Invoice | None
    line_id: int
    amount: Money
    due_on: date
    prenotification_days: int
    key: str
    represents: DirectDebit | None = None  # the debit a re-presentation presents again


def _refusal(organisation: Organisation, creditor_account: CreditorAccount | None, mandate: Mandate,
             amount: Money) -> DirectDebitRefused | None:
    """Why a debit cannot be scheduled, or None."""
    if mandate.status != Mandate.Status.ACTIVE or mandate.organisation_id != organisation.pk:
        return DirectDebitRefused(reason=_("mandate %(reference)s is %(status)s") % {
            "reference": mandate.reference, "status": mandate.get_status_display()})
    if not organisation.creditor_id:
        return DirectDebitRefused(reason=_("the organisation has no SEPA creditor identifier"))
    if creditor_account is None:
        return DirectDebitRefused(reason=_("the organisation has no active direct-debit bank account"))
    if amount.currency != CURRENCY:
        return DirectDebitRefused(reason=_("SEPA direct debits are in euros, not %(currency)s") % {
            "currency": amount.currency})
    if amount.minor <= 0:
        return DirectDebitRefused(reason=_("the amount must be positive"))
    if not mandate.customer.email:
        return DirectDebitRefused(reason=_("the customer has no email address for the pre-notification"))
    return None


def _presented(mandate_ids: list[int]) -> set[int]:
    """Those of these never-used mandates that already have a debit sent or waiting for a file: RCUR from now on.

    FRST goes with the first debit ever presented under a mandate, RCUR
    afterwards. Since the 2016 rulebook a bank must accept RCUR for a first
    collection, but creditors' banks still expect FRST, so we keep sending
    it: FRST while the mandate was never used (no last_used_on, no debit
    sent) and no other debit of it is waiting for a file (that one is the first).
    """
    sent_or_waiting = (DirectDebit.Status.SCHEDULED, DirectDebit.Status.EXPORTED, DirectDebit.Status.SETTLED,
                       DirectDebit.Status.RETURNED, DirectDebit.Status.REFUNDED)
    presented: set[int] = set()
    for chunk in _chunks(mandate_ids):
        presented.update(DirectDebit.objects.filter(mandate_id__in=chunk, status__in=sent_or_waiting)
                         .values_list("mandate_id", flat=True))
    return presented


def schedule_direct_debits(*, organisation: Organisation, requests: list[DebitRequest], today: date,
                           by: Any = None) -> list[DirectDebit | DirectDebitRefused]:
    """schedule_direct_debit for many lines at once, in the caller's transaction: for each request, in order, its
    debit (the existing one for a key already used) or why it was refused (nothing written for it).

    The one place of the rules (schedule_direct_debit is a batch of one):
    end-to-end id from the key, FRST for a mandate's first debit (the first
    of the batch when the mandate was never used), the collection date from
    the SEPA calendar, one pre-notification per debit (queue_emails), one
    audit event per debit, in a constant number of statements per batch. The one-in-flight-per-line index (or a
    pre-notification key queued meanwhile) raises IntegrityError for the
    whole batch: the caller rolls back and takes the lines one by one.
    """
    creditor_account = active_creditor_account(organisation)
    ids = [end_to_end_id_for(organisation.pk, request.key) for request in requests]
    existing: dict[str, DirectDebit] = {}
    for chunk in _chunks(ids):
        existing.update((d.end_to_end_id, d) for d in DirectDebit.objects.filter(end_to_end_id__in=chunk))
    presented = _presented(sorted({r.mandate.pk for r in requests if r.mandate.last_used_on is None}))
    dates: dict[tuple[date, int], date] = {}
    now = timezone.now()
    created_by = by if getattr(by, "is_authenticated", False) else None
    results: list[DirectDebit | DirectDebitRefused] = []
    new: list[tuple[DirectDebit, DebitRequest]] = []
    for request, end_to_end_id in zip(requests, ids, strict=True):
        if end_to_end_id in existing:
            results.append(existing[end_to_end_id])
            continue
        mandate, amount = request.mandate, request.amount
        if refused := _refusal(organisation, creditor_account, mandate, amount):
            results.append(refused)
            continue
        when = (request.due_on, request.prenotification_days)
        if when not in dates:
            dates[when] = calendar.collection_date_for(
                request.due_on, sent_on=today, lead_days=creditor_account.lead_days, prenotified_on=today,
                prenotification_days=request.prenotification_days)
        first = mandate.last_used_on is None and mandate.pk not in presented
        presented.add(mandate.pk)
        debit = DirectDebit(  # by ids: relations set as objects cost more than the rest of the row
            organisation_id=organisation.pk, customer_id=mandate.customer_id, mandate_id=mandate.pk,
            creditor_account_id=creditor_account.pk, invoice_id=request.invoice.pk if request.invoice else None,
            line_id=request.line_id, amount_minor=amount.minor, currency=amount.currency,
            end_to_end_id=end_to_end_id, sequence_type=SequenceType.FIRST if first else SequenceType.RECURRING,
            collection_date=dates[when], amendment=_amendment(mandate), prenotified_at=now, created_at=now,
            created_by=created_by, represents=request.represents)
        existing[end_to_end_id] = debit
        results.append(debit)
        new.append((debit, request))
    if not new:
        return results
    # One prepared INSERT (core.bulk), the ids read back by end-to-end id (unique): bulk_create's per-row
    # statement building cost more than the rest of scheduling.
    insert_rows(DirectDebit, _DEBIT_COLUMNS, [tuple(getattr(d, name) for name in _DEBIT_ATTRS) for d, _r in new])
    by_id = {d.end_to_end_id: d for d, _r in new}
    for chunk in _chunks(list(by_id)):
        for end_to_end_id, pk in DirectDebit.objects.filter(end_to_end_id__in=chunk).values_list(
                "end_to_end_id", "pk"):
            by_id[end_to_end_id].pk = pk
            by_id[end_to_end_id]._state.adding = False
    emails = []
    for debit, request in new:
        mandate = request.mandate
        customer = mandate.customer
        customer.organisation = organisation  # mandate_language reads it: no query per customer
        emails.append(EmailToQueue(
            to=customer.email, language=mandate_language(customer), related=debit,
            idempotency_key=f"sepa:debit:{debit.pk}:prenotification",
            context={"customer_name": customer.name, "amount": debit.amount, "collection_date": debit.collection_date,
                     "reference": mandate.reference, "creditor_id": organisation.creditor_id,
                     "creditor_name": organisation.name, "masked_iban": mandate.masked_iban,
                     "invoice_number": request.invoice.number if request.invoice else ""}))
    queue_emails(organisation=organisation, template_code="direct_debit_prenotification", emails=emails)
    # Each debit row carries what the single path's event data says (id, amount, date, sequence, mandate) and
    # created_by / created_at: the event says it was scheduled, and by which batch.
    record_events([debit for debit, _r in new], "direct_debit_scheduled", by=by,
                  data={"batch": len(new), "on": today.isoformat()})
    return results


# --- export --------------------------------------------------------------------------------------------------------

_EXPORT_FIELDS = ("pk", "end_to_end_id", "amount_minor", "currency", "customer_id", "customer__name", "mandate_id",
                  "mandate__reference", "mandate__iban", "mandate__bic", "mandate__account_holder",
                  "mandate__signed_on", "mandate__status", "mandate__original_iban", "mandate__original_reference",
                  "sequence_type", "invoice__number", "line_id", "amendment")


def _message_id(organisation: Organisation, today: date) -> str:
    """ENC-<organisation>-<yyyymmdd>-<n>: unique per organisation, at most 30 characters (room for batch numbers)."""
    slug = re.sub(r"[^A-Za-z0-9-]", "", organisation.slug)[:12].strip("-") or str(organisation.pk)
    prefix = f"ENC-{slug}-{today:%Y%m%d}-"
    taken = DebitFile.objects.filter(organisation=organisation, message_id__startswith=prefix).count()
    return f"{prefix}{taken + 1}"


def _chunks(values: list, size: int = _CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def export_direct_debits(*, organisation: Organisation, today: date, collection_date: date | None = None,
                         by: Any = None) -> list[DebitFile]:
    """Write the scheduled debits into pain.008 files (one per bank account, scheme and collection date), freeze
    them and book each file (5113 / 411, lettered with the invoices). Nothing to export → [].

    A debit whose collection date can no longer be honoured (the file is sent
    later than planned) moves to the earliest date the bank accepts: later
    than the pre-notified date, which the rulebook allows. With
    `collection_date`, only the debits collected on that day are exported.
    A debit whose mandate is no longer active, or whose invoice was paid
    meanwhile, is cancelled; one partly paid meanwhile collects what is left.
    Each file is one transaction holding a lock on its bank account, so two
    exports at once never put a debit in two files.
    """
    if not organisation.creditor_id:
        raise DirectDebitRefused(reason=_("the organisation has no SEPA creditor identifier"))
    groups: set[tuple[int, str, date]] = set()
    accounts = {a.pk: a for a in CreditorAccount.objects.filter(organisation=organisation)}
    rows = (DirectDebit.objects.filter(organisation=organisation, status=DirectDebit.Status.SCHEDULED)
            .values_list("creditor_account_id", "mandate__scheme", "collection_date").distinct())
    for account_id, scheme, day in rows:
        effective = max(day, calendar.earliest_collection_date(today, lead_days=accounts[account_id].lead_days))
        if collection_date is None or effective == collection_date:
            groups.add((account_id, scheme, effective))
    files = []
    for account_id, scheme, day in sorted(groups, key=lambda g: (g[2], g[0], g[1])):
        debit_file = _export_group(organisation, accounts[account_id], scheme, day, today=today, by=by)
        if debit_file is not None:
            files.append(debit_file)
    return files


def _export_group(organisation: Organisation, account: CreditorAccount, scheme: str, day: date, *, today: date,
                  by: Any) -> DebitFile | None:
    earliest = calendar.earliest_collection_date(today, lead_days=account.lead_days)
    with transaction.atomic():
        CreditorAccount.objects.select_for_update().filter(pk=account.pk).first()  # one export per account at once
        dates = Q(collection_date__lte=day) if day == earliest else Q(collection_date=day)
        debits = list(DirectDebit.objects.filter(dates, organisation=organisation, creditor_account=account,
                                                 mandate__scheme=scheme, status=DirectDebit.Status.SCHEDULED)
                      .order_by("pk").values_list(*_EXPORT_FIELDS, named=True))
        if not debits:
            return None
        open_on = _lock_and_read_open(debits)
        cancelled, kept = [], []
        for debit in debits:
            still_open = open_on.get(debit.line_id, 0)
            if debit.mandate__status != Mandate.Status.ACTIVE or still_open <= 0:
                cancelled.append(debit)
            else:
                kept.append((debit, min(debit.amount_minor, still_open)))
        if cancelled:
            _cancel(cancelled, organisation_id=organisation.pk, by=by)
        if not kept:
            return None
        return _write_file(organisation, account, scheme, day, kept, today=today, by=by)


def _lock_and_read_open(debits: list) -> dict[int, int]:
    """Lock the receivable lines (as settle() does, in id order) and return what is still open on each."""
    line_ids = sorted({d.line_id for d in debits})
    open_on: dict[int, int] = {}
    for chunk in _chunks(line_ids):
        open_on.update(EntryLine.objects.select_for_update().filter(pk__in=chunk).order_by("pk")
                       .values_list("pk", "debit_minor"))
        for line_id, settled in (Settlement.objects.filter(debit_line_id__in=chunk).values("debit_line_id")
                                 .annotate(s=Sum("amount_minor")).values_list("debit_line_id", "s")):
            open_on[line_id] -= settled
    return open_on


def _cancel(debits: list, *, organisation_id: int, by: Any) -> None:
    update_rows(DirectDebit, ["status"], [(DirectDebit.Status.CANCELLED, d.pk) for d in debits],
                where={"status": DirectDebit.Status.SCHEDULED})
    for debit in debits:
        why = "mandate not active" if debit.mandate__status != Mandate.Status.ACTIVE else "nothing left to collect"
        record_events([DirectDebit(pk=debit.pk, organisation_id=organisation_id)], "direct_debit_cancelled", by=by,
                      data={"reason": why})


def _write_file(organisation: Organisation, account: CreditorAccount, scheme: str, day: date,
                kept: list[tuple[Any, int]], *, today: date, by: Any) -> DebitFile:
    now = timezone.now()
    message_id = _message_id(organisation, timezone.localdate(now))
    creditor = pain008.Creditor(name=organisation.legal_name or organisation.name, iban=account.iban,
                                bic=account.bic or None, creditor_id=organisation.creditor_id, scheme=scheme,
                                schema=account.schema)
    amendments: dict[int, dict[str, str]] = {}
    items = []
    for debit, minor in kept:
        # The mandate's amendment as it is now (it may have changed since scheduling), cleared once sent.
        amendment = {k: v for k, v in (("original_iban", debit.mandate__original_iban),
                                       ("original_reference", debit.mandate__original_reference)) if v}
        amendments[debit.pk] = amendment
        items.append(pain008.Debit(
            end_to_end_id=debit.end_to_end_id, amount=Money(minor, debit.currency),
            debtor_name=debit.mandate__account_holder or debit.customer__name, iban=debit.mandate__iban,
            bic=debit.mandate__bic or None, mandate_reference=debit.mandate__reference,
            mandate_signed_on=debit.mandate__signed_on, sequence_type=debit.sequence_type, collection_date=day,
            remittance=(str(_("Invoice %(number)s")) % {"number": debit.invoice__number}
                        if debit.invoice__number else debit.end_to_end_id),
            amendment=pain008.Amendment(
                original_mandate_reference=amendment.get("original_reference"),
                original_iban=amendment.get("original_iban")) if amendment else None))
    output = pain008.write_pain008(creditor=creditor, debits=items, message_id=message_id, created_at=now)
    del items

    debit_file = DebitFile(
        organisation=organisation, creditor_account=account, message_id=message_id, schema=account.schema,
        scheme=scheme, collection_date=day, count=output.number_of_transactions,
        control_sum_minor=output.control_sum.minor, currency=CURRENCY,
        payment_info_ids={f"{seq}/{d.isoformat()}": pmt for (seq, d), pmt in output.payment_info_ids.items()},
        sha256=hashlib.sha256(output.xml).hexdigest(),
        created_by=by if getattr(by, "is_authenticated", False) else None)
    debit_file.content.save(f"{message_id}.xml", ContentFile(output.xml), save=False)
    debit_file.save()

    entry = _book_file(organisation, debit_file, kept, on=today, by=by)
    payment_lines = list(EntryLine.objects.filter(entry=entry, credit_minor__gt=0).order_by("pk")
                         .values_list("pk", "credit_minor"))
    if len(payment_lines) != len(kept) or any(c != m for (_p, c), (_d, m) in zip(payment_lines, kept, strict=True)):
        raise RuntimeError("the file's entry lines do not follow its debits")  # a bug, never a file

    # Lettering in bulk: each receivable line with its payment line, for what _lock_and_read_open found open.
    created_by = by.pk if getattr(by, "is_authenticated", False) else None
    insert_rows(Settlement, ("organisation", "debit_line", "credit_line", "amount_minor", "currency",
                             "idempotency_key", "created_at", "created_by"),
                [(organisation.pk, debit.line_id, payment_line, minor, debit.currency,
                  export_settlement_key(debit.pk), now, created_by)
                 for (debit, minor), (payment_line, _c) in zip(kept, payment_lines, strict=True)])
    # The debits' new state: what they share in a few set-based UPDATEs, their payment lines in one prepared one.
    changed = 0
    for chunk in _chunks([debit.pk for debit, _m in kept]):
        changed += DirectDebit.objects.filter(pk__in=chunk, status=DirectDebit.Status.SCHEDULED).update(
            status=DirectDebit.Status.EXPORTED, file=debit_file, collection_date=day)
    update_rows(DirectDebit, ["payment_line"], [(payment_line, debit.pk) for (debit, _m), (payment_line, _c)
                                                in zip(kept, payment_lines, strict=True)])
    if changed != len(kept):
        raise RuntimeError("a debit of the file changed while it was exported")  # the account lock prevents it
    for debit, minor in kept:  # the few that differ from what was scheduled: partly paid, or amended meanwhile
        if minor != debit.amount_minor or amendments[debit.pk] != (debit.amendment or {}):
            DirectDebit.objects.filter(pk=debit.pk).update(amount_minor=minor, amendment=amendments[debit.pk])

    mandate_ids = sorted({debit.mandate_id for debit, _m in kept})
    amended = sorted({debit.mandate_id for debit, _m in kept if amendments[debit.pk]})
    for chunk in _chunks(mandate_ids):
        Mandate.objects.filter(Q(last_used_on__isnull=True) | Q(last_used_on__lt=day), pk__in=chunk).update(
            last_used_on=day)
    for chunk in _chunks(amended):
        Mandate.objects.filter(pk__in=chunk).update(original_iban="", original_reference="")
    record_event(debit_file, "debit_file_exported", by=by, data={
        "message_id": message_id, "count": debit_file.count, "control_sum": output.control_sum.as_json(),
        "collection_date": day.isoformat(), "sha256": debit_file.sha256})
    DebitFile.objects.filter(pk=debit_file.pk).update(entry=entry)
    debit_file.entry = entry
    return debit_file


def export_settlement_key(debit_pk: int) -> str:
    return f"sepa:debit:{debit_pk}:export"


def _book_file(organisation: Organisation, debit_file: DebitFile, kept: list[tuple[Any, int]], *, on: date,
               by: Any) -> Entry:
    """One entry per file: 5113 debited with the total, 411 credited per debit (the customer's payment line)."""
    receivable = account_of_kind(organisation, Account.Kind.RECEIVABLE)
    collecting = account_of_kind(organisation, Account.Kind.DIRECT_DEBITS)
    zero = Money.zero(CURRENCY)
    # The ledger needs only each customer's id: stand-ins, not 100,000 rows read back.
    customers = {pk: Customer(pk=pk, organisation_id=organisation.pk) for pk in {d.customer_id for d, _m in kept}}
    lines = [LineDraft(account=collecting, debit=debit_file.control_sum, credit=zero,
                       label=str(_("Direct-debit file %(message_id)s")) % {"message_id": debit_file.message_id})]
    lines += [LineDraft(account=receivable, debit=zero, credit=Money(minor, CURRENCY),
                        party=customers[debit.customer_id],
                        label=f"{debit.invoice__number or ''} {debit.end_to_end_id}".strip())
              for debit, minor in kept]
    draft = EntryDraft(journal=journal_of_kind(organisation, Journal.Kind.BANK), date=on,
                       label=str(_("Direct debits %(message_id)s, collected on %(date)s")) % {
                           "message_id": debit_file.message_id, "date": debit_file.collection_date.isoformat()},
                       lines=tuple(lines))
    return post_entries(organisation, [(draft, f"sepa:file:{debit_file.pk}:export")], by=by)[0]


# --- settlement ----------------------------------------------------------------------------------------------------

def settle_direct_debits(*, today: date, organisation: Organisation | None = None) -> int:
    """Files whose collection date has come: their debits not rejected are collected (512 / 5113).

    Returns how many debits became SETTLED. Each file is settled once (its
    entry's key), in its own transaction; running it again changes nothing.
    """
    files = DebitFile.objects.filter(status=DebitFile.Status.EXPORTED, collection_date__lte=today)
    if organisation is not None:
        files = files.filter(organisation=organisation)
    settled = 0
    for pk in files.order_by("collection_date", "created_at").values_list("pk", flat=True):
        settled += settle_debit_file(DebitFile.objects.get(pk=pk), on=today)
    return settled


def settle_debit_file(debit_file: DebitFile, *, on: date) -> int:
    """The bank credited the file: its debits still EXPORTED are collected. Also used when a camt.054 says so."""
    with transaction.atomic():
        debit_file = DebitFile.objects.select_for_update(of=("self",)).select_related(
            "organisation", "creditor_account__bank_account").get(pk=debit_file.pk)
        if debit_file.status != DebitFile.Status.EXPORTED:
            return 0
        pending = DirectDebit.objects.filter(file=debit_file, status=DirectDebit.Status.EXPORTED)
        total = pending.aggregate(s=Sum("amount_minor"))["s"] or 0
        count = 0
        if total:
            organisation = debit_file.organisation
            amount = Money(total, debit_file.currency)
            zero = Money.zero(debit_file.currency)
            label = str(_("Direct debits %(message_id)s collected")) % {"message_id": debit_file.message_id}
            draft = EntryDraft(journal=journal_of_kind(organisation, Journal.Kind.BANK), date=on, label=label, lines=(
                LineDraft(account=debit_file.creditor_account.bank_account, debit=amount, credit=zero, label=label),
                LineDraft(account=account_of_kind(organisation, Account.Kind.DIRECT_DEBITS), debit=zero,
                          credit=amount, label=label)))
            entry = post_entry(organisation, draft, idempotency_key=f"sepa:file:{debit_file.pk}:settle")
            count = pending.update(status=DirectDebit.Status.SETTLED)
            debit_file.settlement_entry = entry
            debit_file.status = DebitFile.Status.SETTLED
        else:
            debit_file.status = DebitFile.Status.REJECTED  # nothing of it was collected
        debit_file.save(update_fields=["settlement_entry", "status"])
        record_event(debit_file, "debit_file_settled", data={"debits": count, "amount": Money(total, CURRENCY)
                                                             .as_json(), "on": on.isoformat()})
    return count


# --- mandates ------------------------------------------------------------------------------------------------------

@transaction.atomic
def change_mandate_account(*, mandate: Mandate, iban: str, bic: str = "", by: Any = None) -> Mandate:
    """A new IBAN for a mandate: an amendment told to the bank with the next debit (SMNDA / original IBAN).

    The IBAN the debtor's bank knows is kept in original_iban until a debit
    carries the amendment; changed twice before that, the first one stays
    (that is the account the bank has on file). Refused: an invalid IBAN
    (shown masked), a mandate that is not active.
    """
    compact = "".join((iban or "").split()).upper()
    try:
        checked = IBAN(compact)
    except SchwiftyException as error:
        raise MandateChangeRefused(reason=_("%(iban)s is not a valid IBAN (%(why)s)") % {
            "iban": masked_iban(compact), "why": error}) from error
    if not checked.in_sepa_zone:
        raise MandateChangeRefused(reason=_("accounts in %(country)s cannot be debited by SEPA direct debit") % {
            "country": checked.country_code})
    bic = "".join((bic or "").split()).upper()
    if bic:
        try:
            BIC(bic)
        except SchwiftyException as error:
            raise MandateChangeRefused(reason=_("%(bic)s is not a valid BIC (%(why)s)") % {
                "bic": bic, "why": error}) from error
    mandate = Mandate.objects.select_for_update().get(pk=mandate.pk)
    if mandate.status != Mandate.Status.ACTIVE:
        raise MandateChangeRefused(reason=_("the mandate is %(status)s") % {"status": mandate.get_status_display()})
    if checked.compact == mandate.iban:
        return mandate
    before = mandate.iban
    if not mandate.original_iban:
        mandate.original_iban = before
    mandate.iban, mandate.bic = checked.compact, bic
    mandate.save(update_fields=["iban", "bic", "original_iban"])
    record_event(mandate, "mandate_account_changed", by=by, data={
        "from": masked_iban(before), "to": masked_iban(mandate.iban), "original": masked_iban(mandate.original_iban)})
    return mandate


def lapse_mandates(*, today: date) -> int:
    """Mandates unused for 36 months (since their last debit presented, or signature) lapse.

    A mandate with a debit still scheduled or being collected does not lapse.
    """
    limit = _months_before(today, LAPSE_AFTER_MONTHS)
    stale = (Mandate.objects.filter(status=Mandate.Status.ACTIVE)
             .filter(Q(last_used_on__lt=limit) | Q(last_used_on__isnull=True, signed_on__lt=limit))
             .exclude(direct_debits__status__in=DirectDebit.IN_FLIGHT))
    lapsed = 0
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            mandate = Mandate.objects.select_for_update().get(pk=pk)
            if mandate.status != Mandate.Status.ACTIVE:
                continue
            mandate.status = Mandate.Status.LAPSED
            mandate.save(update_fields=["status"])
            record_event(mandate, "mandate_lapsed", data={
                "last_used_on": mandate.last_used_on.isoformat() if mandate.last_used_on else None,
                "signed_on": mandate.signed_on.isoformat()})
            lapsed += 1
    return lapsed


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    while True:
        try:
            return date(year, month, day.day)
        except ValueError:  # 29-31 in a shorter month: its last day
            day -= timedelta(days=1)


__all__ = ["DebitRequest", "DirectDebitRefused", "MandateChangeRefused", "active_creditor_account",
           "change_mandate_account", "end_to_end_id_for", "export_direct_debits", "lapse_mandates",
           "schedule_direct_debit", "schedule_direct_debits", "settle_direct_debits"]
