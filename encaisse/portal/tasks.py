"""Background entry points of the portal's features. Thin on purpose: the rules live in the services."""

from crontask import cron
from django.tasks import task

from . import delivery


@cron("*/5 * * * *")
@task
def email_posted_invoices() -> int:
    """Every five minutes: email the invoices posted for customers who chose invoices by email, with pay links."""
    return delivery.email_posted_invoices()
