from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from encaisse.core.audit import events_for
from encaisse.notifications.errors import MessageNotFailed
from encaisse.notifications.models import OutboxMessage
from encaisse.notifications.services import (
    DRAIN_IDLE,
    MAX_ATTEMPTS,
    deliver_message,
    queue_email,
    resend_message,
    retry_due_messages,
)

Status = OutboxMessage.Status


def queue_hello(org, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return queue_email(organisation=org, template_code="generic", to=customer.email,
                           context={"subject": "Bonjour", "body": "Votre pressing est prêt."})


@pytest.mark.django_db
def test_a_refused_mail_stays_queued_with_the_error_and_the_sweep_sends_it_later(
    org, customer, mail_server, django_capture_on_commit_callbacks
):
    mail_server.down()

    message = queue_hello(org, customer, django_capture_on_commit_callbacks)

    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.attempts == 1
    assert "SMTPConnectError" in message.last_error
    assert "Service not available" in message.last_error
    assert message.next_attempt_at > timezone.now()
    assert mail.outbox == []

    mail_server.up()
    assert retry_due_messages()["attempted"] == 0  # not due yet: the first retry waits a minute
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        report = retry_due_messages()

    message.refresh_from_db()
    assert report == {"requeued": 0, "attempted": 1, "sent": 1, "retrying": 0, "failed": 0, "handed_off": 0}
    assert message.status == Status.SENT
    assert message.attempts == 2
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Bonjour"


@pytest.mark.django_db
def test_a_mail_refused_at_every_attempt_ends_failed(org, customer, mail_server, django_capture_on_commit_callbacks):
    mail_server.down()
    message = queue_hello(org, customer, django_capture_on_commit_callbacks)

    # Retries wait 1, 5, 30 and 120 minutes: a few hours later every attempt has been made.
    now = timezone.now()
    for minutes in (2, 10, 45, 180, 300):
        with time_machine.travel(now + timedelta(minutes=minutes)):
            retry_due_messages()

    message.refresh_from_db()
    assert message.attempts == MAX_ATTEMPTS == 5
    assert message.status == Status.FAILED
    assert message.next_attempt_at is None
    assert "SMTPConnectError" in message.last_error

    mail_server.up()
    with time_machine.travel(now + timedelta(days=1)):
        assert retry_due_messages()["attempted"] == 0  # given up: only a person sends it again
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_sent_mail_is_never_sent_again(org, customer, django_capture_on_commit_callbacks):
    message = queue_hello(org, customer, django_capture_on_commit_callbacks)

    deliver_message(message_id=message.pk)
    retry_due_messages()

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_mail_left_sending_by_a_crash_is_sent_by_the_sweep(org, customer):
    message = queue_email(organisation=org, template_code="generic", to=customer.email,
                          context={"subject": "Bonjour", "body": "…"})
    # The worker claimed it and died before talking to the mail server.
    claimed_at = timezone.now()
    OutboxMessage.objects.filter(pk=message.pk).update(status=Status.SENDING, attempts=1, claimed_at=claimed_at)

    assert retry_due_messages()["requeued"] == 0  # it may still be on its way
    with time_machine.travel(claimed_at + timedelta(minutes=11)):
        report = retry_due_messages()

    message.refresh_from_db()
    assert report["requeued"] == 1
    assert report["sent"] == 1
    assert message.status == Status.SENT
    assert message.attempts == 2
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_clerk_sends_a_failed_mail_again(org, customer, clerk, mail_server, django_capture_on_commit_callbacks):
    mail_server.down()
    message = queue_hello(org, customer, django_capture_on_commit_callbacks)
    OutboxMessage.objects.filter(pk=message.pk).update(status=Status.FAILED, next_attempt_at=None)
    mail_server.up()

    with django_capture_on_commit_callbacks(execute=True):
        resend_message(message_id=message.pk, by=clerk)

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 1  # a fresh set of attempts
    assert len(mail.outbox) == 1
    assert [event.verb for event in events_for(message)] == ["email.resend"]


@pytest.mark.django_db
def test_only_a_failed_mail_can_be_sent_again(org, customer, clerk, django_capture_on_commit_callbacks):
    message = queue_hello(org, customer, django_capture_on_commit_callbacks)

    with pytest.raises(MessageNotFailed, match="is Sent"):
        resend_message(message_id=message.pk, by=clerk)
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_the_delivery_task_and_the_sweep_task_call_the_services(org, customer):
    from encaisse.notifications.tasks import deliver_message_task, retry_outbox

    message = queue_email(organisation=org, template_code="generic", to=customer.email,
                          context={"subject": "Bonjour", "body": "…"})

    assert deliver_message_task.enqueue(message_id=message.pk).return_value == "sent"
    assert retry_outbox.enqueue().return_value["attempted"] == 0
    assert len(mail.outbox) == 1


@pytest.mark.postgresql  # needs real row locks: skipped on SQLite, run in CI
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_the_same_message_send_it_once(org, customer):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connection

    message = queue_email(organisation=org, template_code="generic", to=customer.email,
                          context={"subject": "Bonjour", "body": "…"})  # autocommit: sent at once
    OutboxMessage.objects.filter(pk=message.pk).update(status=Status.QUEUED, sent_at=None, attempts=0)
    mail.outbox.clear()
    start_together = Barrier(3)

    def deliver(_: int) -> str:
        start_together.wait()
        try:
            return deliver_message(message_id=message.pk).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(deliver, range(3)))

    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.attempts == 1
    assert len(mail.outbox) == 1


def queue_lost(org, customer, count):
    """Messages whose after-commit delivery task was lost (the on-commit callbacks never run)."""
    return [queue_email(organisation=org, template_code="generic", to=customer.email,
                        context={"subject": f"Avis {n}", "body": "…"}, idempotency_key=f"lost:{n}")
            for n in range(count)]


@pytest.mark.django_db
def test_a_backlog_beyond_the_sweeps_limit_is_handed_to_a_delivery_task(org, customer):
    queue_lost(org, customer, 7)

    report = retry_due_messages(limit=3)

    # The sweep sent its three; the task it started for the organisation sent the other four at once.
    assert (report["attempted"], report["handed_off"]) == (3, 1)
    assert OutboxMessage.objects.filter(status=Status.SENT).count() == 7
    assert len(mail.outbox) == 7


@pytest.mark.django_db
def test_the_sweep_starts_no_second_task_while_one_is_sending(org, customer, django_capture_on_commit_callbacks):
    for _n in range(3):  # more than the sweep's limit went out just now: a task is at work
        queue_hello(org, customer, django_capture_on_commit_callbacks)
    queue_lost(org, customer, 5)

    report = retry_due_messages(limit=2)

    assert (report["attempted"], report["handed_off"]) == (2, 0)
    assert OutboxMessage.objects.filter(status=Status.QUEUED).count() == 3
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        # Nothing went out for longer than DRAIN_IDLE (the sweep's own sends do not count): the task is lost.
        report = retry_due_messages(limit=2)
    assert (report["attempted"], report["handed_off"]) == (2, 1)
    assert OutboxMessage.objects.filter(status=Status.QUEUED).count() == 0
    assert len(mail.outbox) == 8


@pytest.mark.django_db
def test_a_backlog_within_the_limit_is_sent_by_the_sweep_alone(org, customer):
    queue_lost(org, customer, 3)

    report = retry_due_messages(limit=3)

    assert (report["attempted"], report["sent"], report["handed_off"]) == (3, 3, 0)


@pytest.mark.django_db
def test_the_previous_sweeps_sends_do_not_pass_for_a_task_at_work(org, customer, django_capture_on_commit_callbacks):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _n in range(3):  # more than the sweep's limit just went out: a task was at work
            queue_hello(org, customer, django_capture_on_commit_callbacks)
        queue_lost(org, customer, 7)
    with time_machine.travel(start + timedelta(seconds=2), tick=False):
        assert retry_due_messages(limit=2)["handed_off"] == 0

    # The next sweep, five minutes after the previous one started: its sends, a few seconds after its start, are
    # still within DRAIN_IDLE, and no more than the sweep's limit; the backlog has no task and gets one.
    with time_machine.travel(start + DRAIN_IDLE + timedelta(seconds=1), tick=False):
        report = retry_due_messages(limit=2)

    assert (report["attempted"], report["handed_off"]) == (2, 1)
    assert OutboxMessage.objects.filter(status=Status.QUEUED).count() == 0
    assert len(mail.outbox) == 10


@pytest.mark.django_db
def test_a_lost_backlog_of_an_organisation_sending_everyday_mail_is_handed_off(
    org, customer, django_capture_on_commit_callbacks
):
    queue_lost(org, customer, 5)
    queue_hello(org, customer, django_capture_on_commit_callbacks)  # a mail went out a moment ago: no task, though

    report = retry_due_messages(limit=2)

    assert (report["attempted"], report["handed_off"]) == (2, 1)
    assert OutboxMessage.objects.filter(status=Status.QUEUED).count() == 0
