"""The email outbox: messages written with the fact that causes them, sent after commit, retried."""
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_defaults(sender: AppConfig, apps: Any = None, using: str = "default", **kwargs: Any) -> None:
    from .defaults import sync_default_templates

    try:
        model = apps.get_model("notifications", "EmailTemplate") if apps is not None else None
    except LookupError:  # migrated backwards past the table
        return
    sync_default_templates(model, using=using)


class NotificationsConfig(AppConfig):
    name = "encaisse.notifications"
    label = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # After every migrate (and test-database flush), the built-in templates
        # in the database match defaults.py: a deploy that adds one needs no data migration.
        post_migrate.connect(_sync_defaults, sender=self, dispatch_uid="notifications.sync_default_templates")
