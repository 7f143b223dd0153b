"""Audit events and the append-only base that posted records use."""

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

from .errors import ImmutableRecord


class AppendOnlyQuerySet(models.QuerySet):
    """Refuse bulk updates and deletes: a posted record is corrected by a new one."""

    def update(self, **kwargs: Any) -> int:
        raise ImmutableRecord(model=self.model._meta.verbose_name, pk="*")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableRecord(model=self.model._meta.verbose_name, pk="*")


class AppendOnlyModel(models.Model):
    """A row that is written once and never changed (ledger entries and their lines).

    The ORM refuses here; on PostgreSQL a trigger refuses too, so a raw SQL
    UPDATE from a console cannot slip past either.
    """

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecord(model=self._meta.verbose_name, pk=self.pk)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableRecord(model=self._meta.verbose_name, pk=self.pk)


class AuditEvent(models.Model):
    """Who did what to which record, when, and through which interface."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.CharField(max_length=64)
    subject = GenericForeignKey("content_type", "object_id")
    organisation_id = models.BigIntegerField(null=True, db_index=True)
    verb = models.CharField(_("action"), max_length=64)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("by")
    )
    origin = models.CharField(_("origin"), max_length=32)
    at = models.DateTimeField(_("at"), auto_now_add=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["content_type", "object_id"])]
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.verb} {self.content_type.model}:{self.object_id}"
