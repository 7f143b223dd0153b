"""Partners' files as they really come: each kind of untidy input reads into the right rows, or is refused whole."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from encaisse.usage.formats import (
    FileFormat,
    RawRow,
    UnreadableFile,
    detect_format,
    format_for,
    parse_date,
    parse_decimal,
    preview,
    read_rows,
)

FRENCH_HEADER = "N° client;Prestation;Quantité;Prix unitaire;Date;Commentaire"
ENGLISH_HEADER = "Customer ID,Service,Quantity,Unit price,Date,Comment"


def read(data: bytes, filename: str = "usage.csv", partner: dict | None = None) -> tuple[FileFormat, list[RawRow]]:
    fmt = format_for(partner or {}, detect_format(data[:65536], filename=filename))
    return fmt, list(read_rows(io.BytesIO(data), fmt))


def picked(rows: list[RawRow], *fields: str) -> list[tuple]:
    return [(row.line, *(row.values[f] for f in fields)) for row in rows]


# --- Detection and reading of CSV ---------------------------------------------------------------


def test_a_french_file_with_bom_decimal_comma_and_semicolons_is_detected_and_read():
    data = ("\ufeff" + FRENCH_HEADER + "\r\nC001;PRESSING;2;12,50;03/03/2026;chemise\r\n").encode()
    fmt, rows = read(data)
    assert (fmt.kind, fmt.encoding, fmt.separator, fmt.decimal_comma, fmt.date_format, fmt.has_header) == (
        "csv", "utf-8-sig", ";", True, "%d/%m/%Y", True)
    assert fmt.columns["customer"] == "N° client"
    assert rows == [RawRow(2, "C001;PRESSING;2;12,50;03/03/2026;chemise", {
        "customer": "C001", "service": "PRESSING", "quantity": "2", "unit_price": "12,50",
        "date": "03/03/2026", "label": "", "comment": "chemise"})]


def test_an_english_file_with_commas_and_decimal_points_is_detected_and_read():
    data = (ENGLISH_HEADER + "\n42,CLEANING,1.5,30.00,2026-03-04,\n").encode()
    fmt, rows = read(data)
    assert (fmt.encoding, fmt.separator, fmt.decimal_comma, fmt.date_format) == ("utf-8", ",", False, "%Y-%m-%d")
    assert picked(rows, "customer", "service", "quantity", "unit_price") == [(2, "42", "CLEANING", "1.5", "30.00")]


def test_crlf_and_lf_mixed_blank_lines_and_no_final_newline_keep_physical_line_numbers():
    data = (FRENCH_HEADER + "\r\nC1;A;1;1;;\n\n\r\n   \nC2;B;2;2;;\r\n;;;;;\nC3;C;3;3;;").encode()
    _fmt, rows = read(data)
    # header 1, C1 2, blank lines 3-5, C2 6, a line of separators only 7, C3 8 (no newline at the end)
    assert picked(rows, "customer") == [(2, "C1"), (6, "C2"), (8, "C3")]


def test_a_quoted_field_with_the_separator_and_a_newline_keeps_its_text_and_the_next_line_number():
    data = (FRENCH_HEADER + '\nC1;A;1;1;;"rue des Lilas; bât. B\r\n2e étage"\nC2;B;1;1;;\n').encode()
    _fmt, rows = read(data)
    assert picked(rows, "customer", "comment") == [(2, "C1", "rue des Lilas; bât. B\r\n2e étage"), (4, "C2", "")]
    assert rows[0].raw == 'C1;A;1;1;;"rue des Lilas; bât. B\r\n2e étage"'


def test_trailing_and_leading_spaces_around_values_and_header_names_are_dropped():
    data = (" N° client ; Prestation ;Quantité  ;Prix unitaire\n  C1  ;  PRESSING ; 2 ; 3,10  \n").encode()
    fmt, rows = read(data)
    assert fmt.columns["quantity"] == "Quantité"
    assert picked(rows, "customer", "service", "quantity", "unit_price") == [(2, "C1", "PRESSING", "2", "3,10")]
    assert rows[0].raw == "  C1  ;  PRESSING ; 2 ; 3,10  "


def test_windows_1252_accents_are_detected_and_decoded():
    data = (FRENCH_HEADER + "\nC1;REPASSAGE;1;2,00;;Mme Bérénice Lefèvre, 3€\n").encode("cp1252")
    fmt, rows = read(data)
    assert fmt.encoding == "cp1252"
    assert rows[0].values["comment"] == "Mme Bérénice Lefèvre, 3€"


def test_a_tab_separated_file_is_detected():
    data = "Client\tCode prestation\tQté\tPU\nC1\tREP\t4\t1,5\n".encode()
    fmt, rows = read(data)
    assert (fmt.separator, fmt.decimal_comma) == ("\t", True)
    assert picked(rows, "customer", "service", "quantity", "unit_price") == [(2, "C1", "REP", "4", "1,5")]


def test_thousands_separators_decide_the_decimal_mark():
    # "1.234,50" can only be a decimal comma; "1,234.50" only a decimal point (here with a tab separator,
    # which says nothing about the mark).
    comma, _rows = read((FRENCH_HEADER + "\nC1;A;1;1.234,50;;\n").encode())
    point, _rows = read(b"Customer\tService\tQuantity\tPrice\nC1\tA\t1\t1,234.50\n")
    assert (comma.decimal_comma, point.decimal_comma) == (True, False)


def test_a_decimal_comma_inside_a_comma_separated_file_is_quoted_and_detected():
    data = (ENGLISH_HEADER + '\nC1,A,"2,5","10,00",,\n').encode()
    fmt, rows = read(data)
    assert (fmt.separator, fmt.decimal_comma) == (",", True)
    assert rows[0].values["quantity"] == "2,5"


def test_day_first_dates_are_preferred_and_month_first_recognised_when_the_day_is_over_12():
    french, _rows = read((FRENCH_HEADER + "\nC1;A;1;1;03/04/2026;\n").encode())
    american, _rows = read((ENGLISH_HEADER + "\nC1,A,1,1,03/25/2026,\n").encode())
    assert (french.date_format, american.date_format) == ("%d/%m/%Y", "%m/%d/%Y")


def test_a_headerless_file_reads_with_the_positions_the_partner_declared():
    data = b"C1;PRESSING;2;12,50\nC2;REPASSAGE;1;3,00\n"
    detected = detect_format(data, filename="usage.csv")
    assert detected.has_header is False
    partner = {"columns": {"customer": 1, "service": 2, "quantity": 3, "unit_price": "4"}}
    fmt, rows = read(data, partner=partner)
    assert fmt.has_header is False
    assert picked(rows, "customer", "service", "quantity", "unit_price") == [
        (1, "C1", "PRESSING", "2", "12,50"), (2, "C2", "REPASSAGE", "1", "3,00")]


def test_declared_header_names_win_over_the_aliases():
    data = "Adhérent;Code;Nb;Montant;Prestation\nC1;P1;2;5;Pressing\n".encode()
    partner = {"columns": {"customer": "adherent", "service": "Code", "quantity": "NB", "unit_price": "Montant"}}
    _fmt, rows = read(data, partner=partner)
    assert picked(rows, "customer", "service", "quantity", "unit_price") == [(2, "C1", "P1", "2", "5")]


def test_declared_values_win_over_detected_ones_and_detected_ones_fill_the_gaps():
    detected = FileFormat(kind="csv", encoding="utf-8", separator=",", decimal_comma=False, date_format="%Y-%m-%d",
                          has_header=True, columns={"customer": "Client", "service": "Service"})
    fmt = format_for({"separator": ";", "decimal_comma": True, "encoding": "", "date_format": "",
                      "columns": {"service": 2, "quantity": ""}}, detected)
    assert (fmt.separator, fmt.decimal_comma, fmt.encoding, fmt.date_format) == (";", True, "utf-8", "%Y-%m-%d")
    assert fmt.columns == {"customer": "Client", "service": 2}


def test_a_file_format_round_trips_through_its_dict():
    fmt = FileFormat(kind="csv", encoding="cp1252", separator="\t", decimal_comma=False, date_format="%d.%m.%Y",
                     has_header=False, columns={"customer": 1, "service": "Code"})
    assert FileFormat.from_dict(fmt.as_dict()) == fmt


def test_preview_gives_the_first_rows_and_rewinds_the_stream():
    stream = io.BytesIO((FRENCH_HEADER + "\n" + "".join(f"C{n};A;1;1;;\n" for n in range(30))).encode())
    fmt = detect_format(stream.getvalue(), filename="usage.csv")
    rows = preview(stream, fmt, limit=3)
    assert picked(rows, "customer") == [(2, "C0"), (3, "C1"), (4, "C2")]
    assert stream.tell() == 0
    assert not stream.closed
    assert len(list(read_rows(stream, fmt))) == 30


# --- Refused files --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\n  \n"])
def test_an_empty_file_is_refused(data):
    with pytest.raises(UnreadableFile, match="empty") as refused:
        read(data)
    assert refused.value.code == "unreadable_file"


def test_a_binary_file_is_refused_before_anything_is_read():
    garbage = bytes(range(256)) * 40  # NUL bytes, control characters, bytes no text encoding has
    with pytest.raises(UnreadableFile, match="not UTF-8 or Windows-1252"):
        detect_format(garbage, filename="usage.csv")


def test_a_header_that_names_nothing_known_is_refused_with_the_missing_columns():
    data = b"Foo;Bar;Baz\n1;2;3\n"
    with pytest.raises(UnreadableFile, match="No recognisable header") as refused:
        read(data)
    assert "customer reference" in str(refused.value)


def test_a_header_missing_a_required_column_is_refused():
    with pytest.raises(UnreadableFile, match="quantity"):
        read("N° client;Prestation;Prix\nC1;A;3\n".encode())


def test_a_byte_that_does_not_decode_further_down_is_refused_naming_its_line():
    lines = [FRENCH_HEADER.encode()] + [b"C%d;A;1;1;;ok" % n for n in range(5000)]
    lines[4321] = b"C4320;A;1;1;;caf\xe9"  # Windows-1252 in a file declared UTF-8
    data = b"\n".join(lines)
    fmt = FileFormat(kind="csv", encoding="utf-8", separator=";", decimal_comma=True, has_header=True)
    rows = read_rows(io.BytesIO(data), fmt)
    with pytest.raises(UnreadableFile, match="Line 4322 is not UTF-8 text"):
        list(rows)


def test_a_file_declared_xlsx_that_is_not_a_workbook_is_refused():
    with pytest.raises(UnreadableFile, match="not an XLSX workbook"):
        read(b"PK\x03\x04 not really a zip", filename="usage.xlsx")


# --- XLSX -----------------------------------------------------------------------------------------


def xlsx(rows: list[list]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_xlsx_workbook_reads_with_exact_numbers_iso_dates_and_row_numbers():
    data = xlsx([
        ["N° client", "Prestation", "Quantité", "Prix unitaire", "Date", "Commentaire"],
        [1042, "PRESSING", 3, 12.1, datetime(2026, 3, 5), "  chemise "],
        [None, None, None, None, None, None],
        ["C7", "REPASSAGE", 0.1, Decimal("4.5"), date(2026, 3, 6), None],
    ])
    fmt, rows = read(data, filename="mars.xlsx")
    assert fmt.kind == "xlsx"
    assert picked(rows, "customer", "quantity", "unit_price", "date", "comment") == [
        (2, "1042", "3", "12.1", "2026-03-05", "chemise"),  # 12.1, not 12.0999999999999996447...
        (4, "C7", "0.1", "4.5", "2026-03-06", ""),
    ]
    assert parse_decimal(rows[0].values["unit_price"], decimal_comma=fmt.decimal_comma) == Decimal("12.1")


def test_a_headerless_xlsx_reads_every_row_with_declared_positions():
    data = xlsx([["C1", "PRESSING", 2], ["C2", "REPASSAGE", 1]])
    partner = {"columns": {"customer": 1, "service": 2, "quantity": 3}}
    _fmt, rows = read(data, filename="mars.xlsx", partner=partner)
    assert picked(rows, "customer", "quantity") == [(1, "C1", "2"), (2, "C2", "1")]


def test_an_xlsx_without_a_known_header_is_refused():
    with pytest.raises(UnreadableFile, match="No recognisable header"):
        read(xlsx([["a", "b", "c"], [1, 2, 3]]), filename="mars.xlsx")


# --- parse_decimal and parse_date -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "decimal_comma", "expected"), [
    ("1 234,50", True, "1234.50"),
    ("1.234,50", True, "1234.50"),
    ("1,234.50", False, "1234.50"),
    ("1234.5", False, "1234.5"),
    ("12", True, "12"),
    ("  -3,5 ", True, "-3.5"),
    ("+7", False, "7"),
    ("1\u00a0234\u00a0567,8", True, "1234567.8"),
    ("1\u202f234,8", True, "1234.8"),
    ("1'234.8", False, "1234.8"),
    ("1,234", True, "1.234"),  # the declared mark settles what is ambiguous
    ("1,234", False, "1234"),
    ("12.5", True, "12.5"),  # a spreadsheet's decimal point in a decimal-comma file
    (",5", True, "0.5"),
])
def test_parse_decimal_reads_numbers_as_people_write_them(text, decimal_comma, expected):
    assert parse_decimal(text, decimal_comma=decimal_comma) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "  ", "abc", "1,2,3", "NaN", "Infinity", "-", "1.2.3,4,5", "12 34",
                                  "1,234.5.6", "1e5", "0x10", "1.234 567,8"])
def test_parse_decimal_refuses_what_is_not_a_number(text):
    with pytest.raises(ValueError, match="not a number"):
        parse_decimal(text, decimal_comma=False)


def test_parse_date_reads_the_partner_format_and_iso_whatever_the_format():
    assert parse_date("05/03/2026", "%d/%m/%Y") == date(2026, 3, 5)
    assert parse_date(" 2026-03-05 ", "%d/%m/%Y") == date(2026, 3, 5)
    assert parse_date("2026-03-05 14:30:00", "") == date(2026, 3, 5)
    assert parse_date("05/03/2026 08:30", "%d/%m/%Y") == date(2026, 3, 5)
    for bad, fmt in (("31/02/2026", "%d/%m/%Y"), ("05/03/2026", ""), ("hier", "%d/%m/%Y")):
        with pytest.raises(ValueError, match=r"not a date|does not match|out of range"):
            parse_date(bad, fmt)


# --- Properties -----------------------------------------------------------------------------------


def written(value: Decimal, mark: str, thousands: str) -> str:
    whole, _point, fraction = format(value.copy_abs(), "f").partition(".")
    if thousands:
        head = len(whole) % 3 or 3
        whole = thousands.join([whole[:head]] + [whole[i:i + 3] for i in range(head, len(whole), 3)])
    return ("-" if value.is_signed() else "") + whole + (mark + fraction if fraction else "")


@given(
    value=st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12),
    decimal_comma=st.booleans(),
    thousands=st.sampled_from(["", " ", "\u00a0", "\u202f", "'", "other"]),
    padding=st.sampled_from(["", " ", "  "]),
)
def test_parse_decimal_reads_back_any_number_written_with_either_mark_and_thousands_separators(
        value, decimal_comma, thousands, padding):
    mark = "," if decimal_comma else "."
    if thousands == "other":
        thousands = "." if decimal_comma else ","
    text = padding + written(value, mark, thousands) + padding
    assert parse_decimal(text, decimal_comma=decimal_comma) == value


# Windows-1252 letters that can never form a valid UTF-8 sequence (all are lead bytes ≥ 0xC0 with no
# continuation byte possible after them), so the encoding a file is detected in is the one it was written in.
TEXT = st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)) | st.sampled_from(
    list("éèàçôùêâÉÀ;,\t\"\r\n")), max_size=12).map(str.strip)
ROW = st.tuples(TEXT.filter(bool), TEXT, TEXT, TEXT, TEXT, TEXT, TEXT)
HEADERS = (["N° client", "Prestation", "Quantité", "Prix unitaire", "Date", "Libellé", "Commentaire"],
           ["Customer ID", "Service", "Quantity", "Unit price", "Date", "Label", "Comment"])


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(ROW, min_size=1, max_size=20), separator=st.sampled_from([";", ",", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]), header=st.sampled_from(HEADERS),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_any_rows_written_by_csv_read_back_identical(rows, separator, encoding, header, newline):
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=separator, lineterminator=newline)
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode(encoding)
    fmt, read_back = read(data)
    fields = ("customer", "service", "quantity", "unit_price", "date", "label", "comment")
    assert fmt.separator == separator
    assert [tuple(row.values[f] for f in fields) for row in read_back] == rows
