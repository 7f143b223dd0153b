"""Background entry points of online payments. Thin on purpose: the rules live in online.py."""

from crontask import cron
from django.tasks import task

from . import online


@cron("*/5 * * * *")
@task
def resolve_unknown_attempts() -> dict[str, int]:
    """Every five minutes: ask providers about attempts still sending, pending or unknown after 5 minutes."""
    return online.resolve_unknown_attempts(older_than_minutes=5)
