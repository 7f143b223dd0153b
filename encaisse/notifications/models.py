"""Email templates and the outbox.

An OutboxMessage is written in the same transaction as the fact that causes it
(an invoice posted, a payment declined) and sent after commit. So a
rolled-back fact sends nothing and a committed one is sent at least once. A
single message is rendered when it is queued; a batch's (queue_emails) keeps
its context and is rendered just before it is sent. Either way the text that
went out is stored on the row, so what the customer received stays readable in
the back office even after a template changes.
"""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.template import Template, TemplateSyntaxError
from django.utils.translation import gettext_lazy as _

from encaisse.parties.models import Organisation

LANGUAGES = [("fr", _("French")), ("en", _("English"))]


def _check_template_syntax(source: str) -> None:
    try:
        Template(source)
    except TemplateSyntaxError as error:
        raise ValidationError(_("Template error: %(error)s"), params={"error": error}, code="invalid") from error


class EmailTemplate(models.Model):
    """The subject and body of one kind of email, in one language.

    A row without organisation is a built-in default: it mirrors
    notifications/defaults.py (synced after every migrate) and is never edited
    in the back office. An organisation overrides it with its own row for the
    same code and language.
    """

    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="email_templates",
        verbose_name=_("organisation"), help_text=_("Empty for the built-in default."),
    )
    code = models.CharField(_("code"), max_length=64)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGES, default="fr")
    subject = models.CharField(_("subject"), max_length=500, validators=[_check_template_syntax])
    body_text = models.TextField(
        _("text body"), validators=[_check_template_syntax],
        help_text=_("Django template syntax: {{ variable }}, {% if %}…{% endif %}."),
    )
    body_html = models.TextField(
        _("HTML body"), blank=True, validators=[_check_template_syntax],
        help_text=_("Optional. Sent beside the text body; variables are escaped."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("email template")
        verbose_name_plural = _("email templates")
        ordering = ["code", "language", "organisation__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code", "language"], name="email_template_unique",
            ),
            # NULLs are distinct in a unique index: the defaults need their own.
            models.UniqueConstraint(
                fields=["code", "language"], condition=Q(organisation__isnull=True),
                name="email_template_default_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.language})"

    @property
    def is_default(self) -> bool:
        return self.organisation_id is None


class OutboxMessage(models.Model):
    """One email, its text as sent (or the context to render it with, until it is sent), and what became of it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="outbox_messages",
        verbose_name=_("organisation"),
    )
    template_code = models.CharField(_("template"), max_length=64)
    language = models.CharField(_("language"), max_length=8, choices=LANGUAGES)
    # One address per line: a display name may hold a comma ("Martin, Jeanne" <j@example.org>).
    to = models.TextField(_("to"))
    cc = models.TextField(_("cc"), blank=True)
    from_email = models.CharField(_("from"), max_length=320)
    reply_to = models.CharField(_("reply to"), max_length=320, blank=True)
    subject = models.CharField(_("subject"), max_length=500)
    body_text = models.TextField(_("text body"))
    body_html = models.TextField(_("HTML body"), blank=True)
    # Set when subject and bodies hold the text; empty while a batch's message waits to be rendered from `context`.
    rendered_at = models.DateTimeField(_("rendered"), null=True, blank=True)
    # JSON text (notifications.context), read back whole when the message is rendered.
    context = models.TextField(
        _("context"), null=True, blank=True, editable=False,
        help_text=_("What the template is rendered with, for a message rendered when it is sent."),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("sending since"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    related_content_type = models.ForeignKey(  # outbox_related_idx starts with it: no index of its own
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
    )
    related_object_id = models.CharField(max_length=64, blank=True)
    related = GenericForeignKey("related_content_type", "related_object_id")
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=200, null=True, blank=True,
        help_text=_("Names the business event (invoice:42:sent), so that it never queues two emails."),
    )

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["related_content_type", "related_object_id"], name="outbox_related_idx"),
            # The sweep's "what went out in the last minutes" (services._idle_backlogs): sent rows only, so
            # queueing costs nothing more and the read does not walk every message ever sent.
            models.Index(fields=["sent_at"], condition=Q(status="sent"), name="outbox_recently_sent_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "idempotency_key"], condition=Q(idempotency_key__isnull=False),
                name="outbox_idempotency_unique",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=Q(organisation__isnull=True, idempotency_key__isnull=False),
                name="outbox_idempotency_unique_without_organisation",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="outbox_sent_has_sent_at",
            ),
            # Rendered, or renderable: a message never waits without what renders it, and never goes out blank.
            models.CheckConstraint(
                condition=Q(rendered_at__isnull=False) | Q(context__isnull=False), name="outbox_rendered_or_context",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(rendered_at__isnull=False), name="outbox_sent_was_rendered",
            ),
        ]

    def __str__(self) -> str:
        subject = self.subject if self.is_rendered else f"{self.template_code} ({_('rendered when sent')})"
        return f"{subject} → {', '.join(self.to_list)}"

    @property
    def is_rendered(self) -> bool:
        """False while a batch's message has only its context: subject and bodies are written when it is sent."""
        return self.rendered_at is not None

    @property
    def to_list(self) -> list[str]:
        return [line for line in self.to.splitlines() if line.strip()]

    @property
    def cc_list(self) -> list[str]:
        return [line for line in self.cc.splitlines() if line.strip()]
