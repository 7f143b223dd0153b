"""Direct debits before the bank: scheduling with its pre-notification, and mandate upkeep.

The life of a debit (see DirectDebit): scheduled and pre-notified in the
caller's transaction (a collection run, here), written into a frozen pain.008
file and booked, then collected on its collection date (sepa.export) unless
the bank sends it back (sepa.returns).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from typing import Any, NamedTuple

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from encaisse.core.audit import record_event, record_events_for
from encaisse.core.bulk import column_in, in_chunks, insert_rows
from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.ledger.models import EntryLine
from encaisse.notifications.services import EmailToQueue, queue_emails
from encaisse.parties.models import Organisation

from . import calendar
from .models import CreditorAccount, DirectDebit, Mandate, SequenceType, masked_iban
from .services import wording_language

CURRENCY = "EUR"
LAPSE_AFTER_MONTHS = 36


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


def _amendment(mandate: Mandate | MandateFacts) -> dict[str, str]:
    amendment = {}
    if mandate.original_iban:
        amendment["original_iban"] = mandate.original_iban
    if mandate.original_reference:
        amendment["original_reference"] = mandate.original_reference
    return amendment or _NO_AMENDMENT


_NO_AMENDMENT: dict[str, str] = {}  # shared, never changed: core.bulk converts one object once per batch


class MandateFacts(NamedTuple):
    """What scheduling reads of a mandate and its debtor, as plain values.

    A run of 100,000 debits reads these in bulk (collection.selectors.current_mandates)
    instead of building Mandate and Customer instances, which cost more than
    the rest of scheduling; `of()` takes them from a Mandate for the single path.
    Like the two below, a NamedTuple: as immutable as a frozen dataclass, and
    built ten times faster (100,000 of each per run).
    """

    pk: int
    organisation_id: int
    customer_id: int
    status: str
    reference: str
    iban: str
    original_iban: str
    original_reference: str
    last_used_on: date | None
    debtor_name: str
    debtor_email: str
    debtor_language: str

    @classmethod
    def of(cls, mandate: Mandate) -> MandateFacts:
        customer = mandate.customer
        return cls(mandate.pk, mandate.organisation_id, mandate.customer_id, mandate.status, mandate.reference,
                   mandate.iban, mandate.original_iban, mandate.original_reference, mandate.last_used_on,
                   customer.name, customer.email, customer.language)


class DebitRequest(NamedTuple):
    """One debit for schedule_direct_debits: what schedule_direct_debit takes, for one invoice line."""

    mandate: MandateFacts
    invoice_id: int | None
    invoice_number: str
    line_id: int
    amount: Money
    due_on: date
    prenotification_days: int
    key: str
    represents_id: int | None = None  # the debit a re-presentation presents again


class ScheduledDebit(NamedTuple):
    """A debit schedule_direct_debits wrote (or found under the same key): what its callers need of it."""

    pk: int
    end_to_end_id: str
    amount: Money
    collection_date: date
    sequence_type: str


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
            DebitRequest(mandate=MandateFacts.of(mandate), invoice_id=invoice.pk if invoice else None,
                         invoice_number=invoice.number if invoice else "", line_id=line.pk, amount=amount,
                         due_on=due_on, prenotification_days=prenotification_days, key=key,
                         represents_id=represents.pk if represents else None)])
    if isinstance(result, DirectDebitRefused):
        raise result
    return DirectDebit.objects.get(pk=result.pk)


_DEBIT_COLUMNS = ("organisation", "customer", "mandate", "creditor_account", "invoice", "line", "amount_minor",
                  "currency", "end_to_end_id", "sequence_type", "collection_date", "status", "amendment",
                  "prenotified_at", "reason_code", "represents", "created_at", "created_by")


def _refusal(organisation: Organisation, creditor_account: CreditorAccount | None, mandate: MandateFacts,
             amount: Money) -> DirectDebitRefused | None:
    """Why a debit cannot be scheduled, or None."""
    if mandate.status != Mandate.Status.ACTIVE or mandate.organisation_id != organisation.pk:
        return DirectDebitRefused(reason=_("mandate %(reference)s is %(status)s") % {
            "reference": mandate.reference, "status": Mandate.Status(mandate.status).label})
    if not organisation.creditor_id:
        return DirectDebitRefused(reason=_("the organisation has no SEPA creditor identifier"))
    if creditor_account is None:
        return DirectDebitRefused(reason=_("the organisation has no active direct-debit bank account"))
    if amount.currency != CURRENCY:
        return DirectDebitRefused(reason=_("SEPA direct debits are in euros, not %(currency)s") % {
            "currency": amount.currency})
    if amount.minor <= 0:
        return DirectDebitRefused(reason=_("the amount must be positive"))
    if not mandate.debtor_email:
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
    for chunk in in_chunks(mandate_ids):
        presented.update(DirectDebit.objects.filter(column_in(DirectDebit, "mandate", chunk),
                                                    status__in=sent_or_waiting).values_list("mandate_id", flat=True))
    return presented


def _existing(end_to_end_ids: list[str]) -> dict[str, ScheduledDebit]:
    found = {}
    for chunk in in_chunks(end_to_end_ids):
        rows = DirectDebit.objects.filter(column_in(DirectDebit, "end_to_end_id", chunk)).values_list(
            "pk", "end_to_end_id", "amount_minor", "currency", "collection_date", "sequence_type")
        for pk, e2e, minor, currency, day, sequence in rows:
            found[e2e] = ScheduledDebit(pk, e2e, Money(minor, currency), day, sequence)
    return found


def schedule_direct_debits(*, organisation: Organisation, requests: list[DebitRequest], today: date,
                           by: Any = None, listed_by: models.Model | None = None
                           ) -> list[ScheduledDebit | DirectDebitRefused]:
    """schedule_direct_debit for many lines at once, in the caller's transaction: for each request, in order, its
    debit (the existing one for a key already used) or why it was refused (nothing written for it).

    The one place of the rules (schedule_direct_debit is a batch of one):
    end-to-end id from the key, FRST for a mandate's first debit (the first
    of the batch when the mandate was never used), the collection date from
    the SEPA calendar, one pre-notification per debit (queue_emails), one
    audit event per debit — or, when `listed_by` is a record that lists each
    debit of the batch with who and when (a collection run and its lines),
    one event on it for the batch — in a constant number of statements per
    batch. The
    one-in-flight-per-line index (or a pre-notification key queued meanwhile)
    raises IntegrityError for the whole batch: the caller rolls back and
    takes the lines one by one. Written for 100,000 debits a run: plain
    values in, rows out with one prepared statement per table, no model
    instance per debit.
    """
    creditor_account = active_creditor_account(organisation)
    ids = [end_to_end_id_for(organisation.pk, request.key) for request in requests]
    existing = _existing(ids)
    presented = _presented(sorted({r.mandate.pk for r in requests if r.mandate.last_used_on is None}))
    dates: dict[tuple[date, int], date] = {}
    now = timezone.now()
    created_by = by.pk if getattr(by, "is_authenticated", False) else None
    results: list[ScheduledDebit | DirectDebitRefused | None] = []
    rows: list[tuple] = []
    new: list[tuple[int, DebitRequest, str, date, str]] = []  # (position, request, e2e, date, sequence)
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
        sequence = (SequenceType.FIRST if mandate.last_used_on is None and mandate.pk not in presented
                    else SequenceType.RECURRING)
        presented.add(mandate.pk)
        rows.append((organisation.pk, mandate.customer_id, mandate.pk, creditor_account.pk, request.invoice_id,
                     request.line_id, amount.minor, amount.currency, end_to_end_id, sequence, dates[when],
                     DirectDebit.Status.SCHEDULED, _amendment(mandate), now, "", request.represents_id, now,
                     created_by))
        existing[end_to_end_id] = None  # a key twice in one batch: the second gets the first's debit below
        new.append((len(results), request, end_to_end_id, dates[when], sequence))
        results.append(None)
    if not new:
        return results
    insert_rows(DirectDebit, _DEBIT_COLUMNS, rows)
    del rows
    written = {}
    for chunk in in_chunks([e2e for _n, _r, e2e, _d, _s in new]):
        written.update(DirectDebit.objects.filter(column_in(DirectDebit, "end_to_end_id", chunk))
                       .values_list("end_to_end_id", "pk"))
    language = {}  # the customer's language if the mandate wording exists in it, else the organisation's
    emails = []
    for position, request, end_to_end_id, day, sequence in new:
        mandate = request.mandate
        debit = results[position] = ScheduledDebit(written[end_to_end_id], end_to_end_id, request.amount, day,
                                                    sequence)
        if mandate.debtor_language not in language:
            language[mandate.debtor_language] = wording_language(mandate.debtor_language, organisation.language)
        emails.append(EmailToQueue(
            to=mandate.debtor_email, language=language[mandate.debtor_language], related=(DirectDebit, debit.pk),
            idempotency_key=f"sepa:debit:{debit.pk}:prenotification",
            context={"customer_name": mandate.debtor_name, "amount": request.amount, "collection_date": day,
                     "reference": mandate.reference, "creditor_id": organisation.creditor_id,
                     "creditor_name": organisation.name, "masked_iban": masked_iban(mandate.iban),
                     "invoice_number": request.invoice_number}))
    for position, result in enumerate(results):  # a key repeated within the batch
        if result is None:
            results[position] = next(r for r in results if isinstance(r, ScheduledDebit)
                                     and r.end_to_end_id == ids[position])
    queue_emails(organisation=organisation, template_code="direct_debit_prenotification", emails=emails)
    # Each debit row carries what the single path's event data says (id, amount, date, sequence, mandate) and
    # created_by / created_at: the event says it was scheduled, and by which batch.
    scheduled = [written[e2e] for _n, _r, e2e, _d, _s in new]
    if listed_by is not None:
        record_event(listed_by, "direct_debits_scheduled", by=by, data={"count": len(new), "on": today.isoformat()})
    else:
        record_events_for(DirectDebit, scheduled, "direct_debit_scheduled", organisation_id=organisation.pk, by=by,
                          data={"batch": len(new), "on": today.isoformat()})
    return results


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


__all__ = ["DebitRequest", "DirectDebitRefused", "MandateChangeRefused", "MandateFacts", "ScheduledDebit",
           "active_creditor_account", "change_mandate_account", "end_to_end_id_for", "lapse_mandates",
           "schedule_direct_debit", "schedule_direct_debits"]
