"""An invoice's page follows how it is being paid: attempts, notifications, payments and entries; its pay link."""

import re
from datetime import date

import pytest
from django.urls import reverse

from encaisse.core.money import Money
from encaisse.invoicing.services import issue_credit_note
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.notifications.models import OutboxMessage
from encaisse.payments.models import InboundEvent
from encaisse.payments.paylinks import read_pay_link
from encaisse.payments.services import record_offline_payment

from .online_payments import CARD_DECLINED, CARD_OK, pay_online, posted_invoice, sandbox_account


def invoice_page(staff, invoice) -> str:
    response = staff.get(reverse("admin:invoicing_invoice_change", args=[invoice.pk]))
    assert response.status_code == 200
    return response.content.decode()


def section(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}".*?</table>', page, re.S)
    assert found, f"no #{element_id} on the page"
    return found.group(0)


@pytest.mark.django_db
def test_the_transactions_list_a_declined_then_a_paid_attempt_their_notifications_and_entries(
        staff, org, customer, clerk, client):
    invoice = posted_invoice(org, customer, clerk)
    account = sandbox_account(org)
    declined = pay_online(client, invoice, account, CARD_DECLINED)
    paid = pay_online(client, invoice, account, CARD_OK)
    assert (declined.status, paid.status) == ("declined", "succeeded")

    page = invoice_page(staff, invoice)

    attempts = section(page, "online-attempts")
    for attempt in (declined, paid):
        assert reverse("admin:payments_paymentattempt_change", args=[attempt.pk]) in attempts
    assert "card_declined" in attempts
    assert "Succeeded" in attempts
    assert "Declined" in attempts
    events = section(page, "inbound-events")
    for event in InboundEvent.objects.filter(attempt__in=[declined, paid]):
        assert event.event_id in events
    entries = section(page, "line-entries")
    assert f"#{invoice.entry.sequence}" in entries  # the posting: €60.00 owed
    assert f"#{paid.settled_entry.sequence}" in entries
    assert "-€60.00" in entries
    assert "Pay link" not in page  # nothing is due any more


@pytest.mark.django_db
def test_a_cheque_and_a_credit_note_settling_the_invoice_are_listed(staff, org, customer, clerk):
    invoice = posted_invoice(org, customer, clerk)
    payment = record_offline_payment(customer=customer, method="cheque", received_on=date(2026, 3, 5),
                                     amount=Money.of("20.00", "EUR"), line_ids=[invoice.receivable_line_id],
                                     cheque_bank="LCL", cheque_number="0042", idempotency_key="t-cheque", by=clerk)
    credit_note = issue_credit_note(invoice_id=invoice.pk, by=clerk)

    page = invoice_page(staff, invoice)

    assert reverse("admin:payments_payment_change", args=[payment.pk]) in section(page, "offline-payments")
    entries = section(page, "line-entries")
    assert f"#{payment.entry.sequence}" in entries
    assert "-€20.00" in entries
    assert f"#{credit_note.entry.sequence}" in entries
    assert "-€40.00" in entries
    assert "No online payment attempt." in section(page, "online-attempts")


@pytest.mark.django_db
def test_an_invoice_with_something_due_shows_its_signed_pay_link(staff, org, customer, clerk, monkeypatch,
                                                                   settings):
    invoice = posted_invoice(org, customer, clerk)
    monkeypatch.setenv("ENCAISSE_BASE_URL", "https://pay.pressing.example")
    settings.ENCAISSE_BASE_URL = "https://pay.pressing.example"

    page = invoice_page(staff, invoice)

    url = re.search(r'id="pay-url"[^>]*value="([^"]+)"', page).group(1)
    assert url.startswith("https://pay.pressing.example/pay/")
    link = read_pay_link(url.removeprefix("https://pay.pressing.example/pay/").rstrip("/"))
    assert link.line_ids == (invoice.receivable_line_id,)
    assert link.amount == Money.of("60.00", "EUR")
    assert reverse("staff:invoice_send", args=[invoice.pk]) in page


@pytest.mark.django_db
def test_without_a_configured_base_address_the_pay_link_uses_the_address_of_the_page(
        staff, org, customer, clerk, monkeypatch):
    monkeypatch.delenv("ENCAISSE_BASE_URL", raising=False)
    invoice = posted_invoice(org, customer, clerk)

    page = invoice_page(staff, invoice)

    assert 'value="http://testserver/pay/' in page


@pytest.mark.django_db
def test_a_draft_has_no_transactions_nor_pay_link(staff, org, customer):
    draft = draft_invoice(org, customer, ("Service", "1", "10.00"))

    page = invoice_page(staff, draft)

    assert 'id="transactions"' not in page
    assert 'id="pay-url"' not in page
    assert "Send by email" not in page


@pytest.mark.django_db
def test_another_organisations_invoice_cannot_be_sent(staff, other_invoice):
    response = staff.post(reverse("staff:invoice_send", args=[other_invoice.pk]))

    assert response.status_code == 404


@pytest.mark.django_db
def test_send_by_email_queues_one_message_with_the_pay_link_of_the_invoice(staff, org, customer, clerk):
    invoice = posted_invoice(org, customer, clerk)
    url = reverse("staff:invoice_send", args=[invoice.pk])

    done = staff.post(url, follow=True)
    staff.post(url)  # a double click

    assert "is queued for jeanne@example.org" in done.content.decode()
    message = OutboxMessage.objects.get()
    token = re.search(r"/pay/([^/\s]+)/", message.body_text).group(1)
    assert read_pay_link(token).line_ids == (invoice.receivable_line_id,)


@pytest.mark.django_db
def test_send_by_email_to_a_customer_without_email_says_why_and_queues_nothing(staff, org, customer, clerk):
    customer.email = ""
    customer.save()
    invoice = posted_invoice(org, customer, clerk)

    done = staff.post(reverse("staff:invoice_send", args=[invoice.pk]), follow=True)

    assert "has no email address" in done.content.decode()
    assert OutboxMessage.objects.count() == 0
