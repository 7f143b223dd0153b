"""import_usage_file: a partner's month becomes one draft per customer, and every refused line says why."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from io import BytesIO
from threading import Barrier
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from encaisse.core.models import AuditEvent
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice, InvoiceLine, InvoiceType
from encaisse.invoicing.services import add_line
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.parties.models import Membership, Organisation
from encaisse.usage import services
from encaisse.usage.errors import ForeignPartner, PartnerInactive, PeriodNotAMonth
from encaisse.usage.formats import UnreadableFile
from encaisse.usage.models import UsageImport, source_key
from encaisse.usage.services import import_usage_file
from encaisse.usage.tests.factories import customers, partner_with_mappings, usage_file

MARCH = date(2026, 3, 1)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def run(partner: Any, file: BytesIO, *, by: Any = None, period: date = MARCH, **options: Any) -> UsageImport:
    return import_usage_file(partner=partner, period=period, file=file, filename="mars.csv", by=by, **options)


def counts() -> tuple[int, int, int]:
    return UsageImport.objects.count(), Invoice.objects.count(), InvoiceLine.objects.count()


def lines_of(org: Organisation, ref: str) -> list[InvoiceLine]:
    return list(InvoiceLine.objects.filter(invoice__party__ref=ref, invoice__organisation=org)
                .order_by("position"))


def line_amount(line: InvoiceLine) -> Money:
    return Money.of(line.quantity * line.unit_price, "EUR")


@pytest.mark.django_db
def test_a_month_becomes_one_draft_per_customer_with_the_files_lines(org, customer, clerk):
    customers(org, "C002")
    partner = partner_with_mappings(org)
    file = usage_file(
        "C001;CHEM;3;3,50;02/03/2026;;",
        "C001;COST;1;12,00;15/03/2026;;Urgent",
        "C002;DRAP;2,5;4,25;31/03/2026;Draps housse;",
    )

    done = run(partner, file, by=clerk)

    # C001: 3 × 3.50 = 10.50, plus 1 × 12.00 = 22.50. C002: 2.5 × 4.25 = 10.625 → 10.63. Total 33.13.
    assert done.status == UsageImport.Status.SUCCEEDED
    assert done.report["amount_by_customer"] == {"C001": "22.50", "C002": "10.63"}
    assert done.report["total"] == "33.13"
    assert done.report["currency"] == "EUR"
    assert (done.lines_read, done.lines_accepted, done.invoices_created, done.invoices_updated) == (3, 3, 2, 0)
    assert done.report["rejected"] == []
    assert done.report["duplicates"] == []
    assert done.report["format"]["separator"] == ";"
    assert done.imported_by == clerk
    assert done.finished_at is not None
    assert done.original.read().startswith("N° client;Prestation".encode())

    drafts = Invoice.objects.filter(organisation=org).order_by("party__ref")
    assert [(d.party.ref, d.status, d.billing_period, d.invoice_type_id) for d in drafts] == [
        ("C001", "draft", MARCH, partner.invoice_type_id), ("C002", "draft", MARCH, partner.invoice_type_id)]
    first, second = lines_of(org, "C001")
    assert (first.label, first.quantity, first.unit_price, line_amount(first)) == (
        "Chemise repassée", 3, Money.of("3.50", "EUR").to_decimal(), Money.of("10.50", "EUR"))
    assert second.label == "Costume nettoyé (Urgent)"
    key = source_key(partner.pk, MARCH)
    assert [(line.source, line.source_key, line.source_import_id, line.source_line_number, line.position)
            for line in (first, second)] == [("import", key, done.pk, 2, 1), ("import", key, done.pk, 3, 2)]
    (sheets,) = lines_of(org, "C002")
    assert sheets.label == "Drap lavé — Draps housse"
    assert sheets.source_line_number == 4
    # The trail: one "created" per draft and one "imported" on the import, by the clerk.
    assert AuditEvent.objects.filter(verb="created", content_type__model="invoice", by=clerk).count() == 2
    assert AuditEvent.objects.filter(verb="imported", object_id=str(done.pk), by=clerk).count() == 1


@pytest.mark.django_db
def test_the_catalogue_price_wins_when_the_partner_says_so(org, customer):
    partner = partner_with_mappings(org, price_source="catalogue")

    done = run(partner, usage_file("C001;CHEM;2;9,99;02/03/2026;;"))

    # 2 × 3.50 (catalogue), not 2 × 9.99.
    assert done.report["amount_by_customer"] == {"C001": "7.00"}
    (line,) = lines_of(org, "C001")
    assert line.unit_price == Money.of("3.50", "EUR").to_decimal()


@pytest.mark.django_db
def test_an_unknown_service_can_take_its_label_and_price_from_the_file(org, customer):
    partner = partner_with_mappings(org, unknown_service="from_file")

    done = run(partner, usage_file("C001;RIDEAU;2;15,00;02/03/2026;Rideaux;", "C001;RIDEAU;1;;02/03/2026;;"))

    # 2 × 15.00 = 30.00; the second line has no price to take.
    assert done.report["amount_by_customer"] == {"C001": "30.00"}
    assert [(r["line"], r["code"]) for r in done.report["rejected"]] == [(3, "missing_field")]
    (line,) = lines_of(org, "C001")
    assert (line.label, line.product_id, line.vat_rate.code) == ("Rideaux", None, "FR20")


@pytest.mark.django_db
def test_each_refused_line_is_reported_with_its_number_text_and_reason(org, customer):
    partner = partner_with_mappings(org, max_line_amount_minor=100_000)  # 1,000.00 at most per line
    refused = [
        ("C999;CHEM;1;3,50;02/03/2026;;", "unknown_customer", "C999"),
        ("C001;XXX;1;3,50;02/03/2026;;", "unknown_service", "XXX"),
        ("C001;;1;3,50;02/03/2026;;", "missing_field", "service code"),
        ("C001;CHEM;deux;3,50;02/03/2026;;", "not_a_number", "deux"),
        ("C001;CHEM;1;trois;02/03/2026;;", "not_a_number", "trois"),
        ("C001;CHEM;0;3,50;02/03/2026;;", "non_positive_quantity", "0"),
        ("C001;CHEM;-2;3,50;02/03/2026;;", "non_positive_quantity", "-2"),
        ("C001;CHEM;1;3,50;01/04/2026;;", "date_outside_period", "01/04/2026"),
        ("C001;CHEM;1;3,50;28/02/2026;;", "date_outside_period", "28/02/2026"),
        ("C001;CHEM;1;3,50;pas une date;;", "date_outside_period", "pas une date"),
        ("C001;CHEM;300;3,50;02/03/2026;;", "amount_too_large", "1050.00"),  # 300 × 3.50 = 1,050.00
    ]
    file = usage_file(*(text for text, _code, _value in refused), "C001;CHEM;2;3,50;03/03/2026;;")

    done = run(partner, file)

    rejected = done.report["rejected"]
    assert [(r["line"], r["raw"].rstrip("\r\n"), r["code"]) for r in rejected] == [
        (number, text, code) for number, (text, code, _value) in enumerate(refused, start=2)]
    for report, (_text, _code, value) in zip(rejected, refused, strict=True):
        assert value in report["message"]
    assert done.report["rejected_count"] == len(refused)
    # Only the last line is billed: 2 × 3.50 = 7.00.
    assert (done.lines_read, done.lines_accepted) == (12, 1)
    assert done.report["amount_by_customer"] == {"C001": "7.00"}


@pytest.mark.django_db
def test_lines_of_a_customer_whose_invoice_is_validated_are_refused(org, customer):
    customers(org, "C002")
    partner = partner_with_mappings(org)
    other = customers(org, "C003")[0]
    validated = draft_invoice(org, customer, ("Repassage", "1", "5.00"), status=Invoice.Status.VALIDATED,
                              billing_period=MARCH)
    draft_invoice(org, other, status=Invoice.Status.VALIDATED, billing_period=date(2026, 2, 1))  # February's

    done = run(partner, usage_file("C001;CHEM;1;3,50;02/03/2026;;", "C002;CHEM;1;3,50;02/03/2026;;",
                                   "C003;CHEM;1;3,50;02/03/2026;;"))

    assert [(r["line"], r["code"]) for r in done.report["rejected"]] == [(2, "invoice_not_draft")]
    assert "validated" in done.report["rejected"][0]["message"]
    assert done.report["amount_by_customer"] == {"C002": "3.50", "C003": "3.50"}
    assert validated.lines.count() == 1
    assert done.invoices_created == 2


@pytest.mark.django_db
def test_a_repeated_line_is_billed_once_and_reported_with_the_line_it_repeats(org, customer):
    partner = partner_with_mappings(org)
    file = usage_file(
        "C001;CHEM;1;3,50;02/03/2026;;",
        "C001;CHEM;1;3,50;03/03/2026;;",  # another day: not a repeat
        "C001;CHEM;1,0;3,5;02/03/2026;;",  # the same numbers written differently: a repeat of line 2
        "C001;CHEM;1;3,50;02/03/2026;;",
    )

    done = run(partner, file)

    assert done.report["duplicates"] == [{"line": 4, "repeats": 2}, {"line": 5, "repeats": 2}]
    assert done.lines_accepted == 2
    assert done.report["amount_by_customer"] == {"C001": "7.00"}  # 2 × 3.50
    assert len(lines_of(org, "C001")) == 2


@pytest.mark.django_db
def test_a_line_repeating_one_of_an_earlier_chunk_is_billed_once_and_names_that_line(org, customer, monkeypatch):
    # Lines go to the database two by two: the repeats below are met in a
    # later chunk than the line they repeat, and once in the same chunk.
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    partner = partner_with_mappings(org)
    file = usage_file(
        "C001;CHEM;1;3,50;02/03/2026;;",  # line 2
        "C001;CHEM;1;3,50;03/03/2026;;",  # line 3
        "C001;CHEM;1;3,50;02/03/2026;;",  # line 4: repeats line 2, of the first chunk
        "C001;CHEM;2;3,50;04/03/2026;;",  # line 5
        "C001;CHEM;2;3,50;04/03/2026;;",  # line 6: repeats line 5
        "C001;CHEM;2;3,50;04/03/2026;;",  # line 7: repeats line 5 too
        "C001;CHEM;1;3,50;05/03/2026;;",  # line 8
        "C001;CHEM;1;3,50;05/03/2026;;",  # line 9: repeats line 8, in its own chunk
    )

    done = run(partner, file)

    assert done.report["duplicates"] == [{"line": 4, "repeats": 2}, {"line": 6, "repeats": 5},
                                         {"line": 7, "repeats": 5}, {"line": 9, "repeats": 8}]
    assert (done.lines_read, done.lines_accepted, done.report["duplicate_count"]) == (8, 4, 4)
    assert done.report["amount_by_customer"] == {"C001": "17.50"}  # 3.50 + 3.50 + 2 × 3.50 + 3.50
    assert [line.source_line_number for line in lines_of(org, "C001")] == [2, 3, 5, 8]


@pytest.mark.django_db
def test_repeated_lines_are_all_billed_when_the_partner_says_they_are_legitimate(org, customer):
    partner = partner_with_mappings(org, repeated_lines_allowed=True)

    done = run(partner, usage_file(*["C001;CHEM;1;3,50;02/03/2026;;"] * 3))

    assert done.report["duplicates"] == []
    assert done.report["amount_by_customer"] == {"C001": "10.50"}  # 3 × 3.50
    assert len(lines_of(org, "C001")) == 3


@pytest.mark.django_db
def test_importing_the_same_file_again_changes_nothing(org, customer, clerk):
    partner = partner_with_mappings(org)
    content = usage_file("C001;CHEM;3;3,50;02/03/2026;;").getvalue()
    first = run(partner, BytesIO(content), by=clerk)
    before = counts()

    again = run(partner, BytesIO(content), by=clerk)

    assert again.pk == first.pk
    assert again.report["unchanged"] is True
    assert counts() == before
    assert UsageImport.objects.get(pk=first.pk).report["unchanged"] is False


@pytest.mark.django_db
def test_a_corrected_file_replaces_the_earlier_lines_and_keeps_the_managers_own(org, customer, clerk):
    customers(org, "C002")
    partner = partner_with_mappings(org)
    first = run(partner, usage_file("C001;CHEM;3;3,50;02/03/2026;;", "C002;DRAP;1;4,25;02/03/2026;;"), by=clerk)
    draft = Invoice.objects.get(party=customer)
    manual = add_line(invoice_id=draft.pk, label="Retouche maison", quantity=1, unit_price="8.00",
                      vat_rate=draft.lines.first().vat_rate, by=clerk)

    second = run(partner, usage_file("C001;CHEM;4;3,50;02/03/2026;;"), by=clerk)

    # C001 now: the manager's 8.00 and 4 × 3.50 = 14.00 from the corrected file; C002's line is gone,
    # and with it C002's draft, which held nothing else.
    assert [(line.label, line.source, line.source_import_id) for line in lines_of(org, "C001")] == [
        ("Retouche maison", "manual", None), ("Chemise repassée", "import", second.pk)]
    assert lines_of(org, "C001")[1].position == manual.position + 1
    assert lines_of(org, "C002") == []
    assert (second.invoices_created, second.invoices_updated, second.report["invoices_removed"]) == (0, 1, 1)
    assert second.report["amount_by_customer"] == {"C001": "14.00"}
    assert list(Invoice.objects.values_list("party__ref", flat=True)) == ["C001"]
    assert InvoiceLine.objects.filter(source_import_id=first.pk).count() == 0
    assert UsageImport.objects.filter(status="succeeded").count() == 2


@pytest.mark.django_db
def test_a_draft_left_empty_by_a_corrected_file_is_removed_and_one_with_the_managers_lines_stays(org, customer, clerk):
    kept, gone = customers(org, "C002", "C003")
    partner = partner_with_mappings(org)
    run(partner, usage_file("C001;CHEM;1;3,50;02/03/2026;;", "C002;CHEM;1;3,50;02/03/2026;;",
                            "C003;CHEM;1;3,50;02/03/2026;;"), by=clerk)
    kept_draft = Invoice.objects.get(party=kept)
    add_line(invoice_id=kept_draft.pk, label="Retouche maison", quantity=1, unit_price="8.00",
             vat_rate=kept_draft.lines.first().vat_rate, by=clerk)

    second = run(partner, usage_file("C001;CHEM;2;3,50;02/03/2026;;"), by=clerk)

    assert (second.invoices_updated, second.report["invoices_removed"]) == (2, 1)
    assert not Invoice.objects.filter(party=gone).exists()
    assert [line.label for line in lines_of(org, "C002")] == ["Retouche maison"]
    assert AuditEvent.objects.filter(verb="deleted", content_type__model="invoice", by=clerk).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("content", [
    b"",
    b"\x00\x01\x02PK-not-really\xff\xfe\x00" * 100,
    "N° client;Prestation;Quantité;Prix unitaire;Date;Libellé;Commentaire\n".encode(),  # a header, no lines
], ids=["empty", "binary", "header-only"])
def test_an_unreadable_file_is_refused_and_writes_nothing(org, customer, content):
    partner = partner_with_mappings(org)
    run(partner, usage_file("C001;CHEM;3;3,50;02/03/2026;;"))
    before = counts()

    with pytest.raises(UnreadableFile):
        run(partner, BytesIO(content))

    assert counts() == before
    assert InvoiceLine.objects.filter(source="import").count() == 1


@pytest.mark.django_db
def test_a_file_that_turns_unreadable_after_lines_were_written_writes_nothing(org, customer, monkeypatch):
    monkeypatch.setattr(services, "CHUNK_SIZE", 10)  # lines are inserted long before the bad byte is met
    partner = partner_with_mappings(org, repeated_lines_allowed=True)
    good = usage_file(*["C001;CHEM;1;3,50;02/03/2026;;"] * 2_000).getvalue()

    with pytest.raises(UnreadableFile, match="Line 2002"):
        run(partner, BytesIO(good + "C001;CHEM;1;3,50;02/03/2026;Pressé à l'ancienne;\n".encode("cp1252")))

    assert counts() == (0, 0, 0)
    assert AuditEvent.objects.filter(content_type__model__in=["invoice", "usageimport"]).count() == 0


@pytest.mark.django_db
def test_an_undetectable_file_is_refused_for_a_partner_without_a_confirmed_format(org, customer):
    partner = partner_with_mappings(org, format_confirmed=False, columns={}, separator="", encoding="",
                                    file_kind="", decimal_comma=None, date_format="")
    before = counts()

    with pytest.raises(UnreadableFile):
        run(partner, BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10))

    assert counts() == before


@pytest.mark.django_db
def test_a_partner_without_a_confirmed_format_gets_it_detected_and_reported(org, customer):
    partner = partner_with_mappings(org, format_confirmed=False, columns={}, separator="", encoding="",
                                    file_kind="", decimal_comma=None, date_format="")
    file = BytesIO("\ufeffCustomer ID,Service,Quantity,Unit price\r\nC001,CHEM,2,\"1,234.50\"\r\n".encode())

    done = run(partner, file)

    # 2 × 1,234.50 = 2,469.00.
    assert done.report["amount_by_customer"] == {"C001": "2469.00"}
    assert done.report["format"]["separator"] == ","
    assert done.detected_format == done.report["format"]


@pytest.mark.django_db
def test_messy_but_readable_input_is_imported_with_its_physical_line_numbers(org, customer):
    customers(org, "C002")
    partner = partner_with_mappings(org)
    content = (
        "\ufeffN° client;Prestation;Quantité;Prix unitaire;Date;Libellé;Commentaire\r\n"  # BOM, CRLF
        "C001 ;CHEM; 2 ;3,50;02/03/2026;;\n"  # LF, spaces around values
        "\r\n"  # an empty line
        "   \n"  # a blank one
        "C002;COST;1;\"1 234,50\";03/03/2026;;\"livré; signé\"\r\n"  # thousands separator, quoted separator
        "C001;DRAP;1;4,25;04/03/2026;;"  # the last line has no newline
    ).encode()

    done = run(partner, BytesIO(content))

    # C001: 2 × 3.50 + 1 × 4.25 = 11.25. C002: 1 × 1,234.50.
    assert done.report["amount_by_customer"] == {"C001": "11.25", "C002": "1234.50"}
    assert (done.lines_read, done.lines_accepted) == (3, 3)
    assert [line.source_line_number for line in lines_of(org, "C001")] == [2, 6]
    (suit,) = lines_of(org, "C002")
    assert (suit.source_line_number, suit.label) == (5, "Costume nettoyé (livré; signé)")


@pytest.mark.django_db
def test_an_xlsx_workbook_is_imported_like_a_csv_file(org, customer):
    from openpyxl import Workbook

    partner = partner_with_mappings(org, format_confirmed=False, columns={}, separator="", encoding="",
                                    file_kind="", decimal_comma=None, date_format="")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Customer ID", "Service", "Quantity", "Unit price", "Date"])
    sheet.append(["C001", "CHEM", 3, 3.5, date(2026, 3, 2)])
    sheet.append(["C001", "COST", 1, 12.1, date(2026, 4, 2)])
    file = BytesIO()
    workbook.save(file)

    done = import_usage_file(partner=partner, period=MARCH, file=file, filename="mars.xlsx")

    # 3 × 3.50 = 10.50; the second row is April's.
    assert done.report["format"]["kind"] == "xlsx"
    assert done.report["amount_by_customer"] == {"C001": "10.50"}
    assert [(r["line"], r["code"]) for r in done.report["rejected"]] == [(3, "date_outside_period")]


@pytest.mark.django_db
def test_a_dry_run_reports_what_would_happen_and_writes_nothing(org, customer):
    partner = partner_with_mappings(org)
    before = counts()
    events = AuditEvent.objects.count()

    done = run(partner, usage_file("C001;CHEM;3;3,50;02/03/2026;;", "C404;CHEM;1;3,50;02/03/2026;;"),
               dry_run=True)

    assert done.pk is None
    assert done.status == UsageImport.Status.DRY_RUN
    assert done.report["dry_run"] is True
    assert done.report["amount_by_customer"] == {"C001": "10.50"}  # 3 × 3.50
    assert [r["code"] for r in done.report["rejected"]] == ["unknown_customer"]
    assert done.report["invoices_created"] == 1
    assert counts() == before
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_progress_is_reported_as_lines_are_read(org, customer):
    partner = partner_with_mappings(org, repeated_lines_allowed=True)
    seen: list[int] = []

    run(partner, usage_file(*["C001;CHEM;1;3,50;02/03/2026;;"] * 12_000), on_progress=seen.append)

    assert seen == [5_000, 10_000, 12_000]


@pytest.mark.django_db
def test_the_report_describes_the_first_refused_lines_and_counts_them_all(org, customer, monkeypatch):
    monkeypatch.setattr(services, "REPORT_LIMIT", 2)
    partner = partner_with_mappings(org)

    done = run(partner, usage_file(*[f"C{n:03d}9;CHEM;1;3,50;02/03/2026;;" for n in range(5)],
                                   *["C001;CHEM;1;3,50;02/03/2026;;"] * 4))

    assert [r["line"] for r in done.report["rejected"]] == [2, 3]
    assert done.report["rejected_count"] == 5
    assert done.report["duplicates"] == [{"line": 8, "repeats": 7}, {"line": 9, "repeats": 7}]
    assert done.report["duplicate_count"] == 3


@pytest.mark.django_db
def test_a_dry_run_of_a_file_already_imported_says_it_is_unchanged(org, customer):
    partner = partner_with_mappings(org)
    content = usage_file("C001;CHEM;3;3,50;02/03/2026;;").getvalue()
    first = run(partner, BytesIO(content))

    again = run(partner, BytesIO(content), dry_run=True)

    assert again.pk == first.pk
    assert (again.report["unchanged"], again.report["dry_run"]) == (True, True)


@pytest.mark.django_db
def test_an_inactive_partners_files_are_refused(org, customer):
    partner = partner_with_mappings(org, active=False)

    with pytest.raises(PartnerInactive):
        run(partner, usage_file("C001;CHEM;3;3,50;02/03/2026;;"))

    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_period_must_be_the_first_day_of_a_month(org, customer):
    partner = partner_with_mappings(org)

    with pytest.raises(PeriodNotAMonth):
        run(partner, usage_file("C001;CHEM;3;3,50;02/03/2026;;"), period=date(2026, 3, 15))

    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_a_user_cannot_import_for_a_partner_of_an_organisation_they_do_not_belong_to(org, customer):
    partner = partner_with_mappings(org)
    outsider = get_user_model().objects.create_user("outsider", "o@example.org", "pw-outsider-1", is_staff=True)
    elsewhere = Organisation.objects.create(name="Ailleurs", slug="ailleurs")
    Membership.objects.create(organisation=elsewhere, user=outsider)

    with pytest.raises(ForeignPartner) as refused:
        run(partner, usage_file("C001;CHEM;3;3,50;02/03/2026;;"), by=outsider)

    assert refused.value.code == "foreign_partner"
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_drafts_of_another_invoice_type_are_left_alone(org, customer):
    partner = partner_with_mappings(org)
    standard = InvoiceType.objects.get(organisation=org, code="STANDARD")
    other_type = InvoiceType.objects.create(organisation=org, code="AUTRE", name="Autre", regie=standard.regie,
                                            series=standard.series, credit_note_series=standard.credit_note_series)
    elsewhere = Invoice.objects.create(organisation=org, invoice_type=other_type, party=customer, currency="EUR",
                                       billing_period=MARCH)

    done = run(partner, usage_file("C001;CHEM;1;3,50;02/03/2026;;"))

    assert done.invoices_created == 1
    assert elsewhere.lines.count() == 0


@pytest.mark.postgresql  # needs real row locks: skipped on SQLite, run in CI
@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_is_imported_once(org, customer):
    partner = partner_with_mappings(org)
    content = usage_file("C001;CHEM;3;3,50;02/03/2026;;", "C001;COST;1;12,00;03/03/2026;;").getvalue()
    start_together = Barrier(2)

    def import_once(_: int) -> int:
        start_together.wait()
        try:
            return run(partner, BytesIO(content)).pk
        finally:
            connection.close()  # each thread opened its own connection

    with ThreadPoolExecutor(max_workers=2) as pool:
        pks = list(pool.map(import_once, range(2)))

    assert pks[0] == pks[1]
    assert UsageImport.objects.filter(status="succeeded").count() == 1
    assert InvoiceLine.objects.filter(source="import").count() == 2
    assert Invoice.objects.count() == 1
