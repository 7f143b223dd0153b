"""Any usage file either imports with totals equal to the sum of its valid lines, or is refused and writes nothing."""

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from io import BytesIO, StringIO
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice, InvoiceLine
from encaisse.usage.formats import UnreadableFile
from encaisse.usage.models import UsageImport
from encaisse.usage.services import import_usage_file
from encaisse.usage.tests.factories import customers, partner_with_mappings

MARCH = date(2026, 3, 1)
REFS = ("C001", "C002", "C003")
CODES = ("CHEM", "COST", "DRAP")
HEADERS = {
    "fr": ("N° client", "Prestation", "Quantité", "Prix unitaire", "Date"),
    "en": ("Customer ID", "Service", "Quantity", "Unit price", "Date"),
}
FIELDS = ("customer", "service", "quantity", "unit_price", "date")


@dataclass(frozen=True)
class Row:
    """One generated line: its values, and whether the import must bill it."""

    customer: str
    service: str
    quantity: Decimal | str
    price: Decimal
    day: int
    month: int = 3
    valid: bool = True


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50"), places=2)
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("200"), places=2)
days = st.integers(min_value=1, max_value=31)
valid_rows = st.builds(Row, customer=st.sampled_from(REFS), service=st.sampled_from(CODES), quantity=amounts,
                       price=prices, day=days)
invalid_rows = st.one_of(
    st.builds(Row, customer=st.just("ZZ9"), service=st.sampled_from(CODES), quantity=amounts, price=prices,
              day=days, valid=st.just(False)),  # unknown customer
    st.builds(Row, customer=st.sampled_from(REFS), service=st.just("NOPE"), quantity=amounts, price=prices,
              day=days, valid=st.just(False)),  # unknown service
    st.builds(Row, customer=st.just(""), service=st.sampled_from(CODES), quantity=amounts, price=prices,
              day=days, valid=st.just(False)),  # missing customer
    st.builds(Row, customer=st.sampled_from(REFS), service=st.sampled_from(CODES),
              quantity=st.sampled_from(["abc", "0", "-1", ""]), price=prices, day=days,
              valid=st.just(False)),  # not a number, not positive, missing
    st.builds(Row, customer=st.sampled_from(REFS), service=st.sampled_from(CODES), quantity=amounts,
              price=prices, day=st.integers(min_value=1, max_value=30), month=st.just(4),
              valid=st.just(False)),  # April
)
# Small value sets make repeated lines common; None is a blank line.
lines = st.lists(st.one_of(valid_rows, valid_rows, invalid_rows, st.none()), max_size=30)


def number(value: Decimal | str, decimal_comma: bool) -> str:
    text = str(value)
    return text.replace(".", ",") if decimal_comma else text


def write(rows: list[Row | None], *, separator: str, decimal_comma: bool, iso_dates: bool, header: tuple,
          newline: str, bom: bool) -> bytes:
    out = StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator=newline)  # quotes fields holding the separator
    writer.writerow(header)
    for row in rows:
        if row is None:
            out.write(newline)
            continue
        on = date(2026, row.month, row.day)
        writer.writerow([row.customer, row.service, number(row.quantity, decimal_comma),
                         number(row.price, decimal_comma), on.isoformat() if iso_dates else f"{on:%d/%m/%Y}"])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def expected(rows: list[Row | None]) -> tuple[Money, int, int, int]:
    """The total of the valid lines billed once, and how many are accepted, rejected and repeats."""
    total, accepted, rejected, repeats = Money.zero("EUR"), 0, 0, 0
    seen = set()
    for row in rows:
        if row is None:
            continue
        if not row.valid:
            rejected += 1
            continue
        key = (row.customer, row.service, row.quantity, row.price, row.day)
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        accepted += 1
        total += Money.of(row.quantity * row.price, "EUR")
    return total, accepted, rejected, repeats


def counts() -> tuple[int, int, int]:
    return UsageImport.objects.count(), Invoice.objects.count(), InvoiceLine.objects.count()


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=lines, separator=st.sampled_from([";", ",", "\t"]), decimal_comma=st.booleans(),
       confirmed=st.booleans(), language=st.sampled_from(["fr", "en"]), newline=st.sampled_from(["\n", "\r\n"]),
       bom=st.booleans())
def test_a_file_imports_the_sum_of_its_valid_lines_or_writes_nothing(
        org: Any, settings: Any, tmp_path: Any, rows: list[Row | None], separator: str, decimal_comma: bool,
        confirmed: bool, language: str, newline: str, bom: bool) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    header = HEADERS[language]
    # A declared format says how dates are written; a detected one cannot tell 03/04 from 04/03, so ISO.
    content = write(rows, separator=separator, decimal_comma=decimal_comma, iso_dates=not confirmed,
                    header=header, newline=newline, bom=bom)
    with transaction.atomic():  # each example leaves the database as it found it
        customers(org, *REFS)
        if confirmed:
            partner = partner_with_mappings(org, separator=separator, decimal_comma=decimal_comma,
                                            encoding="utf-8-sig" if bom else "utf-8",
                                            columns=dict(zip(FIELDS, header, strict=True)))
        else:
            partner = partner_with_mappings(org, format_confirmed=False, columns={}, separator="", encoding="",
                                            file_kind="", decimal_comma=None, date_format="")
        before = counts()
        try:
            done = import_usage_file(partner=partner, period=MARCH, file=BytesIO(content), filename="usage.csv")
        except UnreadableFile:
            event("refused")
            assert counts() == before
            # A declared format reads any file that has at least one line.
            assert not (confirmed and any(row is not None for row in rows))
        else:
            event("imported")
            total, accepted, rejected, repeats = expected(rows)
            written = InvoiceLine.objects.filter(source_import_id=done.pk)
            assert sum((Money.of(line.quantity * line.unit_price, "EUR") for line in written),
                       Money.zero("EUR")) == total
            assert written.count() == accepted == done.lines_accepted
            report = done.report
            assert Money.of(report["total"], "EUR") == total
            assert sum((Money.of(a, "EUR") for a in report["amount_by_customer"].values()),
                       Money.zero("EUR")) == total
            assert (report["rejected_count"], report["duplicate_count"]) == (rejected, repeats)
            assert done.lines_read == accepted + rejected + repeats
        transaction.set_rollback(True)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=lines, second=lines)
def test_a_corrected_file_leaves_the_month_as_if_only_it_had_been_imported(
        org: Any, settings: Any, tmp_path: Any, first: list[Row | None], second: list[Row | None]) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"

    def content(rows: list[Row | None]) -> bytes:
        return write(rows, separator=";", decimal_comma=True, iso_dates=False, header=HEADERS["fr"],
                     newline="\n", bom=False)

    with transaction.atomic():
        customers(org, *REFS)
        partner = partner_with_mappings(org, columns=dict(zip(FIELDS, HEADERS["fr"], strict=True)))
        for rows in (first, second):
            try:
                import_usage_file(partner=partner, period=MARCH, file=BytesIO(content(rows)), filename="usage.csv")
            except UnreadableFile:
                assert not any(row is not None for row in rows)  # only a file without lines is refused
        on_drafts = InvoiceLine.objects.filter(invoice__organisation=org, invoice__status="draft")
        billed = sum((Money.of(line.quantity * line.unit_price, "EUR") for line in on_drafts), Money.zero("EUR"))
        if any(row is not None for row in second):
            total, accepted, _rejected, _repeats = expected(second)
        else:  # the second file was refused: the first one's lines stay
            total, accepted, _rejected, _repeats = expected(first)
        assert billed == total
        assert on_drafts.count() == accepted
        # No draft is left empty, and every customer billed has exactly one draft for the month.
        drafts = Invoice.objects.filter(organisation=org, billing_period=MARCH)
        assert sorted(drafts.values_list("party__ref", flat=True)) == sorted(
            {line.invoice.party.ref for line in on_drafts.select_related("invoice__party")})
        transaction.set_rollback(True)
