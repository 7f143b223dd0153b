"""encaisse import-usage: a partner's monthly file into drafts, its report as JSON, exit codes for scripts."""

import json
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from encaisse.invoicing.models import Invoice, InvoiceType, Product, VatRate
from encaisse.parties.models import Customer
from encaisse.usage.models import Partner, ServiceMapping, UsageImport

# C001: 3 × 4.50 + 1 × 8.00 = 21.50; C002: 2 × 4.50 = 9.00; total 30.50.
# Line 5 names a customer that does not exist; line 6 repeats line 2.
MARCH_FILE = ("N° client;Prestation;Quantité;Prix unitaire\r\n"
              "C001;CHEM;3;4,50\r\n"
              "C001;PANT;1;8,00\r\n"
              "C002;CHEM;2;4,50\r\n"
              "C999;CHEM;1;4,50\r\n"
              "C001;CHEM;3;4,50\r\n").encode()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path: Path) -> None:
    """Imports keep their original file under MEDIA_ROOT: in the test's own directory, not the project's."""
    settings.MEDIA_ROOT = tmp_path / "media"


def run(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def pressing(org, customer) -> Partner:
    """The dry cleaner: shirts (CHEM) and trousers (PANT), the file's prices win, format not declared."""
    Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")
    rate = VatRate.objects.get(organisation=org, code="FR20")
    revenue = org.accounts.get(code="706")
    partner = Partner.objects.create(organisation=org, code="pressing", name="Pressing Lavande",
                                     invoice_type=InvoiceType.objects.get(organisation=org, code="STANDARD"))
    for code, label, price in (("CHEM", "Chemise", "4.50"), ("PANT", "Pantalon", "8.00")):
        product = Product.objects.create(organisation=org, code=code, label=label, unit_price=Decimal(price),
                                         vat_rate=rate, revenue_account=revenue)
        ServiceMapping.objects.create(partner=partner, service_code=code, product=product)
    return partner


@pytest.fixture
def march_file(tmp_path: Path) -> Path:
    path = tmp_path / "lavande-2026-03.csv"
    path.write_bytes(MARCH_FILE)
    return path


@pytest.mark.django_db
def test_import_prints_the_report_with_detected_format_amounts_rejected_and_duplicate_lines(pressing, march_file):
    code, out, _err = run("import-usage", str(march_file), "--partner", "pressing", "--period", "2026-03", "--json")

    assert code == 0
    answer = json.loads(out)
    assert answer["partner"] == "pressing"
    assert answer["period"] == "2026-03"
    assert answer["format"]["separator"] == ";"
    assert answer["format"]["decimal_comma"] is True
    assert answer["lines_read"] == 5
    assert answer["lines_accepted"] == 3
    assert answer["invoices_created"] == 2
    assert answer["amount_by_customer"] == {"C001": "21.50", "C002": "9.00"}
    assert answer["total"] == "30.50"
    assert [(r["line"], r["code"]) for r in answer["rejected"]] == [(5, "unknown_customer")]
    assert answer["duplicates"] == [{"line": 6, "repeats": 2}]
    assert answer["unchanged"] is False
    drafts = Invoice.objects.filter(organisation=pressing.organisation, status=Invoice.Status.DRAFT,
                                    billing_period=date(2026, 3, 1))
    assert drafts.count() == 2


@pytest.mark.django_db
def test_the_same_file_twice_changes_nothing_and_says_so(pressing, march_file):
    run("import-usage", str(march_file), "--partner", "pressing", "--period", "2026-03")

    code, out, _err = run("import-usage", str(march_file), "--partner", "pressing", "--period", "2026-03", "--json")

    assert code == 0
    assert json.loads(out)["unchanged"] is True
    assert UsageImport.objects.filter(status=UsageImport.Status.SUCCEEDED).count() == 1
    assert Invoice.objects.filter(organisation=pressing.organisation).count() == 2


@pytest.mark.django_db
def test_dry_run_reports_what_would_happen_and_writes_nothing(pressing, march_file):
    code, out, _err = run("import-usage", str(march_file), "--partner", "pressing", "--period", "2026-03",
                          "--dry-run", "--json")

    assert code == 0
    answer = json.loads(out)
    assert answer["dry_run"] is True
    assert answer["total"] == "30.50"
    assert not Invoice.objects.exists()
    assert not UsageImport.objects.exists()


@pytest.mark.django_db
def test_readable_summary_names_format_customers_and_rejected_lines(pressing, march_file):
    code, out, _err = run("import-usage", str(march_file), "--partner", "pressing", "--period", "2026-03")

    assert code == 0
    assert "CSV" in out
    assert "separator ;" in out
    assert any(line.split() == ["C001", "21.50"] for line in out.splitlines())
    assert "line 5 [unknown_customer]" in out
    assert "line 6 repeats line 2" in out


@pytest.mark.django_db
def test_an_unreadable_file_is_a_domain_error_with_exit_1_and_writes_nothing(pressing, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    code, out, _err = run("import-usage", str(empty), "--partner", "pressing", "--period", "2026-03", "--json")

    assert code == 1
    assert json.loads(out)["error"]["code"] == "unreadable_file"
    assert not Invoice.objects.exists()
    assert not UsageImport.objects.filter(status=UsageImport.Status.SUCCEEDED).exists()


@pytest.mark.django_db
def test_an_unknown_partner_is_a_usage_error_naming_the_partners(pressing, march_file):
    code, out, _err = run("import-usage", str(march_file), "--partner", "menage", "--period", "2026-03", "--json")

    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "usage"
    assert "menage" in error["message"]
    assert "pressing" in error["message"]


@pytest.mark.django_db
def test_a_bad_period_or_a_missing_file_is_a_usage_error(pressing, march_file, tmp_path):
    assert run("import-usage", str(march_file), "--partner", "pressing", "--period", "03/2026")[0] == 2
    assert run("import-usage", str(tmp_path / "nope.csv"), "--partner", "pressing", "--period", "2026-03")[0] == 2
