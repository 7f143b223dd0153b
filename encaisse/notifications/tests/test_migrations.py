"""Migrating the outbox back past rendering-when-sent must not turn a waiting message into a blank email."""

import importlib

import pytest
from django.apps import apps
from django.db.migrations.exceptions import IrreversibleError

from encaisse.notifications.models import OutboxMessage
from encaisse.notifications.services import EmailToQueue, deliver_message, queue_emails

migration = importlib.import_module("encaisse.notifications.migrations.0002_outbox_rendered_when_sent")


@pytest.mark.django_db
def test_going_back_is_refused_while_a_batch_message_waits_to_be_rendered(org):
    queue_emails(organisation=org, template_code="generic", emails=[
        EmailToQueue(to="a@example.org", context={"subject": "S", "body": "B"}, idempotency_key="k")])

    with pytest.raises(IrreversibleError, match="1 outbox"):
        migration.refuse_unrendered(apps, None)  # the schema editor is not used

    deliver_message(message_id=OutboxMessage.objects.get().pk)
    migration.refuse_unrendered(apps, None)  # all rendered: nothing to lose
