"""Background entry points of online payments. Thin on purpose: the rules live in online.py and methods.py."""

from crontask import cron
from django.tasks import task
from django.utils import timezone

from . import methods, online


@cron("*/5 * * * *")
@task
def resolve_unknown_attempts() -> dict[str, int]:
    """Every five minutes: ask providers about attempts still sending, pending or unknown after 5 minutes."""
    return online.resolve_unknown_attempts(older_than_minutes=5)


@cron("10 0 * * *")
@task
def expire_saved_methods() -> int:
    """Every day just after midnight: cards whose expiry month has passed are no longer charged."""
    return methods.expire_methods(timezone.localdate())
