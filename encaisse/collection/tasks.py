"""Background entry point of automatic collection. Thin on purpose: the rules live in services.py."""

from crontask import cron
from django.tasks import task
from django.utils import timezone

from encaisse.parties.models import Organisation

from . import services
from .models import CollectionRun


@cron("0 6 * * *")
@task
def collect_due_invoices() -> dict[str, dict[str, int]]:
    """Every morning at 06:00: each organisation's due invoices charged or batched; the counts per organisation."""
    today = timezone.localdate()
    counts = {}
    for organisation in Organisation.objects.order_by("pk"):
        run = services.run_collection(organisation=organisation, on=today, trigger=CollectionRun.Trigger.SCHEDULE)
        counts[organisation.slug] = {"status": run.status, **run.counts}
    return counts
