"""Sending a posted invoice by email with its pay link: queued once, refused clearly."""

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from encaisse.core.audit import events_for
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.services.sending import InvoiceNotSendable, send_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.notifications.models import OutboxMessage

PAY_URL = "https://pay.example/pay/abc/"


@pytest.fixture
def invoice(org, customer, clerk) -> Invoice:
    # 50.00 excl. VAT + 20 % VAT = 60.00, due 30 days after 1 March.
    draft = draft_invoice(org, customer, ("Service", "1", "50.00"), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=draft.pk, by=clerk, today=date(2026, 3, 1))


@pytest.mark.django_db
def test_sending_queues_the_invoice_email_with_its_amount_and_pay_link(invoice, customer, clerk):
    customer.language = "en"
    customer.save()

    message = send_invoice(invoice, pay_url=PAY_URL, by=clerk)

    assert message.to == "jeanne@example.org"
    assert message.template_code == "invoice_issued"
    assert invoice.number in message.subject
    assert PAY_URL in message.body_text
    assert "€60.00" in message.body_text
    assert [e.verb for e in events_for(invoice)][-1] == "invoice_sent"


@pytest.mark.django_db
def test_the_amount_is_written_the_french_way_for_a_french_customer(invoice, clerk):
    message = send_invoice(invoice, pay_url=PAY_URL, by=clerk)

    assert "60,00\xa0€" in message.body_text
    assert "régler en ligne" in message.body_text


@pytest.mark.django_db
def test_a_double_click_queues_one_message_and_a_later_send_another(invoice, clerk):
    first = send_invoice(invoice, pay_url=PAY_URL, by=clerk)
    again = send_invoice(invoice, pay_url=PAY_URL, by=clerk)
    assert again.pk == first.pk
    assert OutboxMessage.objects.count() == 1
    assert [e.verb for e in events_for(invoice)].count("invoice_sent") == 1

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        later = send_invoice(invoice, pay_url=PAY_URL, by=clerk)

    assert later.pk != first.pk
    assert OutboxMessage.objects.count() == 2


@pytest.mark.django_db
def test_a_customer_without_email_is_refused_and_nothing_is_queued(invoice, customer, clerk):
    customer.email = ""
    customer.save()

    with pytest.raises(InvoiceNotSendable, match="has no email address"):
        send_invoice(invoice, pay_url=PAY_URL, by=clerk)

    assert OutboxMessage.objects.count() == 0
    assert "invoice_sent" not in [e.verb for e in events_for(invoice)]


@pytest.mark.django_db
def test_a_draft_is_not_sent(org, customer, clerk):
    draft = draft_invoice(org, customer, ("Service", "1", "50.00"))

    with pytest.raises(InvoiceNotSendable, match="only a posted invoice"):
        send_invoice(draft, pay_url=None, by=clerk)

    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_other_addresses_of_the_customer_are_copied(invoice, customer, clerk):
    customer.other_emails = "compta@martin.example"
    customer.save()

    message = send_invoice(invoice, pay_url=None, by=clerk)

    assert message.cc == "compta@martin.example"
    assert "pay online" not in message.body_text.lower()
    assert "en ligne" not in message.body_text
