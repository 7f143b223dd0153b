"""Many direct debits scheduled at once (schedule_direct_debits): the single path's rules, a batch at a time."""

from datetime import date

import pytest
from django.db import IntegrityError, transaction

from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.notifications.models import OutboxMessage
from encaisse.notifications.services import render_pending
from encaisse.parties.models import Customer
from encaisse.sepa.debits import (
    DebitRequest,
    DirectDebitRefused,
    MandateFacts,
    ScheduledDebit,
    end_to_end_id_for,
    schedule_direct_debits,
)
from encaisse.sepa.models import DirectDebit, Mandate

from .debit_fixtures import TODAY, make_mandate, schedule


def request(mandate, invoice, key, *, amount=None):
    mandate.refresh_from_db()  # as a run reads it: status and last use now
    return DebitRequest(mandate=MandateFacts.of(mandate), invoice_id=invoice.pk, invoice_number=invoice.number,
                        line_id=invoice.receivable_line_id, amount=amount or invoice.total, due_on=TODAY,
                        prenotification_days=14, key=key)


@pytest.fixture
def second(org, creditor):
    customer = Customer.objects.create(organisation=org, ref="C2", name="Jeanne Batch", email="jeanne@example.org")
    return make_mandate(customer, "UMR-0002", last_used_on=date(2026, 2, 2))


@pytest.mark.django_db
def test_a_batch_schedules_each_debit_as_the_single_path_would(org, clerk, mandate, second):
    one, two = posted_invoice(org, mandate.customer, clerk), posted_invoice(org, mandate.customer, clerk, "20.00")
    three = posted_invoice(org, second.customer, clerk)

    debits = schedule_direct_debits(organisation=org, today=TODAY, by=clerk, requests=[
        request(mandate, one, "b:1"), request(mandate, two, "b:2"), request(second, three, "b:3")])

    assert [d.end_to_end_id for d in debits] == [end_to_end_id_for(org.pk, f"b:{n}") for n in (1, 2, 3)]
    # A never-used mandate: its first debit FRST, the next one RCUR; a used one RCUR.
    assert [d.sequence_type for d in debits] == ["FRST", "RCUR", "RCUR"]
    assert {d.collection_date for d in debits} == {date(2026, 3, 16)}  # as test_debits' single one
    rows = DirectDebit.objects.in_bulk([d.pk for d in debits])
    assert all(rows[d.pk].prenotified_at is not None and rows[d.pk].status == "scheduled" for d in debits)
    assert [rows[d.pk].sequence_type for d in debits] == ["FRST", "RCUR", "RCUR"]  # what the file will say
    assert [d.amount for d in debits] == [rows[d.pk].amount for d in debits] == [one.total, two.total, three.total]
    # Rendered as delivery renders them.
    messages = [render_pending(m) for m in
                OutboxMessage.objects.filter(template_code="direct_debit_prenotification").order_by("pk")]
    assert [m.idempotency_key for m in messages] == [f"sepa:debit:{d.pk}:prenotification" for d in debits]
    assert "UMR-0002" in messages[2].body_text
    assert three.number in messages[2].body_text
    single = schedule(mandate, clerk, key="single")
    assert render_pending(OutboxMessage.objects.get(related_object_id=str(single.pk))).subject == messages[0].subject


@pytest.mark.django_db
def test_the_same_keys_give_the_same_debits_and_no_second_email(org, clerk, mandate):
    invoice = posted_invoice(org, mandate.customer, clerk)
    first = schedule_direct_debits(organisation=org, today=TODAY, requests=[request(mandate, invoice, "k:1")])
    again = schedule_direct_debits(organisation=org, today=TODAY, requests=[request(mandate, invoice, "k:1")])

    assert [d.pk for d in again] == [d.pk for d in first]
    assert DirectDebit.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db
def test_a_key_repeated_within_a_batch_gives_the_first_ones_debit(org, clerk, mandate):
    one, two = posted_invoice(org, mandate.customer, clerk), posted_invoice(org, mandate.customer, clerk, "20.00")

    results = schedule_direct_debits(organisation=org, today=TODAY, requests=[
        request(mandate, one, "twice"), request(mandate, two, "other"), request(mandate, one, "twice")])

    assert [type(r) for r in results] == [ScheduledDebit] * 3
    assert results[2] == results[0] != results[1]
    assert DirectDebit.objects.count() == 2
    assert OutboxMessage.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_request_is_answered_with_its_reason_and_the_others_are_scheduled(org, clerk, mandate, second):
    ok, revoked = posted_invoice(org, mandate.customer, clerk), posted_invoice(org, second.customer, clerk)
    Mandate.objects.filter(pk=second.pk).update(status=Mandate.Status.REVOKED)
    second.refresh_from_db()

    results = schedule_direct_debits(organisation=org, today=TODAY, requests=[
        request(mandate, ok, "r:1"), request(second, revoked, "r:2")])

    assert isinstance(results[0], ScheduledDebit)
    assert isinstance(results[1], DirectDebitRefused)
    assert "UMR-0002" in str(results[1])
    assert list(DirectDebit.objects.values_list("line_id", flat=True)) == [ok.receivable_line_id]
    assert OutboxMessage.objects.count() == 1


@pytest.mark.django_db
def test_a_line_already_in_flight_refuses_the_whole_batch(org, clerk, mandate, second):
    taken, other = posted_invoice(org, mandate.customer, clerk), posted_invoice(org, second.customer, clerk)
    schedule(mandate, clerk, invoice=taken, key="elsewhere")

    with pytest.raises(IntegrityError), transaction.atomic():
        schedule_direct_debits(organisation=org, today=TODAY, requests=[
            request(second, other, "x:1"), request(mandate, taken, "x:2")])

    assert DirectDebit.objects.count() == 1
    assert OutboxMessage.objects.count() == 1
