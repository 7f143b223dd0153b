from datetime import date

import pytest

from encaisse.core.audit import events_for
from encaisse.core.money import Money
from encaisse.ledger.models import Entry, EntryLine
from encaisse.ledger.selectors import customer_balance
from encaisse.onboarding.customers import CustomerImportRefused, import_customers, parse_amount
from encaisse.parties.models import Customer
from encaisse.sepa.models import Mandate

JAN_2 = date(2026, 1, 2)

HEADER = "ref,name,email,kind,language,iban,bic,mandate_ref,mandate_signed_on,opening_balance\n"
GOOD = HEADER + (
    "C100,Jeanne Martin,jeanne@example.org,person,fr,,,,,120.50\n"
    "C101,Hôtel Bellecour,compta@bellecour.example,company,fr,FR7630004000000000000000248,BNPAFRPP,UMR-101,"
    "15/03/2024,\n"
    "C102,Emily Walker,emily@example.com,person,en,,,,,-35.00\n"
    "C103,Lucas Bernard,,,,,,,,\n"
)


def _state() -> tuple[int, int, int, int]:
    return Customer.objects.count(), Entry.objects.count(), EntryLine.objects.count(), Mandate.objects.count()


@pytest.mark.django_db
def test_import_creates_customers_mandates_and_opening_balance_entries(org, clerk):
    report = import_customers(organisation=org, file=GOOD.encode(), by=clerk, today=JAN_2)

    assert (report.rows, report.created, report.updated, report.unchanged) == (4, 4, 0, 0)
    assert report.mandates_created == 1
    # 120.50 owed by C100, 35.00 of credit held by C102: 120.50 − 35.00 = 85.50.
    assert (report.opening_balances, report.opening_total) == (2, Money.of("85.50", "EUR"))
    jeanne = Customer.objects.get(organisation=org, ref="C100")
    emily = Customer.objects.get(organisation=org, ref="C102")
    assert (emily.kind, emily.language) == (Customer.Kind.PERSON, "en")
    assert Customer.objects.get(ref="C101").kind == Customer.Kind.COMPANY
    assert customer_balance(jeanne) == Money.of("120.50", "EUR")
    assert customer_balance(emily) == Money.of("-35.00", "EUR")
    assert customer_balance(Customer.objects.get(ref="C103")) == Money.zero("EUR")
    entry = Entry.objects.get(idempotency_key=f"opening:{jeanne.pk}")
    assert (entry.journal.kind, entry.date) == ("misc", JAN_2)
    assert entry.debit_total() == entry.credit_total() == 12050
    assert sorted(entry.lines.values_list("account__code", "debit_minor", "credit_minor")) == [
        ("411", 12050, 0), ("471", 0, 12050)]
    mandate = Mandate.objects.get(reference="UMR-101")
    assert (mandate.customer.ref, mandate.iban, mandate.signed_on) == ("C101", "FR7630004000000000000000248",
                                                                        date(2024, 3, 15))
    assert (mandate.source, mandate.status) == (Mandate.Source.IMPORT, Mandate.Status.ACTIVE)
    assert events_for(jeanne).filter(verb="created").count() == 1


@pytest.mark.django_db
def test_a_customer_imported_with_a_mandate_is_collected_by_direct_debit_unless_they_chose(org, clerk):
    chose_card = Customer.objects.create(organisation=org, ref="C104", name="Marc Roux",
                                         collect_by=Customer.CollectBy.CARD)
    file = GOOD + "C104,Marc Roux,,,,FR7630004000000000000000248,,UMR-104,01/02/2025,\n"

    import_customers(organisation=org, file=file.encode(), by=clerk, today=JAN_2)

    hotel = Customer.objects.get(organisation=org, ref="C101")
    assert hotel.collect_by == Customer.CollectBy.DIRECT_DEBIT
    event = events_for(hotel).get(verb="collection_method_changed")
    assert (event.by, event.data) == (clerk, {"from": "", "to": "direct_debit", "why": "mandate imported"})
    assert Customer.objects.get(ref="C100").collect_by == Customer.CollectBy.NOTHING  # no mandate: unchanged
    chose_card.refresh_from_db()
    assert chose_card.collect_by == Customer.CollectBy.CARD
    assert not events_for(chose_card).filter(verb="collection_method_changed").exists()


@pytest.mark.django_db
def test_importing_the_same_file_again_changes_nothing(org, clerk):
    import_customers(organisation=org, file=GOOD.encode(), by=clerk, today=JAN_2)
    before = _state()

    again = import_customers(organisation=org, file=GOOD.encode(), by=clerk, today=date(2026, 2, 1))

    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert (again.mandates_created, again.opening_balances) == (0, 0)
    assert _state() == before


@pytest.mark.django_db
def test_a_second_import_updates_the_fields_of_the_file_and_keeps_empty_cells(org, clerk):
    import_customers(organisation=org, file=GOOD.encode(), by=clerk, today=JAN_2)
    changed = HEADER + "C100,Jeanne Martin-Durand,,,,,,,,\n"

    report = import_customers(organisation=org, file=changed.encode(), by=clerk, today=JAN_2)

    jeanne = Customer.objects.get(organisation=org, ref="C100")
    assert (report.updated, report.unchanged) == (1, 0)
    assert (jeanne.name, jeanne.email) == ("Jeanne Martin-Durand", "jeanne@example.org")


@pytest.mark.django_db
def test_a_file_with_bad_rows_reports_each_line_and_writes_nothing(org, clerk):
    bad = HEADER + (
        "C200,Ok Customer,ok@example.org,person,fr,,,,,10.00\n"     # line 2: fine, yet not imported
        "C201,Bad Kind,,robot,fr,,,,,\n"                            # line 3
        "C202,Bad Iban,,person,fr,FR7630004000000000000000000,,,,\n"  # line 4
        "C200,Twice,,person,fr,,,,,\n"                              # line 5
        "C204,Bad Amount,,person,fr,,,,,12.3.4x\n"                  # line 6
        "C205,,,person,fr,,,,,\n"                                    # line 7
        "C206,No Iban,,person,fr,,,UMR-206,2024-01-01,\n"           # line 8
    )
    before = _state()

    with pytest.raises(CustomerImportRefused) as refused:
        import_customers(organisation=org, file=bad.encode(), by=clerk, today=JAN_2)

    problems = {(row.line, row.code) for row in refused.value.rows}
    assert problems == {(3, "invalid_kind"), (4, "invalid_iban"), (5, "duplicate_ref"), (6, "invalid_amount"),
                        (7, "name_required"), (8, "mandate_without_iban")}
    assert "line 2" in next(r.message for r in refused.value.rows if r.code == "duplicate_ref")
    # A mistyped IBAN is almost the whole account number: the report shows its ends only.
    iban_message = next(r.message for r in refused.value.rows if r.code == "invalid_iban")
    assert "FR7630004000000000000000000" not in iban_message
    assert "FR76 •••• 0000" in iban_message
    assert refused.value.as_dict()["code"] == "customer_import_refused"
    assert _state() == before


@pytest.mark.django_db
def test_a_changed_opening_balance_is_refused_with_the_amount_already_carried_over(org, clerk):
    import_customers(organisation=org, file=GOOD.encode(), by=clerk, today=JAN_2)
    before = _state()
    changed = GOOD.replace(",120.50\n", ",99.00\n")

    with pytest.raises(CustomerImportRefused) as refused:
        import_customers(organisation=org, file=changed.encode(), by=clerk, today=JAN_2)

    (problem,) = refused.value.rows
    assert (problem.line, problem.code, problem.ref) == (2, "opening_balance_carried_over", "C100")
    assert "120.50 EUR" in problem.message
    assert _state() == before


@pytest.mark.django_db
def test_excel_files_in_french_are_read_bom_semicolons_decimal_comma_and_windows_1252(org, clerk):
    text = ("Ref;Name;Kind;Language;Opening balance\r\n"
            "C300;Société Générale de Nettoyage;société;FR;1 234,56\r\n"
            "C301;Chloé Dubois;personne;fr;-1.000,50\r\n")
    utf8_bom = b"\xef\xbb\xbf" + text.encode("utf-8")

    report = import_customers(organisation=org, file=utf8_bom, by=clerk, today=JAN_2)

    # 1 234,56 − 1 000,50 = 234,06
    assert (report.created, report.opening_total) == (2, Money.of("234.06", "EUR"))
    company = Customer.objects.get(organisation=org, ref="C300")
    assert (company.name, company.kind) == ("Société Générale de Nettoyage", Customer.Kind.COMPANY)
    assert customer_balance(Customer.objects.get(ref="C301")) == Money.of("-1000.50", "EUR")

    windows = text.replace("C300", "C310").replace("C301", "C311").encode("cp1252")
    import_customers(organisation=org, file=windows, by=clerk, today=JAN_2)
    assert Customer.objects.get(ref="C311").name == "Chloé Dubois"


@pytest.mark.django_db
def test_a_file_path_is_read_too(org, clerk, tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text(GOOD, encoding="utf-8")

    assert import_customers(organisation=org, file=path, by=clerk, today=JAN_2).created == 4


@pytest.mark.django_db
def test_an_unknown_column_is_refused_on_line_1(org, clerk):
    with pytest.raises(CustomerImportRefused) as refused:
        import_customers(organisation=org, file=b"ref,name,balance\nC1,A,1\n", by=clerk, today=JAN_2)

    assert [(r.line, r.code) for r in refused.value.rows] == [(1, "unknown_column")]


@pytest.mark.parametrize(("text", "expected"), [
    ("1234.56", "1234.56"), ("1 234,56", "1234.56"), ("1.234,56", "1234.56"), ("1,234.56", "1234.56"),
    ("-12,5", "-12.50"), ("1\u202f000", "1000.00"), ("12 €", "12.00"), ("+3", "3.00"),
])
def test_amounts_are_read_with_decimal_comma_or_point_and_thousands_separators(text, expected):
    assert parse_amount(text, "EUR") == Money.of(expected, "EUR")


@pytest.mark.parametrize("text", ["12,345", "abc", "1.2.3x", "--4", ""])
def test_amounts_that_are_not_amounts_or_too_precise_are_refused(text):
    with pytest.raises(ValueError):  # noqa: PT011 — the message is the user's, checked through the import
        parse_amount(text, "EUR")
