from datetime import date

import pytest
from django.db import connection

from encaisse.invoicing.models import Invoice, SeriesCounter
from encaisse.invoicing.services import issue_credit_note, post_invoices
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.invoicing.verify import verify_numbering

MARCH_1 = date(2026, 3, 1)


def _post_three(org, customer, clerk):
    for _ in range(3):
        draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    return post_invoices(organisation=org, by=clerk, today=MARCH_1)


@pytest.mark.django_db
def test_numbers_posted_by_the_services_verify_clean(org, customer, clerk):
    report = _post_three(org, customer, clerk)
    first = Invoice.objects.get(number=report.posted[0])
    issue_credit_note(invoice_id=first.pk, by=clerk, today=MARCH_1)

    result = verify_numbering(org)

    assert result.ok, result.problems
    assert result.invoices == 4  # F-2026-00001..3 and AV-2026-00001


@pytest.mark.django_db
def test_a_counter_ahead_of_the_invoices_is_a_gap_with_the_missing_numbers(org, customer, clerk):
    _post_three(org, customer, clerk)
    # As if F-2026-00004 and 00005 had been taken and their invoices then vanished.
    SeriesCounter.objects.filter(series__organisation=org, series__prefix="F").update(last_value=5)

    result = verify_numbering(org)

    codes = {p.code: p for p in result.problems}
    assert set(codes) == {"number_gap", "counter_mismatch"}
    assert "F-2026-00004, F-2026-00005" in codes["number_gap"].message
    assert (codes["number_gap"].series, codes["number_gap"].year) == ("F", 2026)


@pytest.mark.django_db
def test_a_renumbered_invoice_leaves_a_gap_in_its_series(org, customer, clerk):
    _post_three(org, customer, clerk)
    middle = Invoice.objects.get(number="F-2026-00002")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the immutability trigger would refuse, as it should
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending FK checks
            cursor.execute("ALTER TABLE invoicing_invoice DISABLE TRIGGER encaisse_refuse_invoicing_invoice_t")
        cursor.execute("UPDATE invoicing_invoice SET number = %s WHERE id = %s", ["F-2026-00009", middle.pk])

    result = verify_numbering(org)

    messages = [p.message for p in result.problems if p.code == "number_gap"]
    assert len(messages) == 1
    assert "F-2026-00002" in messages[0]
    assert "F-2026-00004" in messages[0]
    assert any(p.code == "counter_mismatch" for p in result.problems)
