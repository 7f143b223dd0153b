"""Quotes in the back office: a draft with lines, sending, deposits asked and issued, pay links, the final invoice."""

import re
from datetime import date

import pytest
from django.urls import reverse

from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, Invoice, InvoiceType, Quote, VatRate
from encaisse.invoicing.tests.quotes import deposits, sent_quote
from encaisse.ledger.models import Entry
from encaisse.payments.paylinks import read_pay_link


def page_of(quote: Quote) -> str:
    return reverse("admin:invoicing_quote_change", args=[quote.pk])


def move(client, quote: Quote, action: str):
    return client.post(reverse("staff:quote_action", args=[quote.pk, action]), follow=True)


def lines_management(total: int, initial: int = 0) -> dict[str, int]:
    return {"lines-TOTAL_FORMS": total, "lines-INITIAL_FORMS": initial, "lines-MIN_NUM_FORMS": 0,
            "lines-MAX_NUM_FORMS": 1000}


@pytest.mark.django_db
def test_a_quote_written_here_is_sent_deposits_asked_issued_and_its_pay_link_shown(staff, org, customer):
    created = staff.post(reverse("admin:invoicing_quote_add"), {
        "party": customer.pk, "invoice_type": InvoiceType.objects.get(organisation=org, code="STANDARD").pk,
        "valid_until": "", "customer_reference": "", "notes": "", **lines_management(1),
        "lines-0-label": "Rideaux de l'hôtel", "lines-0-quantity": "2", "lines-0-unit_price": "250.00",
        "lines-0-vat_rate": VatRate.objects.get(organisation=org, code="FR20").pk,
    })
    quote = Quote.objects.get(party=customer)
    assert created.status_code == 302
    assert quote.lines.get().label == "Rideaux de l'hôtel"

    move(staff, quote, "send")  # 2 × 250.00 = 500.00 + VAT 100.00 = 600.00
    quote.refresh_from_db()
    assert (quote.number, quote.total_minor) == (f"DE-{quote.issued_on.year}-00001", 60000)
    staff.post(reverse("staff:quote_deposit_add", args=[quote.pk]), {"percent": "30", "due_on": "2026-06-30"})
    deposit = DepositRequest.objects.get(quote=quote)
    assert deposit.amount_minor == 18000
    page = staff.post(reverse("staff:deposit_issue", args=[deposit.pk]), follow=True).content.decode()

    deposit.refresh_from_db()
    assert deposit.status == DepositRequest.Status.ISSUED
    assert f"Deposit request {deposit.number} is issued." in page
    assert "http://testserver/pay/" in page  # the pay link, a full address
    assert "€180.00" in page
    link = read_pay_link(re.search(r"http://testserver/pay/([^/\"]+)/", page).group(1))
    assert (link.line_ids, link.amount) == ((deposit.receivable_line_id,), Money.of("180.00", "EUR"))


@pytest.mark.django_db
def test_deposits_over_the_quote_total_are_refused_with_a_message(staff, org, customer, clerk):
    quote = sent_quote(org, customer, clerk)  # 1200.00
    deposits(quote, "80", by=clerk)

    page = staff.post(reverse("staff:quote_deposit_add", args=[quote.pk]),
                      {"amount": "300.00", "due_on": "2026-06-30"}, follow=True).content.decode()

    assert "would exceed the quote" in page
    assert DepositRequest.objects.filter(quote=quote).count() == 1


@pytest.mark.django_db
def test_a_second_final_invoice_is_refused_with_a_message(staff, org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)
    first = move(staff, quote, "invoice")
    assert first.redirect_chain[-1][0] == reverse("admin:invoicing_invoice_change",
                                                  args=[Invoice.objects.get(quote=quote).pk])

    again = move(staff, quote, "invoice").content.decode()

    assert "already has the final invoice" in again
    assert Invoice.objects.filter(quote=quote).count() == 1


@pytest.mark.django_db
def test_a_sent_quote_is_read_only_and_its_page_shows_the_final_invoice(staff, org, customer, clerk):
    quote = sent_quote(org, customer, clerk, accepted=True)
    move(staff, quote, "invoice")

    page = staff.get(page_of(quote)).content.decode()

    assert "Final invoice" in page
    assert 'name="lines-0-label"' not in page
    assert reverse("staff:quote_action", args=[quote.pk, "invoice"]) not in page


@pytest.mark.django_db
def test_another_organisations_quote_and_deposit_are_not_found(staff, other_org, other_customer, other_clerk):
    quote = sent_quote(other_org, other_customer, other_clerk)
    (deposit,) = deposits(quote, "30", by=other_clerk)

    assert staff.get(page_of(quote)).status_code == 404
    assert staff.get(reverse("admin:invoicing_depositrequest_change", args=[deposit.pk])).status_code == 404
    assert move(staff, quote, "cancel").status_code == 404
    assert staff.post(reverse("staff:deposit_issue", args=[deposit.pk])).status_code == 404
    assert staff.post(reverse("staff:quote_deposit_add", args=[quote.pk]),
                      {"amount": "1.00", "due_on": "2026-06-30"}).status_code == 404
    assert quote.number not in staff.get(reverse("admin:invoicing_quote_changelist")).content.decode()
    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.SENT
    assert DepositRequest.objects.get(pk=deposit.pk).status == DepositRequest.Status.DRAFT
    assert not Entry.objects.exists()


@pytest.mark.django_db
def test_the_deposit_list_shows_what_is_due(staff, org, customer, clerk):
    from encaisse.invoicing.services import issue_deposit_request

    (deposit,) = deposits(sent_quote(org, customer, clerk), "30", by=clerk)
    issue_deposit_request(deposit_id=deposit.pk, by=clerk, today=date(2026, 3, 5))

    page = staff.get(reverse("admin:invoicing_depositrequest_changelist")).content.decode()

    assert "AC-2026-00001" in page
    assert "€360.00" in page
    assert "To pay" in page
