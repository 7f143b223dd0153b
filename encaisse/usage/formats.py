"""Reading partners' files: what format a file is in, and its rows one at a time.

Partners send what their own software exports: UTF-8 with or without a BOM or
Windows-1252, `;` `,` or tab, decimal comma or point, thousands separators,
CRLF and LF mixed, blank lines, a header in French or English or none at all,
CSV or XLSX. All of that is normal input. This module turns a file into
`RawRow`s (field → stripped text, with the physical line number the report
shows) and leaves the meaning of each value to the import service.

Pure Python and no ORM: the back office preview, the CLI and the import use
the same functions, and the tests run without a database.

How a format is settled:

- `detect_format(head, filename=...)` looks at the first bytes only (~64 KiB).
  For CSV it finds the encoding, the separator, the header and the columns,
  the decimal mark and the date format. An XLSX workbook cannot be read from
  its first bytes (a zip's directory is at its end), so for XLSX it returns
  kind="xlsx", has_header=True and no columns: `read_rows` then matches the
  header row against `HEADER_ALIASES`, exactly as detection does for CSV.
- `format_for(partner_values, detected)`: what the partner declared wins,
  the detected values fill the gaps.
- `read_rows(stream, fmt)` streams the rows; a file that cannot be read at all
  raises `UnreadableFile` before the first row.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import islice
from typing import Any, BinaryIO

from django.utils.translation import gettext_lazy as _

from encaisse.core.errors import DomainError
from encaisse.usage.errors import FIELD_NAMES

# The same tuples as encaisse.usage.models (this module imports no model).
USAGE_FIELDS = ("customer", "service", "quantity", "unit_price", "date", "label", "comment")
REQUIRED_FIELDS = ("customer", "service", "quantity")

ENCODINGS = ("utf-8", "utf-8-sig", "cp1252")
SEPARATORS = (";", ",", "\t")
HEAD_BYTES = 64 * 1024

# Field → header names, matched after `normalize_header` (case, accents, spaces
# and punctuation ignored). Order matters within a field: when two columns of a
# file both match, the earlier alias wins ("Code prestation" over "Prestation").
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "customer": ("N° client", "Numéro client", "Réf client", "Référence client", "Code client", "Client",
                 "Customer ID", "Customer number", "Customer ref", "Customer reference", "Customer",
                 "Client ID", "Account"),
    "service": ("Code prestation", "Service code", "Type de prestation", "Prestation", "Service", "Code service",
                "Service type", "Product code", "Code article"),
    "quantity": ("Quantité", "Qté", "Qte", "Nombre", "Quantity", "Qty"),
    "unit_price": ("Prix unitaire", "Prix unitaire HT", "PU", "PU HT", "Prix", "Tarif", "Unit price",
                   "Unit price excl. VAT", "Price"),
    "date": ("Date", "Date de prestation", "Date prestation", "Date de service", "Service date", "Day", "Jour"),
    "label": ("Libellé", "Désignation", "Label", "Description"),
    "comment": ("Commentaire", "Commentaires", "Comment", "Comments", "Remarque", "Remarques", "Note", "Notes"),
}

# Date formats tried by detection, in order: French day-first before US month-first.
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%Y/%m/%d", "%m/%d/%Y")

# Characters that separate thousands and are never a decimal mark.
_SPACES = "\u0020\u00a0\u202f\u2009'\u2019"
_SPACE_TABLE = str.maketrans(dict.fromkeys(_SPACES, " "))
_DIGITS = re.compile(r"\d+\Z")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\Z")


class UnreadableFile(DomainError):
    """The file as a whole cannot be read: nothing of it is imported."""

    code = "unreadable_file"
    message = _("The file cannot be read.")


# Messages of UnreadableFile, one per reason.
EMPTY = _("The file is empty.")
NOT_TEXT = _("The file is not UTF-8 or Windows-1252 text (is it a spreadsheet saved in another format?).")
NOT_TEXT_AT = _("Line %(line)s is not %(encoding)s text: save the file as UTF-8 or Windows-1252.")
NOT_XLSX = _("The file is not an XLSX workbook that can be opened.")
NO_HEADER = _("No recognisable header: no column found for %(fields)s (first line: “%(line)s”).")
NO_POSITION = _("Without a header line, every column must be given by its position; %(fields)s are not.")
BROKEN_CSV = _("Line %(line)s cannot be read as CSV: %(reason)s.")
BAD_FORMAT = _("Unknown file format %(value)s.")


@dataclass(frozen=True)
class FileFormat:
    kind: str = "csv"  # "csv" | "xlsx"
    encoding: str = "utf-8"  # "utf-8" | "utf-8-sig" | "cp1252"; "" for xlsx
    separator: str = ";"  # "" for xlsx
    decimal_comma: bool = True
    date_format: str = ""  # strptime format, "" when there is no date column
    has_header: bool = True
    # field → header text or 1-based position
    columns: dict[str, str | int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "encoding": self.encoding, "separator": self.separator,
                "decimal_comma": self.decimal_comma, "date_format": self.date_format,
                "has_header": self.has_header, "columns": dict(self.columns)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileFormat:
        defaults = cls()
        return cls(
            kind=data.get("kind") or defaults.kind,
            encoding=data.get("encoding", defaults.encoding) or "",
            separator=data.get("separator", defaults.separator) or "",
            decimal_comma=bool(data.get("decimal_comma", defaults.decimal_comma)),
            date_format=data.get("date_format") or "",
            has_header=bool(data.get("has_header", defaults.has_header)),
            columns=dict(data.get("columns") or {}),
        )


@dataclass(frozen=True, slots=True)
class RawRow:
    line: int  # 1-based physical line (XLSX: row) number, the header being line 1
    raw: str  # the line's text as read, for the report
    values: dict[str, str]  # field → stripped text, "" when absent


# --- Small parsers --------------------------------------------------------------------------------


def normalize_header(text: str) -> str:
    """"N° Client ", "n-client", "NUMÉRO_CLIENT" → comparable keys: no case, accents, spaces or punctuation."""
    decomposed = unicodedata.normalize("NFKD", str(text).casefold())
    return "".join(c for c in decomposed if c.isalnum())


_ALIAS_KEYS = {f: tuple(normalize_header(a) for a in aliases) for f, aliases in HEADER_ALIASES.items()}
_ALL_ALIAS_KEYS = frozenset(key for keys in _ALIAS_KEYS.values() for key in keys)


# A month's file repeats the same few prices, quantities and dates on every line: parsing each once
# saves most of the time an import spends on them (Decimal and date are immutable, so sharing is safe).
@lru_cache(maxsize=16384)
def parse_decimal(text: str, *, decimal_comma: bool) -> Decimal:
    """A partner's number, as people write it: "1 234,50", "1.234,50", "1,234.50", "-12".

    `decimal_comma` settles what is ambiguous ("1,234" is 1.234 with a decimal
    comma and 1234 with a decimal point). When only the other mark appears,
    once, and it cannot be a thousands separator ("12.5" in a decimal-comma
    file, as a spreadsheet may write it), it is read as the decimal mark:
    there is no other sensible reading. Raises ValueError for anything else.
    """
    s = text.strip().translate(_SPACE_TABLE)
    sign = ""
    if s[:1] in ("-", "+"):
        sign, s = s[0], s[1:].lstrip()
    if not s:
        raise ValueError(f"not a number: {text!r}")
    mark = "," if decimal_comma else "."
    commas, points = s.count(","), s.count(".")
    if commas and points:
        # Both marks: the last one is the decimal mark, the other groups thousands.
        decimal = "," if s.rfind(",") > s.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        if s.count(decimal) != 1 or s.find(thousands) > s.find(decimal):
            raise ValueError(f"not a number: {text!r}")
    elif commas or points:
        found = "," if commas else "."
        if found == mark:
            decimal, thousands = mark, ""
            if s.count(mark) != 1:
                raise ValueError(f"not a number: {text!r}")
        elif _grouped(s.replace(" ", ""), found):
            decimal, thousands = "", found
        elif s.count(found) == 1:
            decimal, thousands = found, ""
        else:
            raise ValueError(f"not a number: {text!r}")
    else:
        decimal, thousands = "", ""
    whole, _sep, fraction = s.partition(decimal) if decimal else (s, "", "")
    if " " in whole:
        if thousands:
            raise ValueError(f"not a number: {text!r}")  # two kinds of thousands separators
        thousands = " "
    if thousands and thousands in whole:
        if not _grouped(whole, thousands):
            raise ValueError(f"not a number: {text!r}")
        whole = whole.replace(thousands, "")
    if not (whole or fraction) or (whole and not _DIGITS.match(whole)) or (fraction and not _DIGITS.match(fraction)):
        raise ValueError(f"not a number: {text!r}")
    try:
        return Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
    except InvalidOperation as error:  # pragma: no cover - the checks above leave only digits
        raise ValueError(f"not a number: {text!r}") from error


def _grouped(whole: str, thousands: str) -> bool:
    """True when `whole` is digits grouped by three: "1.234.567" for thousands=".": """
    groups = whole.split(thousands)
    return (len(groups) > 1 and 1 <= len(groups[0]) <= 3 and groups[0].isdigit()
            and all(len(g) == 3 and g.isdigit() for g in groups[1:]))


@lru_cache(maxsize=4096)
def parse_date(text: str, date_format: str) -> date:
    """A date in the partner's format, or ISO "YYYY-MM-DD" (what XLSX dates become) whatever the format."""
    s = text.strip()
    if _ISO_DATE.match(s):
        return date.fromisoformat(s[:10])
    if not date_format:
        raise ValueError(f"not a date: {text!r}")
    try:
        return datetime.strptime(s, date_format).date()
    except ValueError:
        # "01/03/2026 08:30" from a format without the time: the day is what is billed.
        first = s.split(" ", 1)[0]
        if first == s:
            raise
        return datetime.strptime(first, date_format).date()


# --- Detection ------------------------------------------------------------------------------------


def is_xlsx(head: bytes, filename: str = "") -> bool:
    return head.startswith(b"PK\x03\x04") or filename.lower().endswith((".xlsx", ".xlsm"))


def detect_format(head: bytes, *, filename: str) -> FileFormat:
    """Guess a file's format from its first bytes; raise UnreadableFile when it is no text at all.

    No header matching any alias is not an error here: the partner may have
    declared positions (has_header=False is returned, and `read_rows` refuses
    the file if no positions were declared either).
    """
    if is_xlsx(head, filename):
        return FileFormat(kind="xlsx", encoding="", separator="", decimal_comma=False, date_format="",
                          has_header=True, columns={})
    text, encoding = _decode_head(head)
    if len(head) >= HEAD_BYTES:
        # The head was cut: the last line is probably incomplete.
        cut = max(text.rfind("\n"), text.rfind("\r"))
        if cut > 0:
            text = text[:cut + 1]
    if not text.strip():
        raise UnreadableFile(EMPTY)
    separator, records = _detect_separator(text)
    header = records[0]
    indexes = _match_header_indexes(header)
    columns: dict[str, str | int] = {f: header[i] for f, i in indexes.items()}
    has_header = bool(columns)
    data = records[1:] if has_header else records
    numbers = [row[indexes[f]] for f in ("quantity", "unit_price") if f in indexes for row in data
               if indexes[f] < len(row)]
    if not has_header:
        numbers = [cell for row in data for cell in row]
    decimal_comma = _detect_decimal_comma(numbers, separator)
    dates = [row[indexes["date"]] for row in data if "date" in indexes and indexes["date"] < len(row)]
    date_format = _detect_date_format(dates) if "date" in indexes else ""
    return FileFormat(kind="csv", encoding=encoding, separator=separator, decimal_comma=decimal_comma,
                      date_format=date_format, has_header=has_header, columns=columns)


def _decode_head(head: bytes) -> tuple[str, str]:
    if head.startswith(codecs.BOM_UTF8):
        encoding, body = "utf-8-sig", head[len(codecs.BOM_UTF8):]
    else:
        encoding, body = "utf-8", head
    if not body.strip():
        raise UnreadableFile(EMPTY)
    if b"\x00" in body:  # UTF-16, an old .xls, an image...
        raise UnreadableFile(NOT_TEXT)
    try:
        # final=False: a character cut at the end of the head is not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        if encoding == "utf-8-sig":
            raise UnreadableFile(NOT_TEXT) from None
        try:
            text, encoding = body.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise UnreadableFile(NOT_TEXT) from None
    controls = sum(1 for c in text if c < " " and c not in "\t\r\n\x0c\x1a")
    if controls > len(text) / 100:
        raise UnreadableFile(NOT_TEXT)
    return text, encoding


def _records(text: str, separator: str, limit: int = 200) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, skipinitialspace=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if "".join(row).strip():
                rows.append([cell.strip() for cell in row])
                if len(rows) >= limit:
                    break
    except csv.Error:
        pass
    return rows


def _detect_separator(text: str) -> tuple[str, list[list[str]]]:
    """The separator whose header names the most known columns, then whose rows agree on their width."""
    best: tuple[Any, ...] = ()
    for rank, separator in enumerate(SEPARATORS):
        records = _records(text, separator)
        if not records:
            continue
        widths = [len(r) for r in records]
        modal = max(set(widths), key=lambda w: (widths.count(w), w))
        agreement = widths.count(modal) / len(widths)
        score = (len(_match_header(records[0])), modal > 1, agreement, modal, -rank)
        if not best or score > best[0]:
            best = (score, separator, records)
    if not best:
        raise UnreadableFile(EMPTY)
    return best[1], best[2]


def _match_header(cells: list[str]) -> dict[str, str]:
    """field → the header text of its column, for the cells that match an alias."""
    return {f: cells[i].strip() for f, i in _match_header_indexes(cells).items()}


def _match_header_indexes(cells: list[str], taken: set[int] | None = None) -> dict[str, int]:
    """field → 0-based index of the first cell (not in `taken`) that matches one of its aliases."""
    keys = [normalize_header(c) for c in cells]
    found: dict[str, int] = {}
    used = set(taken or ())
    for f in USAGE_FIELDS:
        for alias in _ALIAS_KEYS[f]:
            index = next((i for i, k in enumerate(keys) if k == alias and i not in used), None)
            if index is not None:
                found[f] = index
                used.add(index)
                break
    return found


def _detect_decimal_comma(values: list[str], separator: str) -> bool:
    """Votes of the numbers that say which mark they use; with none, the separator's convention."""
    comma = point = 0
    for value in values:
        s = value.strip().translate(_SPACE_TABLE).replace(" ", "").lstrip("+-")
        if not s or (not s[0].isdigit() and s[0] not in ",."):
            continue
        if re.fullmatch(r"\d*,\d+", s) and not re.fullmatch(r"\d{1,3}(,\d{3})+", s):
            comma += 1
        elif re.fullmatch(r"\d*\.\d+", s) and not re.fullmatch(r"\d{1,3}(\.\d{3})+", s):
            point += 1
        elif re.fullmatch(r"\d{1,3}(\.\d{3})+,\d+", s):
            comma += 1
        elif re.fullmatch(r"\d{1,3}(,\d{3})+\.\d+", s):
            point += 1
    if comma != point:
        return comma > point
    return separator == ";"


def _detect_date_format(values: list[str]) -> str:
    values = [v for v in values if v]
    if not values:
        return ""
    for fmt in DATE_FORMATS:
        try:
            for value in values:
                datetime.strptime(value.split(" ", 1)[0].split("T", 1)[0], fmt)
            return fmt
        except ValueError:
            continue
    return ""


def format_for(partner_values: dict[str, Any], detected: FileFormat | None) -> FileFormat:
    """The format to read a file with: the partner's declared values, the detected ones for the gaps.

    `partner_values` uses the Partner model's field names (file_kind,
    encoding, separator, decimal_comma, date_format, has_header, columns,
    format_confirmed); empty values mean "not declared". Two exceptions,
    because they are facts of the file and not preferences: the kind
    (an XLSX file is read as XLSX), and, on an unconfirmed format, the
    header (has_header is a plain boolean that defaults to True, so only
    False or a confirmed format counts as declared).
    """
    pv = partner_values
    kind = (detected.kind if detected else "") or pv.get("file_kind") or pv.get("kind") or "csv"
    if kind not in ("csv", "xlsx"):
        raise UnreadableFile(BAD_FORMAT, value=kind)
    if kind == "xlsx":
        encoding = separator = ""
    else:
        encoding = pv.get("encoding") or (detected.encoding if detected and detected.kind == "csv" else "") \
            or "utf-8"
        separator = pv.get("separator") or (detected.separator if detected and detected.kind == "csv" else "") \
            or ";"
    declared_comma = pv.get("decimal_comma")
    if declared_comma is not None:
        decimal_comma = bool(declared_comma)
    elif detected is not None:
        decimal_comma = detected.decimal_comma
    else:
        decimal_comma = separator == ";"
    date_format = pv.get("date_format") or (detected.date_format if detected else "")
    declared_header = pv.get("has_header", True)
    if pv.get("format_confirmed") or declared_header is False or detected is None:
        has_header = bool(declared_header)
    else:
        has_header = detected.has_header
    columns: dict[str, str | int] = dict(detected.columns) if detected and has_header else {}
    for name, spec in (pv.get("columns") or {}).items():
        if spec not in ("", None):
            columns[name] = spec
    return FileFormat(kind=kind, encoding=encoding, separator=separator, decimal_comma=decimal_comma,
                      date_format=date_format, has_header=has_header, columns=columns)


# --- Reading --------------------------------------------------------------------------------------


def read_rows(stream: BinaryIO, fmt: FileFormat) -> Iterator[RawRow]:
    """The file's non-blank rows after the header, one at a time, from the start of `stream`.

    Memory stays flat whatever the file's size: CSV is decoded and parsed a
    buffer at a time; XLSX goes through openpyxl's read-only mode. The
    header is matched (and the file refused when the required columns are
    not found) before the first row is produced.
    """
    if fmt.kind == "xlsx":
        return _xlsx_rows(stream, fmt)
    if fmt.kind != "csv":
        raise UnreadableFile(BAD_FORMAT, value=fmt.kind)
    return _csv_rows(stream, fmt)


def preview(stream: BinaryIO, fmt: FileFormat, *, limit: int = 10) -> list[RawRow]:
    """The first `limit` rows as they will be imported; the stream is put back at its start."""
    rows = read_rows(stream, fmt)
    try:
        return list(islice(rows, limit))
    finally:
        rows.close()  # type: ignore[attr-defined]
        if stream.seekable():
            stream.seek(0)


def _position(spec: str | int) -> int | None:
    """The 0-based index of a column given by position (3 or "3"), None for a header name."""
    if isinstance(spec, bool):
        return None
    if isinstance(spec, int):
        return spec - 1 if spec >= 1 else None
    text = str(spec).strip()
    return int(text) - 1 if text.isdigit() and int(text) >= 1 else None


def _resolve_columns(fmt: FileFormat, header: list[str] | None, first: list[str]) -> list[tuple[str, int]]:
    """(field, 0-based index) pairs, from positions, declared header names, then aliases.

    `header` is None for a file without a header line; `first` is the first
    non-blank row, named in the message when the file is refused.
    """
    resolved: dict[str, int] = {}
    for name, spec in fmt.columns.items():
        index = _position(spec)
        if index is not None:
            resolved[name] = index
    if header is not None:
        keys = [normalize_header(c) for c in header]
        for name, spec in fmt.columns.items():
            if name not in resolved and normalize_header(str(spec)) in keys:
                resolved[name] = keys.index(normalize_header(str(spec)))
        for name, index in _match_header_indexes(header, taken=set(resolved.values())).items():
            resolved.setdefault(name, index)
    missing = [f for f in REQUIRED_FIELDS if f not in resolved]
    if missing:
        names = ", ".join(str(FIELD_NAMES.get(f, f)) for f in missing)
        if header is None and resolved:
            raise UnreadableFile(NO_POSITION, fields=names)
        # No positions at all: the first line is the header nothing in it was recognised.
        raise UnreadableFile(NO_HEADER, fields=names, line=" | ".join(first)[:120])
    return list(resolved.items())


def _header_is_data(fmt: FileFormat, header: list[str]) -> bool:
    """An XLSX file with positions declared whose first row names nothing known: it has no header.

    (Detection could not look inside the workbook to say so.)"""
    if any(_position(spec) is None for spec in fmt.columns.values()):
        return False
    if not all(f in fmt.columns for f in REQUIRED_FIELDS):
        return False
    return not any(normalize_header(c) in _ALL_ALIAS_KEYS for c in header)


def _csv_rows(stream: BinaryIO, fmt: FileFormat) -> Iterator[RawRow]:
    encoding = fmt.encoding or "utf-8"
    if encoding == "utf-8":
        encoding = "utf-8-sig"  # a BOM the partner did not declare is still not data
    if stream.seekable():
        stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")  # type: ignore[arg-type]
    captured: list[str] = []

    def lines() -> Iterator[str]:
        for line in text:
            captured.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=fmt.separator or ";", skipinitialspace=True)
    empty = dict.fromkeys(USAGE_FIELDS, "")
    try:
        try:
            pairs: list[tuple[str, int]] | None = None
            last = 0
            for row in reader:
                start, last = last + 1, reader.line_num
                raw = (captured[0] if len(captured) == 1 else "".join(captured)).rstrip("\r\n")
                captured.clear()
                if not "".join(row).strip():
                    continue
                if pairs is None:
                    cells = [c.strip() for c in row]
                    if fmt.has_header:
                        pairs = _resolve_columns(fmt, cells, cells)
                        continue
                    pairs = _resolve_columns(fmt, None, cells)
                width = len(row)
                values = dict(empty)
                for name, index in pairs:
                    if index < width:
                        values[name] = row[index].strip()
                yield RawRow(start, raw, values)
        except UnicodeDecodeError:
            raise UnreadableFile(NOT_TEXT_AT, line=_bad_line(stream, encoding) or last + 1,
                                 encoding=_ENCODING_NAMES.get(encoding, encoding)) from None
        except csv.Error as error:
            raise UnreadableFile(BROKEN_CSV, line=last + 1, reason=str(error)) from None
        if pairs is None:
            raise UnreadableFile(EMPTY)
    finally:
        with contextlib.suppress(ValueError):
            text.detach()  # the caller's stream stays open


_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}


def _bad_line(stream: BinaryIO, encoding: str) -> int | None:
    """The number of the first line that does not decode (on the error path only: reads the file again)."""
    if not stream.seekable():
        return None
    stream.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    for number, line in enumerate(iter(stream.readline, b""), start=1):
        try:
            decoder.decode(line)
        except UnicodeDecodeError:
            return number
    return None


def _xlsx_rows(stream: BinaryIO, fmt: FileFormat) -> Iterator[RawRow]:
    from openpyxl import load_workbook  # only XLSX imports pay for it

    if stream.seekable():
        stream.seek(0)
    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
        sheet = workbook.active or workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers record wrong dimensions; rows carry their own numbers
    except Exception:
        raise UnreadableFile(NOT_XLSX) from None
    empty = dict.fromkeys(USAGE_FIELDS, "")
    mark = "," if fmt.decimal_comma else "."
    try:
        pairs: list[tuple[str, int]] | None = None
        for row in sheet.iter_rows():
            cells = [_cell_text(cell.value, mark) for cell in row]
            if not "".join(cells).strip():
                continue
            number = next((cell.row for cell in row if getattr(cell, "row", None)), None)
            if pairs is None:
                if fmt.has_header and not _header_is_data(fmt, cells):
                    pairs = _resolve_columns(fmt, cells, cells)
                    continue
                pairs = _resolve_columns(fmt, None, cells)
            width = len(cells)
            values = dict(empty)
            for name, index in pairs:
                if index < width:
                    values[name] = cells[index]
            yield RawRow(number or 0, ";".join(cells).rstrip(";"), values)
        if pairs is None:
            raise UnreadableFile(EMPTY)
    finally:
        workbook.close()


def _cell_text(value: Any, mark: str) -> str:
    """A cell as the text a CSV export would hold: exact numbers, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same float: 12.1 stays "12.1", not 12.0999...
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
        text = format(value, "f")
        return text.replace(".", mark) if mark != "." else text
    return str(value).strip()
