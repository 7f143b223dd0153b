"""record_event: the one line every money-moving service writes in its own transaction."""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from .models import AuditEvent
from .origin import current_origin


def record_event(
    obj: models.Model, verb: str, *, by: Any = None, data: dict[str, Any] | None = None
) -> AuditEvent:
    """Record that `by` did `verb` to `obj`, through the current origin.

    Call it inside the transaction of the change, so the trail and the fact
    commit together or not at all.
    """
    user = by if getattr(by, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        organisation_id=getattr(obj, "organisation_id", None),
        verb=verb,
        by=user,
        origin=current_origin(),
        data=data or {},
    )


def events_for(obj: models.Model) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).select_related("by")


def record_events(objs: list[models.Model], verb: str, *, by: Any = None,
                  data: dict[str, Any] | None = None) -> None:
    """record_event for many records of one model at once (batch posting, imports)."""
    if not objs:
        return
    user = by if getattr(by, "is_authenticated", False) else None
    content_type = ContentType.objects.get_for_model(objs[0])
    where = current_origin()
    AuditEvent.objects.bulk_create(
        AuditEvent(content_type=content_type, object_id=str(obj.pk),
                   organisation_id=getattr(obj, "organisation_id", None), verb=verb, by=user, origin=where,
                   data=data or {})
        for obj in objs
    )
