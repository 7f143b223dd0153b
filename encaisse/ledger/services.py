"""Writing to the ledger: post, reverse, settle, open and close periods.

Every function here runs inside the caller's transaction (or opens one) and
either writes everything it was asked to or nothing. Entries are appended to
the organisation's hash chain under a lock on its LedgerHead row, so two
postings never take the same sequence number or the same previous hash.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from encaisse.core.audit import record_event
from encaisse.core.bulk import insert_rows
from encaisse.core.errors import CurrencyMismatch
from encaisse.core.money import Money
from encaisse.core.origin import current_origin
from encaisse.parties.models import Customer, Organisation

from .chart import DEFAULT_ACCOUNTS, DEFAULT_JOURNALS
from .errors import EmptyEntry, ForeignAccount, PeriodClosed, SettlementRefused, UnbalancedEntry
from .models import Account, Entry, EntryLine, FiscalYear, Journal, LedgerHead, Period, Settlement
from .selectors import open_amount


@dataclass(frozen=True, slots=True, kw_only=True)
class LineDraft:
    account: Account
    debit: Money
    credit: Money
    party: Customer | None = None
    due_on: date | None = None
    label: str = ""

    @classmethod
    def signed(cls, account: Account, amount: Money, **extra: Any) -> LineDraft:
        """Put a positive amount on the debit side and a negative one on the credit side."""
        zero = Money.zero(amount.currency)
        if amount.minor >= 0:
            return cls(account=account, debit=amount, credit=zero, **extra)
        return cls(account=account, debit=zero, credit=-amount, **extra)


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryDraft:
    journal: Journal
    date: date
    label: str
    lines: tuple[LineDraft, ...]
    reverses: Entry | None = None


def entry_hash(*, prev_hash: str, organisation_id: int, sequence: int, journal_code: str, entry_date: date,
               label: str, key: str, reverses_id: int | None, lines: Iterable[tuple]) -> str:
    """Hash an entry's content together with the previous hash: the link of the chain.

    `lines` are (account code, party id, debit, credit, currency, due_on iso or
    None, label) in the order they were written.
    """
    payload = json.dumps(
        [organisation_id, sequence, journal_code, entry_date.isoformat(), label, key, reverses_id,
         list(lines)],  # tuples: JSON arrays, as lists are
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def line_fingerprint(*, account_code: str, party_id: int | None, debit: int, credit: int, currency: str,
                     due_on: date | None, label: str) -> tuple:
    return (account_code, party_id, debit, credit, currency, due_on.isoformat() if due_on else None, label)


def _check_draft(draft: EntryDraft, organisation_id: int) -> None:
    if not draft.lines:
        raise EmptyEntry(label=draft.label)
    first = draft.lines[0].debit
    total = 0  # minor units: exact, and cheaper than Money in a batch of thousands
    for line in draft.lines:
        if line.account.organisation_id != organisation_id:
            raise ForeignAccount(account=line.account.code)
        for amount in (line.debit, line.credit):
            if amount.currency != first.currency:
                raise CurrencyMismatch(first, amount)
        total += line.debit.minor - line.credit.minor
    if total != 0:
        raise UnbalancedEntry(label=draft.label, imbalance=Money(total, first.currency))


class _PeriodGuard:
    """Answer "may an entry be dated d?" once per month and organisation within one posting call."""

    def __init__(self, organisation: Organisation) -> None:
        self.organisation = organisation
        self._checked: set[tuple[int, int]] = set()

    def check(self, day: date) -> None:
        month = (day.year, day.month)
        if month in self._checked:
            return
        period = ensure_fiscal_year(organisation=self.organisation, day=day)
        if period.state == Period.State.CLOSED:
            raise PeriodClosed(period=str(period), date=day.isoformat())
        self._checked.add(month)


def ensure_fiscal_year(*, organisation: Organisation, day: date) -> Period:
    """Return the period holding `day`, opening a calendar fiscal year for it if there is none."""
    period = Period.objects.filter(organisation=organisation, start__lte=day, end__gte=day).first()
    if period is not None:
        return period
    year, _created = FiscalYear.objects.get_or_create(
        organisation=organisation,
        start=date(day.year, 1, 1),
        defaults={"end": date(day.year, 12, 31), "name": str(day.year)},
    )
    for month in range(1, 13):
        last = calendar.monthrange(day.year, month)[1]
        Period.objects.get_or_create(
            organisation=organisation,
            start=date(day.year, month, 1),
            defaults={"fiscal_year": year, "end": date(day.year, month, last)},
        )
    return Period.objects.get(organisation=organisation, start__lte=day, end__gte=day)


@transaction.atomic
def post_entries(
    organisation: Organisation, drafts: Sequence[tuple[EntryDraft, str]], *, by: Any = None
) -> list[Entry]:
    """Append balanced, immutable entries to the organisation's chain; return them in order.

    Each draft comes with its idempotency key. A key already written returns the
    entry written the first time and writes nothing, so a retried task or a
    double click records an event once. Raises UnbalancedEntry, EmptyEntry,
    ForeignAccount or PeriodClosed before writing anything.
    """
    head = _locked_head(organisation)
    # Read under the lock: a concurrent poster may have written some keys meanwhile.
    existing = {e.idempotency_key: e for e in Entry.objects.filter(
        organisation=organisation, idempotency_key__in=[key for _draft, key in drafts])}
    guard = _PeriodGuard(organisation)
    for draft, key in drafts:
        if key not in existing:
            _check_draft(draft, organisation.pk)
            guard.check(draft.date)

    user = by if getattr(by, "is_authenticated", False) else None
    origin, now = current_origin(), timezone.now()
    first_sequence = head.last_sequence + 1
    new_entries: list[Entry] = []
    new_lines: list[tuple] = []  # (sequence, organisation, account, party, debit, credit, currency, due_on, label)
    seen: set[str] = set()
    for draft, key in drafts:
        if key in existing or key in seen:
            continue
        seen.add(key)
        lines = [
            (line.account, line.party, line.debit.minor, line.credit.minor, line.debit.currency, line.due_on,
             line.label[:200])
            for line in draft.lines
        ]
        entry = _chain_entry(organisation, head, journal=draft.journal, day=draft.date, label=draft.label, key=key,
                             reverses=draft.reverses, user=user, origin=origin, now=now, fingerprints=[
                                 line_fingerprint(account_code=account.code, party_id=party.pk if party else None,
                                                  debit=debit, credit=credit, currency=currency, due_on=due_on,
                                                  label=label)
                                 for account, party, debit, credit, currency, due_on, label in lines])
        new_entries.append(entry)
        new_lines.extend(
            (entry.sequence, organisation.pk, account.pk, party.pk if party else None, debit, credit, currency,
             due_on, label)
            for account, party, debit, credit, currency, due_on, label in lines
        )
    if new_entries:
        _write_entries(organisation, first_sequence, new_entries, new_lines)
        LedgerHead.objects.filter(pk=head.pk).update(last_sequence=head.last_sequence, last_hash=head.last_hash)
    written = {e.idempotency_key: e for e in new_entries}
    return [existing.get(key) or written[key] for _draft, key in drafts]


def _locked_head(organisation: Organisation) -> LedgerHead:
    head, _created = LedgerHead.objects.get_or_create(organisation=organisation)
    return LedgerHead.objects.select_for_update().get(pk=head.pk)


def _chain_entry(organisation: Organisation, head: LedgerHead, *, journal: Journal, day: date, label: str, key: str,
                 reverses: Entry | None, user: Any, origin: str, now: Any, fingerprints: list[tuple]) -> Entry:
    """The next entry of the chain (not saved): its sequence and hash follow `head`, which moves on to it."""
    sequence = head.last_sequence + 1
    digest = entry_hash(prev_hash=head.last_hash, organisation_id=organisation.pk, sequence=sequence,
                        journal_code=journal.code, entry_date=day, label=label[:200], key=key,
                        reverses_id=reverses.pk if reverses else None, lines=fingerprints)
    values = {
        "id": None, "organisation_id": organisation.pk, "journal_id": journal.pk, "sequence": sequence,
        "date": day, "label": label[:200], "idempotency_key": key,
        "reverses_id": reverses.pk if reverses else None, "posted_by_id": user.pk if user else None,
        "posted_at": now, "origin": origin, "prev_hash": head.last_hash, "hash": digest,
    }
    # Positional arguments in column order: the constructor's fast path, half the cost of keywords.
    entry = Entry(*(values[field.attname] for field in Entry._meta.concrete_fields))
    for name, value in (("organisation", organisation), ("journal", journal), ("reverses", reverses),
                        ("posted_by", user)):
        if value is not None:  # a null foreign key reads as None without a query anyway
            Entry._meta.get_field(name).set_cached_value(entry, value)
    head.last_sequence = sequence
    head.last_hash = digest
    return entry


@dataclass(frozen=True, slots=True)
class PostedLines:
    """An entry written by post_entry_lines and its lines' ids, in the order the lines were given."""

    entry: Entry
    line_ids: list[int]


@transaction.atomic
def post_entry_lines(organisation: Organisation, *, journal: Journal, day: date, label: str, currency: str,
                     lines: Sequence[tuple[int, int | None, int, int, str]], idempotency_key: str,
                     by: Any = None) -> PostedLines:
    """Append one entry of many lines given as plain tuples (account id, party id, debit, credit, label).

    For an entry of tens of thousands of lines (a direct-debit file books one
    line per debit): post_entries would build a LineDraft, Money amounts and a
    party instance per line, which costs more than writing them. The rules are
    post_entries': a key already written returns that entry (and its lines'
    ids) and writes nothing; EmptyEntry, ForeignAccount, UnbalancedEntry
    (amounts must be integers in minor units) and PeriodClosed are raised
    before anything is written. Lines are inserted in order with one prepared
    statement, so their ids, read back in id order, follow `lines`.
    """
    head = _locked_head(organisation)
    if entry := Entry.objects.filter(organisation=organisation, idempotency_key=idempotency_key).first():
        return PostedLines(entry, list(entry.lines.order_by("pk").values_list("pk", flat=True)))
    if not lines:
        raise EmptyEntry(label=label)
    codes = dict(Account.objects.filter(organisation=organisation, pk__in={line[0] for line in lines})
                 .values_list("pk", "code"))
    if foreign := {line[0] for line in lines} - codes.keys():
        account = Account.objects.filter(pk__in=foreign).order_by("pk").first()
        raise ForeignAccount(account=account.code if account else str(min(foreign)))
    debits, credits = sum(line[2] for line in lines), sum(line[3] for line in lines)
    if type(debits) is not int or type(credits) is not int:  # a float or a Decimal among them
        raise TypeError("ledger amounts are integers in minor units")
    if debits != credits:
        raise UnbalancedEntry(label=label, imbalance=Money(debits - credits, currency))
    _PeriodGuard(organisation).check(day)

    user = by if getattr(by, "is_authenticated", False) else None
    fingerprints = [(codes[account], party, debit, credit, currency, None, text[:200])
                    for account, party, debit, credit, text in lines]
    entry = _chain_entry(organisation, head, journal=journal, day=day, label=label, key=idempotency_key,
                         reverses=None, user=user, origin=current_origin(), now=timezone.now(),
                         fingerprints=fingerprints)
    _write_entries(organisation, entry.sequence, [entry], [])
    # The lines without due dates: the column is left out (NULL), so no value needs converting on the way.
    entry_id, org = entry.pk, organisation.pk
    insert_rows(EntryLine, BULK_LINE_COLUMNS, [(entry_id, org, account, party, debit, credit, currency, text[:200])
                                              for account, party, debit, credit, text in lines])
    LedgerHead.objects.filter(pk=head.pk).update(last_sequence=head.last_sequence, last_hash=head.last_hash)
    line_ids = list(EntryLine.objects.filter(entry=entry).order_by("pk").values_list("pk", flat=True))
    return PostedLines(entry, line_ids)


ENTRY_COLUMNS = ("organisation", "journal", "sequence", "date", "label", "idempotency_key", "reverses",
                 "posted_by", "posted_at", "origin", "prev_hash", "hash")
LINE_COLUMNS = ("entry", "organisation", "account", "party", "debit_minor", "credit_minor", "currency", "due_on",
                "label")
BULK_LINE_COLUMNS = ("entry", "organisation", "account", "party", "debit_minor", "credit_minor", "currency", "label")


def _write_entries(organisation: Organisation, first_sequence: int, entries: list[Entry],
                   lines: list[tuple]) -> None:
    """INSERT the entries, then their lines, each table in one prepared statement (executemany).

    A batch posting writes tens of thousands of rows; the ORM's bulk_create
    spends more time compiling them than the database spends storing them.
    Entries get their ids back by sequence (unique per organisation); the
    Entry objects are then marked saved, so the append-only guard holds.
    """
    insert_rows(Entry, ENTRY_COLUMNS, [
        tuple(getattr(entry, Entry._meta.get_field(name).attname) for name in ENTRY_COLUMNS) for entry in entries
    ])
    ids = dict(Entry.objects.filter(organisation=organisation, sequence__gte=first_sequence)
               .values_list("sequence", "pk"))
    alias = router.db_for_write(Entry)
    for entry in entries:
        entry.pk = ids[entry.sequence]
        entry._state.adding = False
        entry._state.db = alias
    insert_rows(EntryLine, LINE_COLUMNS, [(ids[line[0]], *line[1:]) for line in lines])


def post_entry(organisation: Organisation, draft: EntryDraft, *, idempotency_key: str, by: Any = None) -> Entry:
    """Write one balanced, immutable entry, or return the one already written under this key."""
    return post_entries(organisation, [(draft, idempotency_key)], by=by)[0]


@transaction.atomic
def reverse_entry(*, entry: Entry, on: date, label: str, idempotency_key: str, by: Any = None) -> Entry:
    """Write the mirror image of `entry`: the correction of a fact is a new fact, never an edit."""
    lines = tuple(
        LineDraft(account=line.account, debit=line.credit, credit=line.debit, party=line.party,
                  due_on=line.due_on, label=line.label)
        for line in entry.lines.select_related("account", "party")
    )
    draft = EntryDraft(journal=entry.journal, date=on, label=label, lines=lines, reverses=entry)
    return post_entry(entry.organisation, draft, idempotency_key=idempotency_key, by=by)


@transaction.atomic
def settle(
    *, debit_line_id: int, credit_line_id: int, amount: Money | None = None, idempotency_key: str, by: Any = None
) -> Settlement | None:
    """Match part of a debit line with part of a credit line of the same customer account.

    Settles `amount`, or as much as both lines still have open. Returns None if
    nothing is left to settle. Both lines are locked (in id order, so two
    settlements cannot deadlock) before what remains is computed.
    """
    lines = {
        line.pk: line
        for line in EntryLine.objects.select_for_update()
        .filter(pk__in=sorted({debit_line_id, credit_line_id}))
        .order_by("pk")
    }
    debit, credit = lines[debit_line_id], lines[credit_line_id]
    if existing := Settlement.objects.filter(organisation_id=debit.organisation_id,
                                             idempotency_key=idempotency_key).first():
        return existing
    if debit.account_id != credit.account_id or debit.party_id != credit.party_id:
        raise SettlementRefused(reason="not the same customer account")
    if debit.currency != credit.currency:
        raise SettlementRefused(reason="not the same currency")
    if debit.debit_minor <= 0 or credit.credit_minor <= 0:
        raise SettlementRefused(reason="a debit line and a credit line are needed")
    available = min(open_amount(debit).minor, open_amount(credit).minor)
    wanted = available if amount is None else amount.minor
    if wanted > available:
        raise SettlementRefused(reason=f"only {Money(available, debit.currency)} is open on both lines")
    if wanted <= 0:
        return None
    return Settlement.objects.create(
        organisation_id=debit.organisation_id,
        debit_line=debit,
        credit_line=credit,
        amount_minor=wanted,
        currency=debit.currency,
        idempotency_key=idempotency_key,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )


@transaction.atomic
def unsettle(*, settlement: Settlement, idempotency_key: str, by: Any = None) -> Settlement:
    """Undo a settlement (délettrage) with a negative one naming it; both lines are open again by its amount.

    Used when the money that settled a debit did not arrive after all (a
    direct debit rejected or returned by the bank): the invoice is owed
    again, and the reversing entry's own line is then settled against the
    payment's. Settlements stay append-only. Undoing one twice returns the
    first undoing (the one-to-one link is unique), as does the same key.
    """
    lines = list(EntryLine.objects.select_for_update()
                 .filter(pk__in=sorted({settlement.debit_line_id, settlement.credit_line_id})).order_by("pk"))
    assert lines, "the settled lines exist"
    if existing := Settlement.objects.filter(organisation_id=settlement.organisation_id,
                                             idempotency_key=idempotency_key).first():
        return existing
    if existing := Settlement.objects.filter(reverses=settlement).first():
        return existing
    if settlement.reverses_id is not None or settlement.amount_minor <= 0:
        raise SettlementRefused(reason="only a settlement can be undone, not an undoing")
    return Settlement.objects.create(
        organisation_id=settlement.organisation_id, debit_line_id=settlement.debit_line_id,
        credit_line_id=settlement.credit_line_id, amount_minor=-settlement.amount_minor,
        currency=settlement.currency, idempotency_key=idempotency_key, reverses=settlement,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )


@transaction.atomic
def close_period(*, organisation: Organisation, month: date, by: Any = None) -> Period:
    """Close the month holding `month`: from now on no entry may be dated in it."""
    period = ensure_fiscal_year(organisation=organisation, day=month)
    period = Period.objects.select_for_update().get(pk=period.pk)
    if period.state != Period.State.CLOSED:
        period.state = Period.State.CLOSED
        period.closed_at = timezone.now()
        period.closed_by = by if getattr(by, "is_authenticated", False) else None
        period.save(update_fields=["state", "closed_at", "closed_by"])
        record_event(period, "closed", by=by)
    return period


def create_default_chart(organisation: Organisation) -> None:
    """Create the PCG accounts and journals of a new organisation (idempotent)."""
    for code, name, kind in DEFAULT_ACCOUNTS:
        Account.objects.get_or_create(organisation=organisation, code=code,
                                      defaults={"name": str(name), "kind": kind})
    for code, name, kind in DEFAULT_JOURNALS:
        Journal.objects.get_or_create(organisation=organisation, code=code,
                                      defaults={"name": str(name), "kind": kind})
    LedgerHead.objects.get_or_create(organisation=organisation)


def account_of_kind(organisation: Organisation, kind: str) -> Account:
    """Return the organisation's first account of a kind (411 for receivable, 419 for advances...)."""
    return Account.objects.filter(organisation=organisation, kind=kind).order_by("code").first()


def journal_of_kind(organisation: Organisation, kind: str) -> Journal:
    return Journal.objects.filter(organisation=organisation, kind=kind).order_by("code").first()
