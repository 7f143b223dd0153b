"""Importing a partner's monthly usage file into one draft invoice per customer.

What this module guarantees:

- One file for one partner and month is one transaction: every accepted line
  is written and the import is recorded with its content hash and report, or
  nothing is written at all (an unreadable file, a crash, a dry run).
- The same file (same SHA-256) for the same partner and month twice changes
  nothing: the second call returns the first import. The partner row is
  locked at the start of the transaction, and a partial unique index on
  (partner, period, content hash) among succeeded imports backs it up, so two
  clerks importing at once get one import.
- A corrected file replaces the lines of the earlier import of that partner
  and month (they carry the same `source_key`) on the drafts; lines the
  manager added stay. Invoices already validated or posted are never touched:
  their customer's lines are rejected with `invoice_not_draft`.
- Memory does not grow with the number of lines: rows are read as a stream
  and inserted in chunks; what is kept is per customer (amount added, invoice,
  next position), one chunk of lines, and at most REPORT_LIMIT rejected and
  repeated lines described. The 8-byte digest of every accepted line, needed
  to spot a repeat anywhere in the file, goes to a temporary table of the
  import's own connection and transaction, not to a dict: at 1,000,000 lines
  the dict alone was ~110 MB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, BinaryIO, ClassVar

from django.core.files import File
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Max
from django.db.models.options import Options
from django.utils import timezone

from encaisse.core.audit import record_event, record_events
from encaisse.core.bulk import insert_rows
from encaisse.core.money import Money, exponent
from encaisse.core.origin import current_origin
from encaisse.invoicing.models import Invoice, InvoiceLine, VatRate
from encaisse.ledger.models import Account
from encaisse.parties.models import Customer, Membership

from . import errors
from .errors import REASONS, ForeignPartner, PartnerInactive, PeriodNotAMonth
from .formats import FileFormat, UnreadableFile, detect_format, format_for, parse_date, parse_decimal, read_rows
from .models import Partner, ServiceMapping, UsageImport, source_key

CHUNK_SIZE = 5_000  # lines per INSERT batch (and new drafts per bulk_create)
PROGRESS_EVERY = 5_000  # lines read between two on_progress calls
REPORT_LIMIT = 10_000  # rejected (and duplicate) lines described one by one in the report; the rest are counted
RAW_LIMIT = 500  # characters of a rejected line's text kept in the report
HEAD_SIZE = 64 * 1024  # bytes given to format detection
_HASH_BLOCK = 1024 * 1024

# Quantities and prices are stored with 4 decimals and at most 15 digits
# (invoicing.models.QTY). They are rounded to that before the amount is
# computed, so the amount reported here is the one posting will compute.
_PLACES = Decimal("0.0001")
_LARGEST_EXPONENT = 10  # Decimal.adjusted() of the largest value with 11 integer digits

DRAFT_COLUMNS = ("organisation", "invoice_type", "party", "kind", "status", "currency", "billing_period",
                 "customer_reference", "notes", "created_at", "created_by")
_ID_BATCH = 900  # customer ids per IN (...) when reading the new drafts' ids back: under SQLite's oldest limit
SEEN_TABLE = "encaisse_usage_seen"  # temporary: digest of each distinct accepted line → its line number
LINE_COLUMNS = ("invoice", "position", "product", "label", "quantity", "unit", "unit_price", "vat_rate",
                "revenue_account", "source", "source_key", "source_import_id", "source_line_number")


def import_usage_file(
    *, partner: Partner, period: date, file: BinaryIO, filename: str, by: Any = None, dry_run: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> UsageImport:
    """Import one partner's usage file for one month into draft invoices, and return the import.

    `file` is a seekable binary stream, read twice at most (hash, then rows).
    Returns the succeeded UsageImport; for a file already imported for this
    partner and month, the earlier import, unchanged (its in-memory report
    says "unchanged": true); for a dry run, an unsaved UsageImport (pk None,
    status dry_run) whose report says what the import would do, with nothing
    written. Raises UnreadableFile when the file cannot be read (nothing
    written), ForeignPartner, PartnerInactive or PeriodNotAMonth.

    `on_progress(lines_read)` is called every PROGRESS_EVERY lines and once
    at the end, inside the import's transaction: whatever it writes to the
    database becomes visible only when the import commits, so a progress bar
    should be fed through another channel (cache, another connection).
    The organisation check applies to a staff `by`; an API caller must
    check that the partner belongs to its key's organisation itself.
    """
    _check_scope(partner=partner, period=period, by=by)
    content_hash = _sha256(file)
    if earlier := _earlier_import(partner, period, content_hash):
        return _unchanged(earlier, dry_run=dry_run)
    fmt = _format_of(partner, file, filename)
    try:
        with transaction.atomic():
            # Imports of one partner queue here: the second one of the same
            # file then finds the first one succeeded and writes nothing.
            locked = (Partner.objects.select_for_update(of=("self",)).select_related("organisation")
                      .get(pk=partner.pk))
            if earlier := _earlier_import(locked, period, content_hash):
                return _unchanged(earlier, dry_run=dry_run)
            usage_import = _Import(partner=locked, period=period, fmt=fmt, by=by, on_progress=on_progress).run(
                file=file, filename=filename, content_hash=content_hash, dry_run=dry_run)
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError:
        # Another import of the same file won the race despite the lock (a
        # database without row locks): return it, as a repeat would.
        if earlier := _earlier_import(partner, period, content_hash):
            return _unchanged(earlier, dry_run=dry_run)
        raise
    if dry_run:
        usage_import.pk = None
        usage_import.status = UsageImport.Status.DRY_RUN
    return usage_import


def _check_scope(*, partner: Partner, period: date, by: Any) -> None:
    if not isinstance(period, date) or isinstance(period, datetime) or period.day != 1:
        raise PeriodNotAMonth(period=period)
    if not partner.active:
        raise PartnerInactive(partner=partner.code)
    if partner.invoice_type.organisation_id != partner.organisation_id:
        raise ForeignPartner(partner=partner.code)
    user = by if getattr(by, "is_authenticated", False) else None
    if user is not None and not user.is_superuser and not Membership.objects.filter(
            organisation_id=partner.organisation_id, user=user).exists():
        raise ForeignPartner(partner=partner.code)


def _sha256(file: BinaryIO) -> str:
    file.seek(0)
    digest = hashlib.sha256()
    while block := file.read(_HASH_BLOCK):
        digest.update(block)
    file.seek(0)
    return digest.hexdigest()


def _earlier_import(partner: Partner, period: date, content_hash: str) -> UsageImport | None:
    return UsageImport.objects.filter(partner_id=partner.pk, period=period, content_hash=content_hash,
                                      status=UsageImport.Status.SUCCEEDED).first()


def _unchanged(earlier: UsageImport, *, dry_run: bool) -> UsageImport:
    earlier.report = {**earlier.report, "unchanged": True, "dry_run": dry_run}
    return earlier


def declared_format(partner: Partner) -> dict[str, Any]:
    """The format values the partner declares, as format_for takes them (empty: not declared)."""
    return {name: getattr(partner, name) for name in (
        "format_confirmed", "file_kind", "encoding", "separator", "decimal_comma", "date_format", "has_header",
        "columns")}


def _format_of(partner: Partner, file: BinaryIO, filename: str) -> FileFormat:
    """The partner's confirmed format, or the one detected from the head of the file with declared values first."""
    if partner.format_confirmed:
        return format_for(declared_format(partner), None)
    file.seek(0)
    head = file.read(HEAD_SIZE)
    file.seek(0)
    return format_for(declared_format(partner), detect_format(head, filename=filename))


def _next_month(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


class _Import:
    """One run of an import, inside its transaction. Holds only per-customer state."""

    def __init__(self, *, partner: Partner, period: date, fmt: FileFormat, by: Any,
                 on_progress: Callable[[int], None] | None) -> None:
        self.partner = partner
        self.organisation = partner.organisation
        self.period = period
        self.fmt = fmt
        self.by = by
        self.user = by if getattr(by, "is_authenticated", False) else None
        self.on_progress = on_progress
        self.currency = self.organisation.currency
        self.key = source_key(partner.pk, period)
        self.month = f"{period:%Y-%m}"
        self.rejected: list[dict[str, Any]] = []
        self.rejected_count = 0
        self.duplicates: list[dict[str, int]] = []
        self.duplicate_count = 0
        self.lines_read = 0
        self.lines_accepted = 0
        self.amounts: dict[str, int] = {}  # customer ref → minor units added, in order of first accepted line
        self.created = 0  # drafts opened
        self.touched: set[int] = set()  # invoices that received lines
        self.pending: list[tuple] = []  # valid lines not inserted yet: repeats not dropped, invoice not resolved
        self.seen_table = ""  # the temporary table of digests, while it exists

    # -- the run ---------------------------------------------------------

    def run(self, *, file: BinaryIO, filename: str, content_hash: str, dry_run: bool) -> UsageImport:
        self.usage_import = UsageImport.objects.create(
            organisation=self.organisation, partner=self.partner, period=self.period,
            status=UsageImport.Status.RUNNING, content_hash=content_hash, filename=filename[:255],
            imported_by=self.user, origin=current_origin(), detected_format=self.fmt.as_dict(),
        )
        cleared = self._clear_earlier_lines()
        self._load()
        if not self.partner.repeated_lines_allowed:
            self._create_seen_table()
        self._read(file)
        self._flush()
        self._drop_seen_table()
        amounts = self.amounts
        if self.on_progress is not None:
            self.on_progress(self.lines_read)
        if self.lines_read == 0:
            raise UnreadableFile(errors.NO_LINES)

        removed = self._remove_emptied(cleared - self.touched)
        updated = ((self.touched & self.existing_drafts) | cleared) - removed
        total = sum(amounts.values())
        usage_import = self.usage_import
        usage_import.lines_read = self.lines_read
        usage_import.lines_accepted = self.lines_accepted
        usage_import.invoices_created = self.created
        usage_import.invoices_updated = len(updated)
        usage_import.finished_at = timezone.now()
        usage_import.report = {
            "partner": self.partner.code,
            "period": self.month,
            "filename": usage_import.filename,
            "content_hash": content_hash,
            "unchanged": False,
            "dry_run": dry_run,
            "format": self.fmt.as_dict(),
            "lines_read": self.lines_read,
            "lines_accepted": self.lines_accepted,
            "invoices_created": self.created,
            "invoices_updated": len(updated),
            "invoices_removed": len(removed),
            "amount_by_customer": {ref: Money(minor, self.currency).as_json() for ref, minor in amounts.items()},
            "total": Money(total, self.currency).as_json(),
            "currency": self.currency,
            "rejected": self.rejected,
            "rejected_count": self.rejected_count,
            "duplicates": self.duplicates,
            "duplicate_count": self.duplicate_count,
        }
        if updated:
            record_events([_InvoiceRef(pk, self.organisation.pk) for pk in sorted(updated)],
                          "usage_imported", by=self.by, data={"usage_import": usage_import.pk})
        if not dry_run:
            usage_import.status = UsageImport.Status.SUCCEEDED
            file.seek(0)
            usage_import.original.save(filename, File(file, name=filename), save=False)
        usage_import.save()
        record_event(usage_import, "imported", by=self.by, data={
            "partner": self.partner.code, "period": self.month, "lines_accepted": self.lines_accepted,
            "total": Money(total, self.currency).as_json()})
        return usage_import

    def _clear_earlier_lines(self) -> set[int]:
        """Delete the earlier import's lines of this partner and month from drafts; return those drafts."""
        # Locked first, so that a draft cannot be validated between this
        # check of its status and the lines' deletion.
        cleared = set(
            Invoice.objects.select_for_update()
            .filter(pk__in=InvoiceLine.objects.filter(source_key=self.key).values("invoice_id"),
                    organisation_id=self.organisation.pk, status=Invoice.Status.DRAFT)
            .values_list("pk", flat=True))
        if cleared:
            # One DELETE, without the ORM's collector: it would load every
            # line to check the credit notes pointing at it, and a draft's
            # lines never have any.
            connection = connections[router.db_for_write(InvoiceLine)]
            quote = connection.ops.quote_name
            line_table, invoice_table = quote(InvoiceLine._meta.db_table), quote(Invoice._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {line_table} WHERE {quote('source_key')} = %s AND {quote('invoice_id')} IN "
                    f"(SELECT {quote('id')} FROM {invoice_table} WHERE {quote('status')} = %s"
                    f" AND {quote('organisation_id')} = %s)",
                    [self.key, Invoice.Status.DRAFT.value, self.organisation.pk])
        return cleared

    def _remove_emptied(self, candidates: set[int]) -> set[int]:
        """Delete the drafts that held only the earlier import's lines and get none from this file.

        A customer missing from the corrected file would otherwise keep an
        empty draft, which cannot be validated with the others.
        """
        if not candidates:
            return set()
        connection = connections[router.db_for_write(Invoice)]
        quote = connection.ops.quote_name
        line_table, invoice_table = quote(InvoiceLine._meta.db_table), quote(Invoice._meta.db_table)
        ordered = sorted(candidates)
        removed: set[int] = set()
        for start in range(0, len(ordered), _ID_BATCH):
            batch = ordered[start:start + _ID_BATCH]
            empty = set(Invoice.objects.filter(pk__in=batch, status=Invoice.Status.DRAFT)
                        .exclude(pk__in=InvoiceLine.objects.filter(invoice_id__in=batch).values("invoice_id"))
                        .values_list("pk", flat=True))
            if not empty:
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {invoice_table} WHERE {quote('id')} IN ({', '.join(['%s'] * len(empty))})"
                    f" AND {quote('status')} = %s AND NOT EXISTS (SELECT 1 FROM {line_table}"
                    f" WHERE {line_table}.{quote('invoice_id')} = {invoice_table}.{quote('id')})",
                    [*sorted(empty), Invoice.Status.DRAFT.value])
            removed |= empty
        if removed:
            record_events([_InvoiceRef(pk, self.organisation.pk) for pk in sorted(removed)], "deleted",
                          by=self.by, data={"usage_import": self.usage_import.pk})
        return removed

    def _load(self) -> None:
        """Read what validation needs, once: customers, mappings, the month's invoices and their last positions."""
        org_id = self.organisation.pk
        self.customers: dict[str, int] = dict(
            Customer.objects.filter(organisation_id=org_id).values_list("ref", "pk").iterator(chunk_size=20_000))
        self.mappings: dict[str, tuple] = {
            code: (product_id, price, vat_rate_id, revenue_id, label, unit)
            for code, product_id, price, vat_rate_id, revenue_id, label, unit in
            ServiceMapping.objects.filter(partner_id=self.partner.pk, product__organisation_id=org_id)
            .values_list("service_code", "product_id", "product__unit_price", "product__vat_rate_id",
                         "product__revenue_account_id", "product__label", "product__unit")
        }
        self.invoice_of: dict[int, int] = {}  # customer id → the draft that takes its lines
        self.closed: dict[int, str] = {}  # customer id → status of its validated or posted invoice
        month_invoices = (
            Invoice.objects.select_for_update()
            .filter(organisation_id=org_id, invoice_type_id=self.partner.invoice_type_id,
                    billing_period=self.period, kind=Invoice.Kind.INVOICE)
            .exclude(status=Invoice.Status.CANCELLED)
            .order_by("pk")
            .values_list("party_id", "pk", "status")
        )
        for party_id, pk, status in month_invoices:
            if status == Invoice.Status.DRAFT:
                self.invoice_of.setdefault(party_id, pk)
            else:
                # Lines billed on a validated invoice must not be billed again
                # on another draft of the same month: the whole customer waits.
                self.closed[party_id] = status
        self.existing_drafts = set(self.invoice_of.values())
        self.last_position: dict[int, int] = dict(
            InvoiceLine.objects.filter(invoice__organisation_id=org_id,
                                       invoice__invoice_type_id=self.partner.invoice_type_id,
                                       invoice__billing_period=self.period, invoice__status=Invoice.Status.DRAFT)
            .values_list("invoice_id").annotate(last=Max("position")).values_list("invoice_id", "last")
        )
        self.free_line_defaults: tuple[int | None, int | None] = (None, None)
        if self.partner.unknown_service == Partner.UnknownService.FROM_FILE:
            # A line whose service is taken from the file has no product: it
            # is booked at the organisation's standard (highest) VAT rate, on
            # its first revenue account, as invoicing's free lines are.
            rate = VatRate.objects.filter(organisation_id=org_id).order_by("-percent", "pk").first()
            revenue = Account.objects.filter(organisation_id=org_id, kind=Account.Kind.REVENUE).order_by(
                "code").first()
            self.free_line_defaults = (rate.pk if rate else None, revenue.pk if revenue else None)

    def _read(self, file: BinaryIO) -> None:
        """Validate every row, buffer the valid lines and insert them by chunks (repeats dropped there)."""
        fmt = self.fmt
        decimal_comma = fmt.decimal_comma
        # A date column found by its header name but with no declared format: the French way, or ISO.
        date_format = fmt.date_format or "%d/%m/%Y"
        price_from_file = self.partner.price_source == Partner.PriceSource.FILE
        from_file = self.partner.unknown_service == Partner.UnknownService.FROM_FILE
        free_vat, free_revenue = self.free_line_defaults
        max_minor = self.partner.max_line_amount_minor
        repeats_allowed = self.partner.repeated_lines_allowed
        first_day, next_month = self.period, _next_month(self.period)
        customers, mappings, closed = self.customers, self.mappings, self.closed
        places, half_up, currency = _PLACES, ROUND_HALF_UP, self.currency
        cent = Decimal(1).scaleb(-exponent(currency))
        scale = exponent(currency)
        pending = self.pending
        reject = self._reject
        blake2b = hashlib.blake2b
        on_progress = self.on_progress
        lines_read = 0
        digest: int | None = None

        for lines_read, row in enumerate(file_rows(file, fmt), start=1):
            if on_progress is not None and lines_read % PROGRESS_EVERY == 0:
                on_progress(lines_read)
            values = row.values
            ref = values.get("customer", "")
            code = values.get("service", "")
            quantity_text = values.get("quantity", "")
            if not ref:
                reject(row, errors.MISSING_FIELD, field="customer")
                continue
            if not code:
                reject(row, errors.MISSING_FIELD, field="service")
                continue
            if not quantity_text:
                reject(row, errors.MISSING_FIELD, field="quantity")
                continue
            customer_id = customers.get(ref)
            if customer_id is None:
                reject(row, errors.UNKNOWN_CUSTOMER, value=ref)
                continue
            mapping = mappings.get(code)
            if mapping is None and not from_file:
                reject(row, errors.UNKNOWN_SERVICE, value=code)
                continue
            try:
                quantity = parse_decimal(quantity_text, decimal_comma=decimal_comma)
            except ValueError:
                reject(row, errors.NOT_A_NUMBER, field="quantity", value=quantity_text)
                continue
            if quantity.adjusted() > _LARGEST_EXPONENT:
                reject(row, errors.AMOUNT_TOO_LARGE, value=quantity_text, limit=Money(max_minor, currency))
                continue
            quantity = quantity.quantize(places, half_up)
            if quantity <= 0:
                reject(row, errors.NON_POSITIVE_QUANTITY, value=quantity_text)
                continue
            if price_from_file or mapping is None:
                price_text = values.get("unit_price", "")
                if not price_text:
                    reject(row, errors.MISSING_FIELD, field="unit_price")
                    continue
                try:
                    price = parse_decimal(price_text, decimal_comma=decimal_comma)
                except ValueError:
                    reject(row, errors.NOT_A_NUMBER, field="unit_price", value=price_text)
                    continue
                if price.adjusted() > _LARGEST_EXPONENT:
                    reject(row, errors.AMOUNT_TOO_LARGE, value=price_text, limit=Money(max_minor, currency))
                    continue
                price = price.quantize(places, half_up)
            else:
                price = mapping[1]
            day = ""
            if date_text := values.get("date", ""):
                try:
                    on = parse_date(date_text, date_format)
                except ValueError:
                    on = None
                if on is None or not first_day <= on < next_month:
                    reject(row, errors.DATE_OUTSIDE_PERIOD, value=date_text)
                    continue
                day = on.isoformat()
            # Money.of's rounding (half up to the minor unit), inlined: this runs once per line.
            minor = int((quantity * price).quantize(cent, half_up).scaleb(scale))
            if abs(minor) > max_minor:
                reject(row, errors.AMOUNT_TOO_LARGE, value=Money(minor, currency), limit=Money(max_minor, currency))
                continue
            if customer_id in closed:
                reject(row, errors.INVOICE_NOT_DRAFT, value=ref, status=closed[customer_id])
                continue
            file_label = values.get("label", "")
            comment = values.get("comment", "")
            if not repeats_allowed:
                # Signed, so that it is an SQLite INTEGER PRIMARY KEY and a PostgreSQL bigint.
                digest = int.from_bytes(
                    blake2b("\x1f".join((ref, code, str(quantity), str(price), day, file_label, comment))
                            .encode(), digest_size=8).digest(), "big", signed=True)
            if mapping is not None:
                product_id, _price, vat_rate_id, revenue_id, label, unit = mapping
                if file_label and file_label != label:
                    label = f"{label} — {file_label}"
            else:
                product_id, vat_rate_id, revenue_id, unit = None, free_vat, free_revenue, "u"
                label = file_label or code
            if comment:
                label = f"{label} ({comment})"
            pending.append((digest, ref, minor, customer_id, row.line, product_id, label[:300], quantity, unit,
                            price, vat_rate_id, revenue_id))
            if len(pending) >= CHUNK_SIZE:
                self._flush()
        self.lines_read = lines_read

    def _reject(self, row: Any, code: str, **params: Any) -> None:
        self.rejected_count += 1
        if len(self.rejected) >= REPORT_LIMIT:
            return
        if "field" in params:
            params["field"] = str(errors.FIELD_NAMES[params["field"]])
        if "status" in params:
            params["status"] = str(Invoice.Status(params["status"]).label).lower()
        params.setdefault("period", self.month)
        self.rejected.append({"line": row.line, "raw": row.raw[:RAW_LIMIT], "code": code,
                              "message": str(REASONS[code]) % params})

    def _flush(self) -> None:
        """Drop the buffered repeats, open the drafts the other lines need, then insert them in one statement."""
        pending = self.pending
        if not pending:
            return
        if self.seen_table:
            pending[:] = self._first_occurrences(pending)
        amounts = self.amounts
        for line in pending:
            amounts[line[1]] = amounts.get(line[1], 0) + line[2]
        self.lines_accepted += len(pending)
        invoice_of = self.invoice_of
        new = [customer_id for customer_id in dict.fromkeys(line[3] for line in pending)
               if customer_id not in invoice_of]
        if new:
            self._create_drafts(new)
        last_position = self.last_position
        touched = self.touched
        key, import_id, source = self.key, self.usage_import.pk, InvoiceLine.Source.IMPORT.value
        rows = []
        for (_digest, _ref, _minor, customer_id, line_number, product_id, label, quantity, unit, price, vat_rate_id,
             revenue_id) in pending:
            invoice_id = invoice_of[customer_id]
            position = last_position.get(invoice_id, 0) + 1
            last_position[invoice_id] = position
            touched.add(invoice_id)
            rows.append((invoice_id, position, product_id, label, quantity, unit, price, vat_rate_id, revenue_id,
                         source, key, import_id, line_number))
        insert_rows(InvoiceLine, LINE_COLUMNS, rows)
        pending.clear()

    # -- repeated lines ---------------------------------------------------

    def _create_seen_table(self) -> None:
        """Create the temporary table of the digests of the lines accepted so far.

        Temporary tables belong to the connection, so concurrent imports each
        have their own, and DDL is transactional on both engines: a refused
        or dry-run import rolls it back with everything else. A committed one
        drops it at the end of the run (and PostgreSQL at commit, at the
        latest). One left by an import whose end was never reached (the
        transaction of a test case) is dropped first.
        """
        connection = connections[router.db_for_write(InvoiceLine)]
        quote = connection.ops.quote_name
        postgres = connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {'pg_temp' if postgres else 'temp'}.{quote(SEEN_TABLE)}")
            # SQLite: an INTEGER PRIMARY KEY is the table's own b-tree key, no second index.
            cursor.execute(
                f"CREATE TEMPORARY TABLE {quote(SEEN_TABLE)} (digest {'bigint' if postgres else 'INTEGER'}"
                f" PRIMARY KEY, line integer NOT NULL){' ON COMMIT DROP' if postgres else ''}")
        self.seen_table = SEEN_TABLE

    def _drop_seen_table(self) -> None:
        if not self.seen_table:
            return
        connection = connections[router.db_for_write(InvoiceLine)]
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {connection.ops.quote_name(self.seen_table)}")
        self.seen_table = ""

    def _first_occurrences(self, pending: list[tuple]) -> list[tuple]:
        """The buffered lines that repeat no earlier accepted line; the others go to the report as repeats.

        Exact, whatever the file's size: a line is a repeat when its digest
        is already in the table (a line of an earlier chunk) or earlier in
        this chunk. The chunk's new digests are inserted, ignoring those
        already there; only when fewer rows went in than were offered (some
        repeat an earlier chunk, rare) are the line numbers read back.
        """
        first_in_chunk: dict[int, int] = {}  # digest → line, for this chunk only
        for line in pending:
            first_in_chunk.setdefault(line[0], line[4])
        connection = connections[router.db_for_write(InvoiceLine)]
        table = connection.ops.quote_name(self.seen_table)
        earlier: dict[int, int] = {}  # digest → line of an earlier chunk
        with connection.cursor() as cursor:
            # In key order: each insert lands next to the previous one in the b-tree, ~15% faster in SQLite.
            cursor.executemany(f"INSERT INTO {table} (digest, line) VALUES (%s, %s) ON CONFLICT (digest) DO NOTHING",
                               sorted(first_in_chunk.items()))
            if cursor.rowcount != len(first_in_chunk):
                digests = list(first_in_chunk)
                for start in range(0, len(digests), _ID_BATCH):
                    part = digests[start:start + _ID_BATCH]
                    cursor.execute(
                        f"SELECT digest, line FROM {table} WHERE digest IN ({', '.join(['%s'] * len(part))})", part)
                    earlier.update((digest, line) for digest, line in cursor.fetchall()
                                   if line != first_in_chunk[digest])
        kept = []
        for line in pending:
            digest, line_number = line[0], line[4]
            first = earlier.get(digest, first_in_chunk[digest])
            if first == line_number:
                kept.append(line)
                continue
            self.duplicate_count += 1
            if len(self.duplicates) < REPORT_LIMIT:
                self.duplicates.append({"line": line_number, "repeats": first})
        return kept

    def _create_drafts(self, customer_ids: list[int]) -> None:
        """create_draft for many customers at once: the same fields, one INSERT and one audit statement.

        Building a model instance per draft and bulk_create cost more than the
        lines themselves at 100,000 customers; the rows are written as plain
        tuples and their ids read back by customer instead.
        """
        org_id, type_id, period = self.organisation.pk, self.partner.invoice_type_id, self.period
        now = timezone.now()
        user_id = self.user.pk if self.user is not None else None
        insert_rows(Invoice, DRAFT_COLUMNS, [
            (org_id, type_id, customer_id, Invoice.Kind.INVOICE.value, Invoice.Status.DRAFT.value, self.currency,
             period, "", "", now, user_id)
            for customer_id in customer_ids])
        # These customers had no invoice of the month when the import started,
        # so the drafts found now are the ones just made; the newest wins.
        for start in range(0, len(customer_ids), _ID_BATCH):
            for party_id, pk in (
                Invoice.objects.filter(organisation_id=org_id, invoice_type_id=type_id, billing_period=period,
                                       kind=Invoice.Kind.INVOICE, status=Invoice.Status.DRAFT,
                                       party_id__in=customer_ids[start:start + _ID_BATCH])
                .order_by("pk").values_list("party_id", "pk")
            ):
                self.invoice_of[party_id] = pk
        made = [_InvoiceRef(self.invoice_of[customer_id], org_id) for customer_id in customer_ids]
        record_events(made, "created", by=self.by, data={"usage_import": self.usage_import.pk})
        self.created += len(made)


@dataclass(frozen=True, slots=True)
class _InvoiceRef:
    """What record_events reads of an invoice (its model, pk and organisation), without building a model."""

    pk: int
    organisation_id: int
    _meta: ClassVar[Options] = Invoice._meta


def file_rows(file: BinaryIO, fmt: FileFormat) -> Any:
    """The file's rows from its start (the hash and the detection read it before)."""
    file.seek(0)
    return read_rows(file, fmt)
