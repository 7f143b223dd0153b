"""record_event: the one line every money-moving service writes in its own transaction."""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from .bulk import insert_rows
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
    """record_event for many records of one model at once (batch posting, imports), in one statement."""
    if not objs:
        return
    _insert_events(type(objs[0]), [(obj.pk, getattr(obj, "organisation_id", None)) for obj in objs], verb,
                   by=by, data=data)


def record_events_for(model: type[models.Model], pks: list[Any], verb: str, *, organisation_id: int | None,
                      by: Any = None, data: dict[str, Any] | None = None) -> None:
    """record_events for rows known by their ids only (a collection run's 100,000 debits: no instance each)."""
    _insert_events(model, [(pk, organisation_id) for pk in pks], verb, by=by, data=data)


def _insert_events(model: type[models.Model], targets: list[tuple[Any, int | None]], verb: str, *, by: Any,
                   data: dict[str, Any] | None) -> None:
    if not targets:
        return
    user_id = by.pk if getattr(by, "is_authenticated", False) else None
    content_type_id = ContentType.objects.get_for_model(model).pk
    where = current_origin()
    at = timezone.now()
    details = data or {}  # one object for every row: core.bulk encodes it once
    insert_rows(
        AuditEvent,
        ("content_type", "object_id", "organisation_id", "verb", "by", "origin", "at", "data"),
        [(content_type_id, str(pk), organisation_id, verb, user_id, where, at, details)
         for pk, organisation_id in targets],
    )
