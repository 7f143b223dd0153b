"""Invoices by email: the choice (dated, audited, refused without an address) and the one email per posted invoice."""

import re
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from encaisse.core.audit import AuditEvent
from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services.by_email import NoEmailForInvoices, set_invoices_by_email
from encaisse.invoicing.tests.factories import draft_invoice, posted_invoice
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer
from encaisse.payments.paylinks import read_pay_link
from encaisse.portal.delivery import email_posted_invoices


def issued(invoice: Invoice) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(idempotency_key=f"invoice:{invoice.pk}:issued"))


def pay_token(body: str) -> str:
    return re.search(r"/pay/([^/\s]+)/", body).group(1)


# --- the choice ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_turning_it_on_dates_the_choice_once_and_records_who(customer, clerk):
    assert set_invoices_by_email(customer, enabled=True, by=clerk) is True
    since = Customer.objects.get(pk=customer.pk).invoices_by_email_since

    assert set_invoices_by_email(customer, enabled=True, by=clerk) is False  # again: the first date stays

    stored = Customer.objects.get(pk=customer.pk)
    assert stored.invoices_by_email is True
    assert since is not None
    assert stored.invoices_by_email_since == since
    (event,) = AuditEvent.objects.filter(verb="invoices_by_email_on", object_id=str(customer.pk))
    assert event.by == clerk


@pytest.mark.django_db
def test_turning_it_off_clears_the_date(customer, clerk):
    set_invoices_by_email(customer, enabled=True, by=clerk)

    assert set_invoices_by_email(customer, enabled=False, by=clerk) is True

    stored = Customer.objects.get(pk=customer.pk)
    assert (stored.invoices_by_email, stored.invoices_by_email_since) == (False, None)
    assert AuditEvent.objects.filter(verb="invoices_by_email_off", object_id=str(customer.pk)).exists()


@pytest.mark.django_db
def test_a_customer_without_email_is_refused_and_nothing_changes(org, clerk):
    nobody = Customer.objects.create(organisation=org, ref="C009", name="Sans Adresse")

    with pytest.raises(NoEmailForInvoices, match="Sans Adresse has no email address"):
        set_invoices_by_email(nobody, enabled=True, by=clerk)

    stored = Customer.objects.get(pk=nobody.pk)
    assert (stored.invoices_by_email, stored.invoices_by_email_since) == (False, None)
    assert not AuditEvent.objects.filter(verb="invoices_by_email_on").exists()


# --- the emails ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_invoice_posted_after_the_choice_is_emailed_once_with_its_pay_link_in_the_customers_language(
        org, customer, clerk):
    Customer.objects.filter(pk=customer.pk).update(language="en")
    set_invoices_by_email(customer, enabled=True, by=clerk)
    invoice = posted_invoice(org, customer, clerk)  # 60.00 due

    assert email_posted_invoices() == 1
    assert email_posted_invoices() == 0  # run again: nothing more

    (message,) = OutboxMessage.objects.all()
    assert message.idempotency_key == f"invoice:{invoice.pk}:issued"
    assert (message.to, message.language, message.template_code) == ("jeanne@example.org", "en", "invoice_issued")
    assert message.subject == f"Pressing du Centre: invoice {invoice.number}"
    assert "To pay online: http://" in message.body_text
    link = read_pay_link(pay_token(message.body_text))
    assert link.line_ids == (invoice.receivable_line_id,)
    assert link.amount == Money(6000, "EUR")
    assert AuditEvent.objects.filter(verb="invoice_sent", object_id=str(invoice.pk)).count() == 1


@pytest.mark.django_db
def test_invoices_posted_before_the_choice_are_not_sent(org, customer, clerk):
    before = posted_invoice(org, customer, clerk)
    set_invoices_by_email(customer, enabled=True, by=clerk)

    assert email_posted_invoices() == 0
    assert not issued(before)


@pytest.mark.django_db
def test_invoices_posted_while_it_was_off_are_not_sent_when_it_is_turned_on_again(org, customer, clerk):
    set_invoices_by_email(customer, enabled=True, by=clerk)
    set_invoices_by_email(customer, enabled=False, by=clerk)
    while_off = posted_invoice(org, customer, clerk)
    set_invoices_by_email(customer, enabled=True, by=clerk)

    assert email_posted_invoices() == 0
    assert not issued(while_off)


@pytest.mark.django_db
def test_other_customers_drafts_and_credit_notes_are_not_sent(org, customer, clerk):
    from encaisse.invoicing.services import issue_credit_note

    neighbour = Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")
    set_invoices_by_email(customer, enabled=True, by=clerk)
    theirs = posted_invoice(org, neighbour, clerk)
    draft_invoice(org, customer, status=Invoice.Status.VALIDATED)
    mine = posted_invoice(org, customer, clerk)
    issue_credit_note(invoice_id=mine.pk, by=clerk)

    assert email_posted_invoices() == 1

    assert [m.idempotency_key for m in OutboxMessage.objects.all()] == [f"invoice:{mine.pk}:issued"]
    assert not issued(theirs)


@pytest.mark.django_db
def test_a_paid_invoice_is_sent_without_a_pay_link(org, customer, clerk):
    set_invoices_by_email(customer, enabled=True, by=clerk)
    from encaisse.invoicing.services import issue_credit_note

    invoice = posted_invoice(org, customer, clerk)
    issue_credit_note(invoice_id=invoice.pk, by=clerk)  # fully credited: nothing left to pay

    assert email_posted_invoices() == 1
    (message,) = issued(invoice)
    assert "/pay/" not in message.body_text


@pytest.mark.django_db
def test_the_organisation_scope_leaves_other_organisations_for_later(org, customer, clerk):
    from encaisse.onboarding.organisations import create_organisation

    other = create_organisation(name="Mairie de Bourg", slug="bourg", by=clerk)
    stranger = Customer.objects.create(organisation=other, ref="C001", name="Luc Petit", email="luc@example.org")
    for who in (customer, stranger):
        set_invoices_by_email(who, enabled=True, by=clerk)
    mine, theirs = posted_invoice(org, customer, clerk), posted_invoice(other, stranger, clerk)

    assert email_posted_invoices(organisation=org) == 1
    assert (len(issued(mine)), len(issued(theirs))) == (1, 0)
    assert email_posted_invoices() == 1  # the task, later, takes the rest
    assert len(issued(theirs)) == 1


@pytest.mark.django_db
def test_the_queries_grow_only_with_the_emails_themselves(org, customer, clerk):
    """The invoices and their amounts due are read in one query; each email then costs a fixed handful."""
    set_invoices_by_email(customer, enabled=True, by=clerk)
    posted_invoice(org, customer, clerk)
    with CaptureQueriesContext(connection) as one:
        assert email_posted_invoices() == 1
    for _ in range(10):
        posted_invoice(org, customer, clerk)
    with CaptureQueriesContext(connection) as ten:
        assert email_posted_invoices() == 10

    per_email = (len(ten) - len(one)) / 9
    assert per_email <= len(one)  # no query more per email than a run sending one
    assert per_email <= PER_EMAIL


PER_EMAIL = 14  # lock the row, check the key, read the invoice, render the template, insert, audit, savepoints


@pytest.mark.django_db
def test_the_limit_leaves_the_rest_for_the_next_run(org, customer, clerk):
    set_invoices_by_email(customer, enabled=True, by=clerk)
    first, second = posted_invoice(org, customer, clerk), posted_invoice(org, customer, clerk)

    assert email_posted_invoices(limit=1) == 1
    assert (len(issued(first)), len(issued(second))) == (1, 0)
    assert email_posted_invoices(limit=1) == 1
    assert len(issued(second)) == 1


@pytest.mark.django_db
def test_the_periodic_task_sends_them(org, customer, clerk):
    from encaisse.portal.tasks import email_posted_invoices as task

    set_invoices_by_email(customer, enabled=True, by=clerk)
    invoice = posted_invoice(org, customer, clerk)

    assert task.call() == 1
    assert len(issued(invoice)) == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_invoice_once(org, customer, clerk):
    set_invoices_by_email(customer, enabled=True, by=clerk)
    invoices = [posted_invoice(org, customer, clerk) for _ in range(6)]
    start_together = Barrier(4)

    def run() -> int:
        start_together.wait()
        try:
            return email_posted_invoices()
        finally:
            connection.close()  # each thread opened its own connection

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(lambda _: run(), range(4)))

    assert sum(counts) == 6
    assert all(len(issued(invoice)) == 1 for invoice in invoices)
    assert AuditEvent.objects.filter(verb="invoice_sent").count() == 6
