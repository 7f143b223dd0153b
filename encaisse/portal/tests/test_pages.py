"""What a signed-in customer sees and does: dashboard, invoice, account, paying, profile."""

from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from encaisse.core.audit import AuditEvent
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.services import issue_deposit_request
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.invoicing.tests.quotes import deposits, sent_quote
from encaisse.payments.services import record_offline_payment

from .helpers import sign_in_as

CARD_OK = "4242 4242 4242 4242"


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


def pay_by_cheque(customer, invoice: Invoice, amount: str) -> None:
    record_offline_payment(customer=customer, method="cheque", amount=eur(amount), received_on=date(2026, 3, 10),
                           cheque_number="0001234", line_ids=[invoice.receivable_line_id])


@pytest.mark.django_db
def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client):
    response = client.get("/portal/")

    assert response.status_code == 302
    assert response["Location"].startswith("/portal/sign-in/?next=")


@pytest.mark.django_db
def test_the_dashboard_lists_what_is_to_pay_marked_overdue_in_words_and_what_was_paid_and_how(
        client, org, customer, clerk, invoice):
    paid = posted_invoice(org, customer, clerk, price="10.00")  # 12.00
    pay_by_cheque(customer, paid, "12.00")
    sign_in_as(client, customer)

    page = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    to_pay, paid_part = page.split('id="paid"')
    assert invoice.number in to_pay
    assert "€60.00" in to_pay
    assert "Overdue" in to_pay  # due in March 2026: said in words, not only by colour
    assert f'name="only" value="invoice:{invoice.pk}"' in to_pay
    assert f'name="invoice" value="{invoice.pk}"' in to_pay
    assert "Pay selected" in to_pay
    assert paid.number not in to_pay
    assert paid.number in paid_part
    assert "Cheque" in paid_part
    assert "03/10/2026" in paid_part
    assert "Jeanne Martin" in page
    assert "Pressing du Centre" in page
    assert "/portal/methods/" in page
    assert "/i18n/setlang/" in page


def dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/portal/").status_code == 200
    return len(queries.captured_queries)


@pytest.mark.django_db
def test_the_dashboard_reads_invoices_to_pay_in_as_many_queries_for_twenty_as_for_one(
        client, org, customer, clerk, invoice):
    sign_in_as(client, customer)
    for_one = dashboard_queries(client)
    for _ in range(19):
        posted_invoice(org, customer, clerk, price="10.00")

    for_twenty = dashboard_queries(client)

    assert for_twenty == for_one
    assert client.get("/portal/").content.decode().count('name="only" value="invoice:') == 20


@pytest.mark.django_db
def test_the_dashboard_lists_paid_invoices_and_how_in_as_many_queries_for_twenty_as_for_two(
        client, org, customer, clerk, invoice):
    sign_in_as(client, customer)
    def paid_in_full(paid: Invoice) -> None:  # one cheque each: the same cheque twice is one payment
        record_offline_payment(customer=customer, method="cheque", amount=amount_due(paid),
                               received_on=date(2026, 3, 10), cheque_number=f"C{paid.pk}",
                               line_ids=[paid.receivable_line_id])

    paid_in_full(invoice)
    paid_in_full(posted_invoice(org, customer, clerk, price="10.00"))
    for_two = dashboard_queries(client)
    for _ in range(18):
        paid_in_full(posted_invoice(org, customer, clerk, price="10.00"))

    for_twenty = dashboard_queries(client)

    assert for_twenty == for_two
    paid_part = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="en").content.decode().split('id="paid"')[1]
    assert paid_part.count("Cheque") == 20


@pytest.mark.django_db
def test_the_dashboard_speaks_french_with_french_amounts(client, customer, invoice):
    sign_in_as(client, customer)

    response = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    assert '<html lang="fr">' in response.content.decode()
    assert "60,00\xa0€" in response.content.decode()


@pytest.mark.django_db
def test_the_invoice_page_shows_lines_totals_payments_and_no_pdf_link_while_none_exists(
        client, customer, invoice):
    pay_by_cheque(customer, invoice, "20.00")
    sign_in_as(client, customer)

    page = client.get(f"/portal/invoices/{invoice.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert f"Invoice {invoice.number}" in page
    assert "Service" in page
    assert "€50.00" in page
    assert "20 %" in page
    assert "€60.00" in page  # total incl. VAT
    assert "€40.00" in page  # still due after the cheque
    assert "Cheque" in page
    assert "€20.00" in page
    assert "Pay this invoice" in page
    assert "PDF" not in page


@pytest.mark.django_db
def test_the_account_page_shows_the_balance_the_running_balance_and_the_advance_held(
        client, org, customer, clerk, invoice):
    posted_invoice(org, customer, clerk, price="10.00")  # 12.00 more
    record_offline_payment(customer=customer, method="transfer", amount=eur("100.00"),
                           received_on=date(2026, 3, 10))  # pays both (72.00), 28.00 held as an advance
    sign_in_as(client, customer)

    page = client.get("/portal/account/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "€72.00" in page  # running balance after both invoices
    assert "-€28.00" in page or "−€28.00" in page  # balance: in the customer's favour
    assert "Advance held" in page
    assert "€28.00" in page


@pytest.mark.django_db
def test_paying_several_invoices_at_once_goes_to_one_pay_page_for_their_total_and_pays_both(
        client, org, customer, clerk, invoice, sandbox):
    second = posted_invoice(org, customer, clerk, price="10.00")
    sign_in_as(client, customer)

    response = client.post("/portal/pay/", {"invoice": [invoice.pk, second.pk]})
    assert response.status_code == 302
    assert response["Location"].startswith("/pay/")
    pay_page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "€72.00" in pay_page
    assert sandbox.name in pay_page

    checkout = client.post(response["Location"], {"provider": sandbox.code})
    back = client.post(checkout["Location"], {"card_number": CARD_OK})
    outcome = client.get(back["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Payment received" in outcome
    assert amount_due(invoice).minor == 0
    assert amount_due(second).minor == 0
    paid_part = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="en").content.decode().split('id="paid"')[1]
    assert invoice.number in paid_part
    assert second.number in paid_part
    assert sandbox.name in paid_part
    detail = client.get(f"/portal/invoices/{second.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    receipt_url = detail.split('href="/portal/payments/')[1].split('"')[0]
    receipt = client.get(f"/portal/payments/{receipt_url}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "€72.00" in receipt
    assert "Succeeded" in receipt
    assert sandbox.name in receipt


@pytest.mark.django_db
def test_a_row_pay_button_pays_that_invoice_only(client, org, customer, clerk, invoice, sandbox):
    posted_invoice(org, customer, clerk, price="10.00")
    sign_in_as(client, customer)

    response = client.post("/portal/pay/", {"only": f"invoice:{invoice.pk}", "invoice": []})

    assert "€60.00" in client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()


@pytest.mark.django_db
def test_paying_nothing_or_a_paid_invoice_says_so_and_opens_no_pay_page(client, org, customer, clerk):
    paid = posted_invoice(org, customer, clerk, price="10.00")
    pay_by_cheque(customer, paid, "12.00")
    sign_in_as(client, customer)

    nothing = client.post("/portal/pay/", {}, follow=True)
    settled = client.post("/portal/pay/", {"invoice": [paid.pk]}, follow=True)

    assert "Choose at least one invoice to pay." in nothing.content.decode()
    assert "Nothing is left to pay" in settled.content.decode()
    assert all(not url.startswith("/pay/") for url, _status in nothing.redirect_chain + settled.redirect_chain)


@pytest.mark.django_db
def test_a_deposit_request_is_listed_opened_and_paid_on_its_own(client, org, customer, clerk, invoice, sandbox):
    quote = sent_quote(org, customer, clerk, accepted=True)
    deposit = issue_deposit_request(deposit_id=deposits(quote, "30", by=clerk)[0].pk, by=clerk,
                                    today=date(2026, 3, 5))
    sign_in_as(client, customer)

    dashboard = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    detail = client.get(f"/portal/deposits/{deposit.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    mixed = client.post("/portal/pay/", {"invoice": [invoice.pk], "deposit": [deposit.pk]}, follow=True)
    alone = client.post("/portal/pay/", {"only": f"deposit:{deposit.pk}"})

    assert deposit.number in dashboard
    assert "€360.00" in dashboard
    assert f"Deposit request {deposit.number} for quote {quote.number}" in detail
    assert "Pay this deposit" in detail
    assert "A deposit request is paid on its own" in mixed.content.decode()
    page = client.get(alone["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Deposit request {deposit.number}" in page
    assert "€360.00" in page


@pytest.mark.django_db
def test_the_profile_saves_contact_details_and_language_with_an_audit_event(client, customer):
    sign_in_as(client, customer)
    form = {"email": "jeanne.martin@example.org", "phone": "06 12 34 56 78", "address_line1": "3 rue Haute",
            "address_line2": "", "postcode": "69001", "city": "Lyon", "country": "FR", "language": "en"}

    response = client.post("/portal/profile/", form)

    customer.refresh_from_db()
    assert response.status_code == 302
    assert (customer.email, customer.city, customer.language) == ("jeanne.martin@example.org", "Lyon", "en")
    assert response.cookies["django_language"].value == "en"
    event = AuditEvent.objects.get(verb="portal_profile_updated", object_id=str(customer.pk))
    assert set(event.data["fields"]) == {"email", "phone", "address_line1", "postcode", "city", "language"}
    assert "jeanne.martin@example.org" not in str(event.data)
    assert "Your details were saved." in client.get("/portal/profile/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


@pytest.mark.django_db
def test_a_bad_email_is_refused_with_its_label_and_nothing_is_saved(client, customer):
    sign_in_as(client, customer)

    response = client.post("/portal/profile/", {"email": "not-an-email", "country": "FR", "language": "fr",
                                                "city": "Lyon"}, HTTP_ACCEPT_LANGUAGE="en")

    customer.refresh_from_db()
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert '<label for="id_email">' in response.content.decode()
    assert customer.email == "jeanne@example.org"
    assert customer.city == ""
    assert not AuditEvent.objects.filter(verb="portal_profile_updated").exists()


@pytest.mark.django_db
def test_profile_and_pay_refuse_a_post_without_the_csrf_token(customer, invoice):
    client = sign_in_as(Client(enforce_csrf_checks=True), customer)

    assert client.post("/portal/profile/", {"email": "x@example.org", "language": "fr"}).status_code == 403
    assert client.post("/portal/pay/", {"invoice": [invoice.pk]}).status_code == 403
    customer.refresh_from_db()
    assert customer.email == "jeanne@example.org"
