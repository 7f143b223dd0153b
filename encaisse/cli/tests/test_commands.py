import json
import os
import subprocess
import sys
from datetime import date
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from encaisse.core.audit import events_for
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import CreditLine, issue_credit_note, post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry, EntryLine
from encaisse.onboarding.organisations import create_organisation
from encaisse.parties.models import Customer, Organisation

MARCH_10 = date(2026, 3, 10)
CSV = ("ref;name;email;kind;language;opening_balance\n"
       "C100;Jeanne Martin;jeanne@example.org;personne;fr;120,50\n"
       "C101;Emily Walker;emily@example.com;person;en;\n")


def run(*args: str) -> tuple[int, str, str]:
    """Run a command as a script would: exit code, stdout, stderr."""
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def run_json(*args: str) -> tuple[int, dict]:
    code, out, _err = run(*args, "--json")
    return code, json.loads(out)


@pytest.mark.django_db
def test_create_org_sets_up_an_organisation_ready_to_invoice_and_audits_it_as_cli():
    code, answer = run_json("create-org", "--name", "Pressing du Centre", "--slug", "pressing",
                            "--siren", "732 829 320", "--vat", "FR44732829320", "--creditor-id", "FR72ZZZ123456")

    assert code == 0
    assert answer["organisation"]["siren"] == "732829320"
    assert answer["invoice_types"] == ["STANDARD"]
    assert answer["accounts"] >= 10
    organisation = Organisation.objects.get(slug="pressing")
    assert events_for(organisation).get(verb="created").origin == "cli"


@pytest.mark.django_db
def test_create_org_with_a_bad_siren_is_a_domain_error_with_exit_1(org):
    code, answer = run_json("create-org", "--name", "X", "--slug", "x", "--siren", "123456789")

    assert code == 1
    assert answer["error"]["code"] == "invalid_organisation"
    assert "siren" in answer["error"]["message"]


@pytest.mark.django_db
def test_import_customers_prints_the_report_and_uses_the_only_organisation(org, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(CSV, encoding="utf-8")

    code, answer = run_json("import-customers", str(path), "--on", "2026-01-02")

    assert code == 0
    assert (answer["organisation"], answer["created"], answer["opening_balances"]) == ("pressing", 2, 1)
    assert (answer["opening_total"], answer["currency"]) == ("120.50", "EUR")
    assert Entry.objects.get(organisation=org).date == date(2026, 1, 2)


@pytest.mark.django_db
def test_import_customers_refuses_a_bad_file_with_exit_1_and_its_line_numbers(org, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(CSV + "C102;;;robot;fr;\n", encoding="utf-8")

    code, answer = run_json("import-customers", str(path))

    assert code == 1
    assert answer["error"]["code"] == "customer_import_refused"
    assert {(row["line"], row["code"]) for row in answer["error"]["rows"]} == {
        (4, "name_required"), (4, "invalid_kind")}
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_without_org_among_several_organisations_is_a_usage_error_naming_them(org, tmp_path):
    create_organisation(name="Mairie", slug="mairie")
    path = tmp_path / "clients.csv"
    path.write_text(CSV, encoding="utf-8")

    code, _out, err = run("import-customers", str(path))

    assert code == 2
    assert "mairie, pressing" in err
    assert run("import-customers", str(path), "--org", "mairie")[0] == 0
    assert Customer.objects.get(ref="C100").organisation.slug == "mairie"


@pytest.mark.django_db
def test_a_bad_period_is_a_usage_error_in_json_too(org):
    code, answer = run_json("post-invoices", "--period", "March")

    assert code == 2
    assert answer["error"]["code"] == "usage"


@pytest.mark.django_db
def test_post_invoices_posts_the_drafts_and_reports_the_empty_one(org, customer):
    first = draft_invoice(org, customer, issued_on=MARCH_10)
    empty = Invoice.objects.create(organisation=org, invoice_type=first.invoice_type, party=customer,
                                   currency="EUR", issued_on=MARCH_10)
    draft_invoice(org, customer, issued_on=MARCH_10)

    code, answer = run_json("post-invoices", "--period", "2026-03")

    assert code == 0
    assert (answer["validated"], answer["posted"]) == (2, 2)
    assert answer["numbers"] == ["F-2026-00001", "F-2026-00002"]
    (failure,) = answer["failed"]
    assert (failure["invoice"], failure["code"]) == (empty.display_name, "empty_invoice")


@pytest.mark.django_db
def test_invoice_json_shows_amounts_as_decimal_strings_and_the_credit_note_applied(org, customer):
    invoice = draft_invoice(org, customer, ("Moquette", "1", "900.00"), ("Rideaux", "1", "63.41"),
                            status=Invoice.Status.VALIDATED, vat_code="FR10")
    # Nets 900.00 + 63.41 = 963.41; VAT 10 % = 96.341 → 96.34; total 1059.75.
    post_invoice(invoice_id=invoice.pk, today=date(2026, 3, 1))
    curtains = invoice.lines.get(label="Rideaux")
    # Credit the curtains: −63.41 − 6.34 = −69.75; still due 1059.75 − 69.75 = 990.00.
    issue_credit_note(invoice_id=invoice.pk, lines=[CreditLine(curtains.pk, curtains.quantity)],
                      today=date(2026, 3, 5))

    with time_machine.travel(MARCH_10):
        code, answer = run_json("invoice", "F-2026-00001")

    assert code == 0
    assert (answer["total"], answer["vat"], answer["amount_due"]) == ("1059.75", "96.34", "990.00")
    assert (answer["customer"], answer["type"], answer["status"]) == ("C001", "STANDARD", "partially_paid")
    assert (answer["issued_on"], answer["due_on"]) == ("2026-03-01", "2026-03-31")
    assert answer["lines"][1] == {"label": "Rideaux", "quantity": "1", "unit": "u", "unit_price": "63.41",
                                  "vat_rate": "10", "net": "63.41"}
    assert answer["credit_notes"] == [{"number": "AV-2026-00001", "date": "2026-03-05", "amount": "69.75"}]
    assert answer["payments"] == []
    assert run_json("invoice", str(invoice.pk))[1]["number"] == "F-2026-00001"


@pytest.mark.django_db
def test_an_unknown_invoice_is_a_domain_error(org):
    code, answer = run_json("invoice", "F-2099-00001")

    assert (code, answer["error"]["code"]) == (1, "not_found")


@pytest.mark.django_db
def test_invoices_lists_and_filters_by_displayed_status_and_customer(org, customer):
    other = Customer.objects.create(organisation=org, ref="C002", name="Lucas Bernard")
    post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk,
                 today=date(2026, 1, 5))  # due 2026-02-04: overdue on March 10
    post_invoice(invoice_id=draft_invoice(org, other, status=Invoice.Status.VALIDATED).pk, today=MARCH_10)
    draft_invoice(org, other, ("Chemise", "3", "3.50"))

    with time_machine.travel(MARCH_10):
        code, everything = run_json("invoices")
        overdue = run_json("invoices", "--status", "overdue")[1]
        drafts = run_json("invoices", "--customer", "C002", "--status", "draft")[1]
        text = run("invoices")[1]

    assert (code, everything["count"]) == (0, 3)
    assert [(i["number"], i["customer"], i["amount_due"]) for i in overdue["invoices"]] == [
        ("F-2026-00001", "C001", "120.00")]
    # A draft's total is what posting would give: 3 × 3.50 = 10.50, VAT 2.10, total 12.60; nothing due yet.
    assert [(i["number"], i["total"], i["amount_due"]) for i in drafts["invoices"]] == [(None, "12.60", "0.00")]
    assert "F-2026-00002" in text


@pytest.mark.django_db
def test_balances_lists_every_customer_with_amounts_as_strings(org, customer):
    Customer.objects.create(organisation=org, ref="C002", name="Lucas Bernard")
    post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk, today=MARCH_10)

    code, answer = run_json("balances")

    assert code == 0
    assert [(c["ref"], c["balance"]) for c in answer["customers"]] == [("C001", "120.00"), ("C002", "0.00")]
    assert (answer["total"], answer["currency"]) == ("120.00", "EUR")


@pytest.mark.django_db
def test_ledger_verify_passes_on_books_written_by_the_services(org, customer):
    post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk, today=MARCH_10)

    code, answer = run_json("ledger", "verify")

    assert (code, answer["ok"], answer["problems"]) == (0, True, [])
    assert answer["organisations"][0]["entries"] == 1


@pytest.mark.django_db
def test_ledger_verify_reports_a_tampered_line_with_its_entry_and_exit_1(org, customer):
    invoice = post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk,
                           today=MARCH_10)
    line = EntryLine.objects.get(entry=invoice.entry, account__code="411")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the append-only trigger refuses, as it should; a DBA could not
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
            cursor.execute("ALTER TABLE ledger_entryline DISABLE TRIGGER encaisse_refuse_ledger_entryline_t")
        cursor.execute("UPDATE ledger_entryline SET debit_minor = %s WHERE id = %s", [100, line.pk])

    code, answer = run_json("ledger", "verify")
    text_code, text, _err = run("ledger", "verify", "--org", "pressing")

    assert code == text_code == 1
    assert answer["ok"] is False
    assert {(p["code"], p["entry_id"]) for p in answer["problems"]} == {
        ("unbalanced", invoice.entry_id), ("hash_mismatch", invoice.entry_id)}
    assert f"(entry {invoice.entry_id})" in text


@pytest.mark.django_db
def test_ledger_verify_reports_a_gap_in_invoice_numbers(org, customer):
    from encaisse.invoicing.models import SeriesCounter

    post_invoice(invoice_id=draft_invoice(org, customer, status=Invoice.Status.VALIDATED).pk, today=MARCH_10)
    SeriesCounter.objects.filter(series__prefix="F").update(last_value=2)

    code, answer = run_json("ledger", "verify")

    assert code == 1
    assert {p["code"] for p in answer["problems"]} == {"number_gap", "counter_mismatch"}


@pytest.mark.django_db
def test_demo_twice_is_idempotent_and_prints_the_logins():
    code, first = run_json("demo")
    counts = (Organisation.objects.count(), Customer.objects.count(), Invoice.objects.count(), Entry.objects.count())

    again_code, again = run_json("demo")

    assert (code, again_code) == (0, 0)
    assert first["created"] is True
    assert again["created"] is False
    assert {(login["username"], login["password"]) for login in again["logins"]} == {("demo", "demo"),
                                                                                   ("agent", "agent")}
    assert counts == (Organisation.objects.count(), Customer.objects.count(), Invoice.objects.count(),
                      Entry.objects.count())
    assert "demo / demo" in run("demo")[1]


def _encaisse(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ENCAISSE_VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    return subprocess.run([sys.executable, "-m", "encaisse", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_hyphenated_commands_load_from_the_command_line(tmp_path):
    result = _encaisse("create-org", "--help", tmp_path=tmp_path)

    assert result.returncode == 0
    assert "--creditor-id" in result.stdout


def test_bad_arguments_exit_2_from_the_command_line(tmp_path):
    result = _encaisse("invoices", "--status", "unpaid", tmp_path=tmp_path)

    assert result.returncode == 2
    assert "invalid choice" in result.stderr
