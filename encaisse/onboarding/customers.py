"""Importing customers from a CSV file, with their SEPA mandates and opening balances.

A file is accepted whole or not at all: every row is checked first, every bad
row is reported with its line number and reason, and only a clean file is
written, in one transaction. Importing the same file again changes nothing:
customers are matched by ref, mandates by reference, and an opening balance
is one ledger entry keyed "opening:<customer id>", written once.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from encaisse.core.audit import record_event, record_events
from encaisse.core.bulk import in_chunks
from encaisse.core.errors import DomainError
from encaisse.core.money import Money, exponent
from encaisse.ledger.models import Account, Entry, EntryLine, Journal
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entries
from encaisse.parties.models import Customer, Organisation
from encaisse.sepa.models import Mandate, masked_iban
from encaisse.sepa.preferences import switch_collect_by

COLUMNS = (
    "ref",
    "name",
    "email",
    "kind",
    "language",
    "iban",
    "bic",
    "mandate_ref",
    "mandate_signed_on",
    "opening_balance",
)
REQUIRED_COLUMNS = ("ref", "name")
KINDS = {
    "person": Customer.Kind.PERSON,
    "personne": Customer.Kind.PERSON,
    "particulier": Customer.Kind.PERSON,
    "company": Customer.Kind.COMPANY,
    "société": Customer.Kind.COMPANY,
    "societe": Customer.Kind.COMPANY,
    "entreprise": Customer.Kind.COMPANY,
}
LANGUAGE_CODES = ("fr", "en")
# SEPA rulebook: a mandate reference (UMR) is at most 35 characters of the Latin set.
UMR = re.compile(r"^[A-Za-z0-9+?/\-:().,' ]{1,35}$")
CHUNK = 1000


def opening_key(customer_id: int) -> str:
    return f"opening:{customer_id}"


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    code: str
    message: str
    ref: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "ref": self.ref, "code": self.code, "message": self.message}


class CustomerImportRefused(DomainError):
    code = "customer_import_refused"
    message = _("The file was refused: %(count)s problem(s) found, nothing was imported.")

    def __init__(self, rows: list[RowProblem]) -> None:
        self.rows = rows
        super().__init__(count=len(rows))

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "rows": [row.as_dict() for row in self.rows]}


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    mandates_created: int = 0
    opening_balances: int = 0
    opening_total: Money | None = None
    warnings: list[RowProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        total = self.opening_total
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "mandates_created": self.mandates_created,
            "opening_balances": self.opening_balances,
            "opening_total": total.as_json() if total is not None else None,
            "currency": total.currency if total is not None else None,
            "warnings": [w.as_dict() for w in self.warnings],
        }


@dataclass
class _Row:
    line: int
    ref: str
    name: str
    # None means "the cell is empty or the column absent": keep what is stored.
    email: str | None = None
    kind: str | None = None
    language: str | None = None
    iban: str = ""
    bic: str = ""
    mandate_ref: str = ""
    mandate_signed_on: date | None = None
    opening: Money | None = None


# Reading ---------------------------------------------------------------------------------------------------


def _read_text(file: str | Path | bytes | IO[Any]) -> str:
    """Return the file's text: UTF-8 with or without BOM, else Windows-1252 (what Excel writes in France)."""
    if isinstance(file, (str, Path)):
        data: bytes | str = Path(file).read_bytes()
    elif isinstance(file, bytes):
        data = file
    else:
        data = file.read()
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(header_line: str) -> str:
    # Column names hold neither separator, so the header alone decides.
    return ";" if header_line.count(";") > header_line.count(",") else ","


def parse_amount(text: str, currency: str) -> Money:
    """Read "1 234,56", "1.234,56", "1,234.56", "-12.5" or "12 €" as Money; refuse more decimals than the currency has.

    Raises ValueError with a reason a person can act on.
    """
    cleaned = re.sub(r"[\s\u00a0\u202f'’]", "", text).removesuffix("€").removesuffix(currency)
    if "," in cleaned and "." in cleaned:
        # The separator that comes last is the decimal one; the other groups thousands.
        thousands = "." if cleaned.rfind(",") > cleaned.rfind(".") else ","
        cleaned = cleaned.replace(thousands, "").replace(",", ".")
    elif cleaned.count(",") == 1:
        cleaned = cleaned.replace(",", ".")
    elif cleaned.count(",") > 1 or cleaned.count(".") > 1:
        separator = "," if "," in cleaned else "."
        cleaned = cleaned.replace(separator, "")
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", cleaned):
        raise ValueError(gettext("“%(value)s” is not an amount.") % {"value": text})
    value = Decimal(cleaned)
    if -value.as_tuple().exponent > exponent(currency):
        raise ValueError(
            gettext("“%(value)s” has more decimals than %(currency)s allows.") % {"value": text, "currency": currency}
        )
    return Money.of(value, currency)


def _parse_date(text: str) -> date:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(text)


class _Checker:
    """Collects the problems of a file; a row with any problem is not imported, nor is the file."""

    def __init__(self) -> None:
        self.problems: list[RowProblem] = []
        self.warnings: list[RowProblem] = []

    def refuse(self, line: int, code: str, message: str, ref: str = "") -> None:
        self.problems.append(RowProblem(line, code, message, ref))

    def warn(self, line: int, code: str, message: str, ref: str = "") -> None:
        self.warnings.append(RowProblem(line, code, message, ref))


def _parse(text: str, organisation: Organisation, checker: _Checker, *, today: date) -> list[_Row]:
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        checker.refuse(1, "empty_file", gettext("The file is empty: a header line is expected."))
        return []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(lines[0]))
    # "Opening balance", "opening-balance" and "OPENING_BALANCE" all name the same column.
    header = [re.sub(r"[\s-]+", "_", name.strip().lower()) for name in next(reader)]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        checker.refuse(
            1,
            "unknown_column",
            gettext("Unknown column(s): %(columns)s. Expected: %(expected)s.")
            % {"columns": ", ".join(unknown), "expected": ", ".join(COLUMNS)},
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        checker.refuse(
            1, "missing_column", gettext("Missing column(s): %(columns)s.") % {"columns": ", ".join(missing)}
        )
    if len(set(header)) != len(header):
        checker.refuse(1, "duplicate_column", gettext("A column appears twice in the header."))
    if checker.problems:
        return []

    rows: list[_Row] = []
    first_line: dict[str, int] = {}
    mandate_lines: dict[str, int] = {}
    currency = organisation.currency
    line = reader.line_num + 1
    for record in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(header):
            checker.refuse(
                start,
                "too_many_cells",
                gettext("The row has %(found)s cells but the header %(expected)s.")
                % {"found": len(record), "expected": len(header)},
            )
            continue
        cells = {name: record[i].strip() if i < len(record) else "" for i, name in enumerate(header)}
        rows.append(_check_row(start, cells, currency, checker, first_line, mandate_lines, today=today))
    return rows


def _check_row(
    line: int,
    cells: dict[str, str],
    currency: str,
    checker: _Checker,
    first_line: dict[str, int],
    mandate_lines: dict[str, int],
    *,
    today: date,
) -> _Row:
    ref, name = cells.get("ref", ""), cells.get("name", "")
    row = _Row(line=line, ref=ref, name=name)

    def refuse(code: str, message: str) -> None:
        checker.refuse(line, code, message, ref)

    if not ref:
        refuse("ref_required", gettext("The customer reference (ref) is empty."))
    elif len(ref) > Customer._meta.get_field("ref").max_length:
        refuse("ref_too_long", gettext("The customer reference is longer than 64 characters."))
    elif ref in first_line:
        refuse(
            "duplicate_ref",
            gettext("Reference %(ref)s is already on line %(line)s.") % {"ref": ref, "line": first_line[ref]},
        )
    else:
        first_line[ref] = line
    if not name:
        refuse("name_required", gettext("The name is empty."))
    elif len(name) > Customer._meta.get_field("name").max_length:
        refuse("name_too_long", gettext("The name is longer than 200 characters."))

    if email := cells.get("email", ""):
        try:
            validate_email(email)
            row.email = email
        except ValidationError:
            refuse("invalid_email", gettext("“%(value)s” is not an email address.") % {"value": email})
    if kind := cells.get("kind", ""):
        row.kind = KINDS.get(kind.lower())
        if row.kind is None:
            refuse("invalid_kind", gettext("Kind “%(value)s” is unknown: use person or company.") % {"value": kind})
    if language := cells.get("language", ""):
        row.language = language.lower()
        if row.language not in LANGUAGE_CODES:
            refuse("invalid_language", gettext("Language “%(value)s” is unknown: use fr or en.") % {"value": language})

    if iban := cells.get("iban", ""):
        try:
            row.iban = IBAN(iban).compact
        except SchwiftyException as error:
            refuse(
                "invalid_iban",
                gettext("“%(value)s” is not a valid IBAN: %(reason)s") % {"value": masked_iban(iban.replace(" ", "")),
                                                                           "reason": error},
            )
    if bic := cells.get("bic", ""):
        try:
            row.bic = str(BIC(bic))
        except SchwiftyException as error:
            refuse(
                "invalid_bic", gettext("“%(value)s” is not a valid BIC: %(reason)s") % {"value": bic, "reason": error}
            )
    if signed := cells.get("mandate_signed_on", ""):
        try:
            row.mandate_signed_on = _parse_date(signed)
        except ValueError:
            refuse(
                "invalid_date", gettext("“%(value)s” is not a date: use YYYY-MM-DD or DD/MM/YYYY.") % {"value": signed}
            )
    if umr := cells.get("mandate_ref", ""):
        row.mandate_ref = umr
        if not UMR.match(umr):
            refuse(
                "invalid_mandate_ref",
                gettext("Mandate reference “%(value)s” must be 1 to 35 letters, digits or +?/-:().,' characters.")
                % {"value": umr},
            )
        elif umr in mandate_lines:
            refuse(
                "duplicate_mandate_ref",
                gettext("Mandate reference %(value)s is already on line %(line)s.")
                % {"value": umr, "line": mandate_lines[umr]},
            )
        else:
            mandate_lines[umr] = line
        if not iban:
            refuse("mandate_without_iban", gettext("A mandate needs the IBAN of the account to debit."))
        if not signed:
            refuse("mandate_without_date", gettext("A mandate needs its signature date (mandate_signed_on)."))
        elif row.mandate_signed_on and row.mandate_signed_on > today:
            refuse(
                "mandate_signed_in_future",
                gettext("The mandate signature date %(value)s is in the future.") % {"value": signed},
            )
    elif iban or bic or signed:
        # Customers hold no bank details outside a mandate: say so rather than drop them silently.
        checker.warn(
            line,
            "bank_details_ignored",
            gettext("IBAN, BIC and signature date are kept only with a mandate reference (mandate_ref)."),
            ref,
        )

    if amount := cells.get("opening_balance", ""):
        try:
            row.opening = parse_amount(amount, currency)
        except ValueError as error:
            refuse("invalid_amount", str(error))
    return row


# Writing ---------------------------------------------------------------------------------------------------


def _existing_openings(organisation: Organisation, customers: Iterable[Customer]) -> dict[int, Money]:
    """The opening balance already carried over per customer id, read from its entry's 411 line."""
    ids = [c.pk for c in customers]
    found: dict[int, Money] = {}
    for chunk in in_chunks(ids, CHUNK):
        keys = [opening_key(pk) for pk in chunk]
        for party, debit, credit, currency in EntryLine.objects.filter(
            entry__organisation=organisation,
            entry__idempotency_key__in=keys,
            party__isnull=False,
            account__kind=Account.Kind.RECEIVABLE,
        ).values_list("party_id", "debit_minor", "credit_minor", "currency"):
            found[party] = Money(debit - credit, currency)
    return found


def import_customers(
    *,
    organisation: Organisation,
    file: str | Path | bytes | IO[Any],
    by: Any = None,
    today: date | None = None,
) -> ImportReport:
    """Create or update the file's customers, their new mandates and opening balances; all or nothing.

    An empty cell keeps what is stored (and takes the default for a new
    customer). Opening balances are dated `today` in the miscellaneous journal:
    positive, the customer owes (debit 411); negative, the customer has credit
    (credit 411); the counterpart is the suspense account 471. Refuses the
    whole file with CustomerImportRefused listing every problem with its line,
    including an opening balance that differs from the one already carried
    over (that one is corrected by an adjustment, never by a second import).
    """
    today = today or timezone.localdate()
    checker = _Checker()
    # A mandate is signed before it is recorded; `today` may be a past opening date, hence the max.
    rows = _parse(_read_text(file), organisation, checker, today=max(today, timezone.localdate()))

    existing: dict[str, Customer] = {}
    for chunk in in_chunks([row.ref for row in rows if row.ref], CHUNK):
        existing.update((c.ref, c) for c in Customer.objects.filter(organisation=organisation, ref__in=chunk))
    openings = _existing_openings(organisation, existing.values())
    mandates: dict[str, Mandate] = {}
    for chunk in in_chunks([row.mandate_ref for row in rows if row.mandate_ref], CHUNK):
        mandates.update(
            (m.reference, m) for m in Mandate.objects.filter(organisation=organisation, reference__in=chunk)
        )
    for row in rows:
        customer = existing.get(row.ref)
        if row.opening is not None and customer is not None and customer.pk in openings:
            carried = openings[customer.pk]
            if carried != row.opening:
                checker.refuse(
                    row.line,
                    "opening_balance_carried_over",
                    gettext("Opening balance already carried over: %(amount)s; correct it with an adjustment.")
                    % {"amount": carried},
                    row.ref,
                )
        mandate = mandates.get(row.mandate_ref) if row.mandate_ref else None
        if mandate is not None:
            if customer is None or mandate.customer_id != customer.pk:
                checker.refuse(
                    row.line,
                    "mandate_ref_taken",
                    gettext("Mandate %(ref)s already belongs to another customer.") % {"ref": row.mandate_ref},
                    row.ref,
                )
            elif row.iban and mandate.iban != row.iban:
                checker.warn(
                    row.line,
                    "mandate_unchanged",
                    gettext("Mandate %(ref)s exists with another IBAN; an import never changes a mandate.")
                    % {"ref": row.mandate_ref},
                    row.ref,
                )
    if checker.problems:
        raise CustomerImportRefused(sorted(checker.problems, key=lambda p: p.line))

    report = ImportReport(rows=len(rows), warnings=checker.warnings, opening_total=Money.zero(organisation.currency))
    with transaction.atomic():
        customers = _write_customers(organisation, rows, existing, report, by=by)
        _write_mandates(organisation, rows, customers, mandates, report, by=by)
        _write_openings(organisation, rows, customers, openings, report, by=by, today=today)
    return report


def _write_customers(
    organisation: Organisation, rows: list[_Row], existing: dict[str, Customer], report: ImportReport, *, by: Any
) -> dict[str, Customer]:
    new: list[Customer] = []
    changed: dict[str, Customer] = {}
    changed_fields: set[str] = set()
    for row in rows:
        customer = existing.get(row.ref)
        if customer is None:
            new.append(
                Customer(
                    organisation=organisation,
                    ref=row.ref,
                    name=row.name,
                    email=row.email or "",
                    kind=row.kind or Customer.Kind.PERSON,
                    language=row.language or organisation.language,
                )
            )
            continue
        wanted = {"name": row.name, "email": row.email, "kind": row.kind, "language": row.language}
        diff = {f: v for f, v in wanted.items() if v is not None and getattr(customer, f) != v}
        if diff:
            for name, value in diff.items():
                setattr(customer, name, value)
            changed[row.ref] = customer
            changed_fields.update(diff)
            record_event(customer, "updated", by=by, data={"fields": sorted(diff), "source": "import"})
        else:
            report.unchanged += 1
    created = Customer.objects.bulk_create(new, batch_size=CHUNK)
    if created and created[0].pk is None:  # a backend that returns no ids from bulk inserts
        created = list(Customer.objects.filter(organisation=organisation, ref__in=[c.ref for c in created]))
    if changed:
        Customer.objects.bulk_update(list(changed.values()), sorted(changed_fields), batch_size=CHUNK)
    record_events(created, "created", by=by, data={"source": "import"})
    report.created, report.updated = len(created), len(changed)
    return {**existing, **{c.ref: c for c in created}}


def _write_mandates(
    organisation: Organisation,
    rows: list[_Row],
    customers: dict[str, Customer],
    mandates: dict[str, Mandate],
    report: ImportReport,
    *,
    by: Any,
) -> None:
    new = [
        Mandate(
            organisation=organisation,
            customer=customers[row.ref],
            reference=row.mandate_ref,
            iban=row.iban,
            bic=row.bic,
            account_holder=row.name[:140],
            signed_on=row.mandate_signed_on,
            source=Mandate.Source.IMPORT,
        )
        for row in rows
        if row.mandate_ref and row.mandate_ref not in mandates
    ]
    for mandate in new:
        mandate.save()
        record_event(mandate, "created", by=by, data={"source": "import"})
    # A customer brought over with an active mandate is collected by direct debit, unless they chose otherwise.
    for customer_id in sorted({m.customer_id for m in new if m.status == Mandate.Status.ACTIVE}):
        switch_collect_by(customer_id, when=Customer.CollectBy.NOTHING, to=Customer.CollectBy.DIRECT_DEBIT, by=by,
                          why="mandate imported")
    report.mandates_created = len(new)


def _write_openings(
    organisation: Organisation,
    rows: list[_Row],
    customers: dict[str, Customer],
    openings: dict[int, Money],
    report: ImportReport,
    *,
    by: Any,
    today: date,
) -> None:
    wanted = [row for row in rows if row.opening and customers[row.ref].pk not in openings]
    if not wanted:
        return
    receivable = account_of_kind(organisation, Account.Kind.RECEIVABLE)
    suspense = account_of_kind(organisation, Account.Kind.SUSPENSE)
    journal = journal_of_kind(organisation, Journal.Kind.MISC)
    drafts = []
    with translation.override(organisation.language):
        for row in wanted:
            customer = customers[row.ref]
            label = gettext("Opening balance carried over: %(ref)s %(name)s") % {"ref": row.ref, "name": row.name}
            drafts.append(
                (
                    EntryDraft(
                        journal=journal,
                        date=today,
                        label=label[:200],
                        lines=(
                            LineDraft.signed(receivable, row.opening, party=customer, due_on=today, label=label[:200]),
                            LineDraft.signed(suspense, -row.opening, label=label[:200]),
                        ),
                    ),
                    opening_key(customer.pk),
                )
            )
            report.opening_total = report.opening_total + row.opening
    entries = post_entries(organisation, drafts, by=by)
    record_events(entries, "posted", by=by, data={"source": "import", "kind": "opening_balance"})
    report.opening_balances = len(entries)


def opening_entry(customer: Customer) -> Entry | None:
    """The entry that carried the customer's opening balance over, if any."""
    return Entry.objects.filter(
        organisation_id=customer.organisation_id, idempotency_key=opening_key(customer.pk)
    ).first()
