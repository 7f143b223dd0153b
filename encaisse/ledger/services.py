"""Writing to the ledger: post, reverse, settle, open and close periods.

Every function here runs inside the caller's transaction (or opens one) and
either writes everything it was asked to or nothing. Entries are appended to
the organisation's hash chain under a lock on its LedgerHead row, so two
postings never take the same sequence number or the same previous hash.

post_entries and settle, called thousands of times by a collection run inside
its callers' transactions, take no savepoint of their own: every refusal is
raised before they write an entry, a line or a settlement or move the head (a
refused posting may leave the fiscal year it opened for a date, as any later
posting would open it), and a failure while writing (a database error) marks
the caller's transaction for rollback, so half an entry can never be committed.
On PostgreSQL the rows they lock (the head, the two lines) stay locked until
the caller's transaction ends, refused or not. A caller that would catch a
database error of theirs and go on must wrap the call in its own
transaction.atomic() (none does today). The other functions keep a savepoint
(transaction.atomic).
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Max, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from encaisse.core.audit import record_event
from encaisse.core.bulk import insert_returning, insert_rows
from encaisse.core.errors import CurrencyMismatch
from encaisse.core.money import Money
from encaisse.core.origin import current_origin
from encaisse.core.prepared import Prepared
from encaisse.parties.models import Customer, Organisation

from .chart import DEFAULT_ACCOUNTS, DEFAULT_JOURNALS
from .errors import EmptyEntry, ForeignAccount, PeriodClosed, SettlementRefused, UnbalancedEntry
from .models import Account, Entry, EntryLine, FiscalYear, Journal, LedgerHead, Period, Settlement
from .selectors import ACCOUNT_FIELDS, accounts_of_kinds


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
        found = _PERIOD_STATE.rows(organisation_id=self.organisation.pk, day=day)
        if not found or found[0][0] == Period.State.CLOSED:  # no period yet (opened now), or one to name
            period = ensure_fiscal_year(organisation=self.organisation, day=day)
            if period.state == Period.State.CLOSED:
                raise PeriodClosed(period=str(period), date=day.isoformat())
        self._checked.add(month)


# Markers standing for the arguments of the reads compiled once (see core/prepared.py).
_ID, _OTHER_ID, _KEY, _DAY = -2_000_000_001, -2_000_000_002, "\x00marker:key\x00", date(1, 1, 2)

# The state of the period holding a day: ensure_fiscal_year's read, without building the Period.
_PERIOD_STATE = Prepared(
    lambda organisation_id, day: Period.objects.filter(organisation_id=organisation_id, start__lte=day, end__gte=day)
    .order_by("start").values_list("state")[:1],
    organisation_id=_ID, day=_DAY)


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


def _transaction() -> AbstractContextManager[Any]:
    """The caller's transaction when there is one (no savepoint: see the module docstring), else a new one."""
    if connections[router.db_for_write(Entry)].in_atomic_block:
        return nullcontext()
    return transaction.atomic(using=router.db_for_write(Entry))


def post_entries(
    organisation: Organisation, drafts: Sequence[tuple[EntryDraft, str]], *, by: Any = None
) -> list[Entry]:
    """Append balanced, immutable entries to the organisation's chain; return them in order.

    Each draft comes with its idempotency key. A key already written returns the
    entry written the first time and writes nothing, so a retried task or a
    double click records an event once. Raises UnbalancedEntry, EmptyEntry,
    ForeignAccount or PeriodClosed before writing anything.

    An entry written by a call for one draft comes back with its lines
    (`entry.lines.all()` and each line's account need no query), which a
    payment then settles.
    """
    with _transaction():
        head = _locked_head(organisation)
        # Read under the lock: a concurrent poster may have written some keys meanwhile.
        existing = _written_under(organisation, [key for _draft, key in drafts])
        guard = _PeriodGuard(organisation)
        for draft, key in drafts:
            if key not in existing:
                _check_draft(draft, organisation.pk)
                guard.check(draft.date)

        user = by if getattr(by, "is_authenticated", False) else None
        origin, now = current_origin(), timezone.now()
        first_sequence = head.last_sequence + 1
        new_entries: list[Entry] = []
        new_lines: list[tuple] = []  # (account, party, debit, credit, currency, due_on, label) of each new entry
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
            entry = _chain_entry(organisation, head, journal=draft.journal, day=draft.date, label=draft.label,
                                 key=key, reverses=draft.reverses, user=user, origin=origin, now=now, fingerprints=[
                                     line_fingerprint(account_code=account.code, party_id=party.pk if party else None,
                                                      debit=debit, credit=credit, currency=currency, due_on=due_on,
                                                      label=label)
                                     for account, party, debit, credit, currency, due_on, label in lines])
            new_entries.append(entry)
            new_lines.append(lines)
        if new_entries:
            # The writes go together or not at all: in the caller's transaction, a failure here marks it for
            # rollback rather than leaving an entry without its lines or a head that does not match the chain.
            with transaction.mark_for_rollback_on_error(using=router.db_for_write(Entry)):
                if len(new_entries) == 1 and _returns_ids():
                    _write_entry(organisation, new_entries[0], new_lines[0])
                else:
                    _write_entries(organisation, first_sequence, new_entries, [
                        (entry.sequence, organisation.pk, account.pk, party.pk if party else None, debit, credit,
                         currency, due_on, label)
                        for entry, lines in zip(new_entries, new_lines, strict=True)
                        for account, party, debit, credit, currency, due_on, label in lines])
                LedgerHead.objects.filter(pk=head.pk).update(last_sequence=head.last_sequence,
                                                             last_hash=head.last_hash)
    written = {e.idempotency_key: e for e in new_entries}
    return [existing.get(key) or written[key] for _draft, key in drafts]


def _written_under(organisation: Organisation, keys: list[str]) -> dict[str, Entry]:
    """The entries already written under these keys, by key (one key: a prepared read, and the entry only if any)."""
    if len(keys) != 1:
        return {e.idempotency_key: e for e in Entry.objects.filter(organisation=organisation,
                                                                   idempotency_key__in=keys)}
    found = _ENTRY_UNDER_KEY.rows(organisation_id=organisation.pk, key=keys[0])
    return {keys[0]: Entry.objects.get(pk=found[0][0])} if found else {}


_ENTRY_UNDER_KEY = Prepared(
    lambda organisation_id, key: Entry.objects.filter(organisation_id=organisation_id, idempotency_key=key)
    .order_by().values_list("pk"),
    organisation_id=_ID, key=_KEY)


def _locked_head(organisation: Organisation) -> LedgerHead:
    """The organisation's LedgerHead, locked until the transaction ends: one query once it exists."""
    found = _LOCKED_HEAD.rows(organisation_id=organisation.pk)
    if not found:  # the organisation's first posting (create_default_chart makes the head)
        LedgerHead.objects.get_or_create(organisation=organisation)
        found = _LOCKED_HEAD.rows(organisation_id=organisation.pk)
    pk, last_sequence, last_hash = found[0]
    return LedgerHead.from_db(router.db_for_write(LedgerHead), ["id", "organisation_id", "last_sequence", "last_hash"],
                              (pk, organisation.pk, last_sequence, last_hash))


_LOCKED_HEAD = Prepared(
    lambda organisation_id: LedgerHead.objects.select_for_update().filter(organisation_id=organisation_id)
    .values_list("pk", "last_sequence", "last_hash"),
    organisation_id=_ID)


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
    if len(entries) == 1 and _returns_ids():
        _insert_entry(entries[0])
    else:
        insert_rows(Entry, ENTRY_COLUMNS, [_entry_row(entry) for entry in entries])
        ids = dict(Entry.objects.filter(organisation=organisation, sequence__gte=first_sequence)
                   .values_list("sequence", "pk"))
        alias = router.db_for_write(Entry)
        for entry in entries:
            _mark_saved(entry, ids[entry.sequence], alias)
    ids = {entry.sequence: entry.pk for entry in entries}
    insert_rows(EntryLine, LINE_COLUMNS, [(ids[line[0]], *line[1:]) for line in lines])


def _write_entry(organisation: Organisation, entry: Entry, lines: list[tuple]) -> None:
    """INSERT one entry and its lines, both getting their ids back (RETURNING): no query to find them again.

    The lines, with their accounts and parties, are then the entry's
    `lines.all()`, as if prefetched: a payment settles its receivable line
    without reading it back.
    """
    _insert_entry(entry)
    rows = [(entry.pk, organisation.pk, account.pk, party.pk if party else None, debit, credit, currency, due_on,
             label) for account, party, debit, credit, currency, due_on, label in lines]
    alias = router.db_for_write(EntryLine)
    attnames = [EntryLine._meta.get_field(name).attname for name in LINE_COLUMNS]
    written = []
    for pk, row, (account, party, *_amounts) in zip(insert_returning(EntryLine, LINE_COLUMNS, rows), rows, lines,
                                                   strict=True):
        values = {"id": pk, **dict(zip(attnames, row, strict=True))}
        line = EntryLine(*(values[field.attname] for field in EntryLine._meta.concrete_fields))
        _mark_saved(line, pk, alias)
        for name, value in (("entry", entry), ("organisation", organisation), ("account", account),
                            ("party", party)):
            EntryLine._meta.get_field(name).set_cached_value(line, value)
        written.append(line)
    # What prefetch_related("lines") would leave on the entry, without its query.
    manager = entry.lines
    cached = manager.get_queryset()
    cached._result_cache, cached._prefetch_done = written, True
    if not hasattr(entry, "_prefetched_objects_cache"):
        entry._prefetched_objects_cache = {}
    entry._prefetched_objects_cache[manager.field.remote_field.cache_name] = cached


def _returns_ids() -> bool:
    """Whether an INSERT of several rows can return their ids (PostgreSQL; SQLite from 3.35)."""
    return connections[router.db_for_write(Entry)].features.can_return_rows_from_bulk_insert


def _entry_row(entry: Entry) -> tuple:
    return tuple(getattr(entry, Entry._meta.get_field(name).attname) for name in ENTRY_COLUMNS)


def _insert_entry(entry: Entry) -> None:
    (pk,) = insert_returning(Entry, ENTRY_COLUMNS, [_entry_row(entry)])
    _mark_saved(entry, pk, router.db_for_write(Entry))


def _mark_saved(obj: Entry | EntryLine, pk: int, alias: str) -> None:
    """The row is in the database: the append-only guard now refuses to save the object again."""
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = alias


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


def settle(
    *, debit_line_id: int, credit_line_id: int, amount: Money | None = None, idempotency_key: str, by: Any = None
) -> Settlement | None:
    """Match part of a debit line with part of a credit line of the same customer account.

    Settles `amount`, or as much as both lines still have open. Returns None if
    nothing is left to settle. Both lines are locked (in id order, so two
    settlements cannot deadlock) before what remains is computed. The same key
    again returns the settlement made the first time. SettlementRefused is
    raised before anything is written.
    """
    with _transaction():
        # Locked in id order (an IN list of the same id twice is one line).
        lines = {row[0]: row for row in _LOCKED_LINES.rows(first=min(debit_line_id, credit_line_id),
                                                           second=max(debit_line_id, credit_line_id))}
        debit, credit = _SettledLine(*lines[debit_line_id]), _SettledLine(*lines[credit_line_id])
        # Under the locks, in one query: a settlement already made under this key, and what settled each line
        # so far (selectors.open_amount's sums, for both lines at once).
        ((existing, debit_settled, credit_settled),) = _SETTLED.rows(
            organisation_id=debit.organisation_id, key=idempotency_key, debit=debit.pk, credit=credit.pk)
        if existing is not None:
            return Settlement.objects.get(pk=existing)
        if debit.account_id != credit.account_id or debit.party_id != credit.party_id:
            raise SettlementRefused(reason="not the same customer account")
        if debit.currency != credit.currency:
            raise SettlementRefused(reason="not the same currency")
        if debit.debit_minor <= 0 or credit.credit_minor <= 0:
            raise SettlementRefused(reason="a debit line and a credit line are needed")
        available = min(debit.debit_minor - debit_settled, credit.credit_minor - credit_settled)
        wanted = available if amount is None else amount.minor
        if wanted > available:
            raise SettlementRefused(reason=f"only {Money(available, debit.currency)} is open on both lines")
        if wanted <= 0:
            return None
        return Settlement.objects.create(  # one INSERT: whole or not at all
            organisation_id=debit.organisation_id,
            debit_line_id=debit.pk,
            credit_line_id=credit.pk,
            amount_minor=wanted,
            currency=debit.currency,
            idempotency_key=idempotency_key,
            created_by=by if getattr(by, "is_authenticated", False) else None,
        )


@dataclass(frozen=True, slots=True)
class _SettledLine:
    """What settle needs of a line it locked."""

    pk: int
    organisation_id: int
    account_id: int
    party_id: int | None
    debit_minor: int
    credit_minor: int
    currency: str


_LOCKED_LINES = Prepared(
    lambda first, second: EntryLine.objects.select_for_update().filter(pk__in=[first, second]).order_by("pk")
    .values_list("pk", "organisation_id", "account_id", "party_id", "debit_minor", "credit_minor", "currency"),
    first=_ID, second=_OTHER_ID)


def _settled(organisation_id: int, key: str, debit: int, credit: int) -> Any:
    keyed = Q(organisation_id=organisation_id, idempotency_key=key)
    on_debit, on_credit = Q(debit_line_id=debit), Q(credit_line_id=credit)
    # Grouped by a constant, which the ORM leaves out of GROUP BY: one row of totals, even when none match.
    return (Settlement.objects.filter(keyed | on_debit | on_credit).values(whole=Value(1))
            .annotate(existing=Max("pk", filter=keyed), debit=Coalesce(Sum("amount_minor", filter=on_debit), 0),
                      credit=Coalesce(Sum("amount_minor", filter=on_credit), 0))
            .order_by().values_list("existing", "debit", "credit"))


_SETTLED = Prepared(_settled, organisation_id=_ID, key=_KEY, debit=_OTHER_ID, credit=-2_000_000_003)


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


def account_of_kind(organisation: Organisation, kind: str) -> Account | None:
    """Return the organisation's first account of a kind (411 for receivable, 419 for advances...)."""
    return accounts_of_kinds(organisation, [kind]).get(kind)


def journal_of_kind(organisation: Organisation, kind: str) -> Journal | None:
    """Return the organisation's first journal (by code) of a kind; None if it has none."""
    found = _JOURNAL_OF_KIND.rows(organisation_id=organisation.pk, kind=kind)
    if not found:
        return None
    journal = Journal.from_db(Journal.objects.db, list(ACCOUNT_FIELDS), found[0])
    Journal._meta.get_field("organisation").set_cached_value(journal, organisation)
    return journal


_JOURNAL_OF_KIND = Prepared(
    lambda organisation_id, kind: Journal.objects.filter(organisation_id=organisation_id, kind=kind)
    .order_by("code").values_list(*ACCOUNT_FIELDS)[:1],
    organisation_id=_ID, kind=_KEY)
