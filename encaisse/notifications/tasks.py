"""Background entry points of the outbox. Thin on purpose: the rules live in services."""

from crontask import cron
from django.tasks import task

from . import services


@task
def deliver_message_task(message_id: int) -> str:
    """Send one outbox message; enqueued after the commit that wrote it."""
    return services.deliver_message(message_id=message_id).status


@task
def deliver_messages_task(message_ids: list[int]) -> int:
    """Send a batch's messages, one after the other. queue_emails now enqueues deliver_queued_task; this stays for
    the tasks enqueued before. Those a crash leaves queued are sent by the sweep."""
    return sum(services.deliver_message(message_id=pk).status == services.Status.SENT for pk in message_ids)


@task
def deliver_queued_task(organisation_id: int | None) -> int:
    """Send an organisation's queued messages; enqueued once after the commit of a batch (queue_emails)."""
    return services.deliver_queued_messages(organisation_id=organisation_id)


@cron("*/5 * * * *")
@task
def retry_outbox() -> dict[str, int]:
    """Every five minutes: retry what is due, recover what a crash left sending."""
    return services.retry_due_messages()
