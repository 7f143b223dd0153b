"""Queue emails with the facts that cause them; deliver them after commit, at least once.

The invariants:

- a message exists only if the transaction that queued it committed
  (queue_email writes in the caller's transaction, delivery starts on commit);
- one business event queues one message (idempotency key, unique per organisation);
- a message marked sent is never sent again; the claim (queued → sending) is
  taken under a row lock and committed before the mail server is called, and
  no transaction is open during the call;
- a failure is recorded and retried later with backoff, then given up on;
- a crash between claim and send leaves the message `sending`; the sweep puts
  it back in the queue after STUCK_AFTER. That is the one case where a mail
  may go out twice (the server took it, the record did not follow): the outbox
  delivers at least once, never "at most once".
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import formataddr, parseaddr
from functools import partial
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import DatabaseError, IntegrityError, models, transaction
from django.template import Context, Template, TemplateSyntaxError
from django.template.base import VariableNode
from django.template.defaultfilters import date as date_filter
from django.utils import timezone, translation

from encaisse.core.audit import record_event
from encaisse.core.bulk import column_in, in_chunks, insert_rows
from encaisse.core.money import Money
from encaisse.parties.models import Organisation

from .context import ContextEncoder, decode_context
from .defaults import default_template
from .errors import InvalidRecipient, MessageNotFailed, NoRecipient, NotADefaultTemplate, UnknownTemplate
from .models import EmailTemplate, OutboxMessage

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status

FALLBACK_LANGUAGE = "fr"
SUPPORTED_LANGUAGES = ("fr", "en")
MONEY_LOCALES = {"fr": "fr_FR", "en": "en_GB"}

# Attempt n failed → wait RETRY_DELAYS[n-1]; the MAX_ATTEMPTS-th failure is final.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(minutes=120))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
STUCK_AFTER = timedelta(minutes=10)
# A backlog none of whose messages went out for this long has no task sending it: the sweep starts one.
DRAIN_IDLE = timedelta(minutes=5)
ERROR_MAX_CHARS = 2000


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    template_code: str
    language: str
    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True, slots=True)
class _Source:
    subject: str
    body_text: str
    body_html: str
    language: str


def email_language(language: str | None, organisation: Organisation | None = None) -> str:
    """Pick the language of an email: the one asked for, else the organisation's, else French."""
    for candidate in (language, getattr(organisation, "language", None)):
        if candidate:
            short = candidate.lower().replace("_", "-").split("-")[0]
            if short in SUPPORTED_LANGUAGES:
                return short
    return FALLBACK_LANGUAGE


def _compiles(row: EmailTemplate) -> bool:
    try:
        for source in (row.subject, row.body_text, row.body_html):
            Template(source)
    except TemplateSyntaxError:
        # Forms refuse broken templates; one written another way must not block the fact
        # that sends the email (an invoice being posted), so the default is used instead.
        logger.warning("Email template %s is broken; using the built-in one", row.pk)
        return False
    return True


def _find_source(organisation: Organisation | None, code: str, language: str) -> _Source:
    """The organisation's template in the language, else the built-in one, else the same in French."""
    rows = {
        (row.organisation_id, row.language): row
        for row in EmailTemplate.objects.filter(
            _own_or_builtin(organisation), code=code, language__in={language, FALLBACK_LANGUAGE}
        )
    }
    organisation_id = getattr(organisation, "pk", None)
    for lang in dict.fromkeys((language, FALLBACK_LANGUAGE)):
        own = rows.get((organisation_id, lang)) if organisation_id is not None else None
        if own is not None and _compiles(own):
            return _Source(own.subject, own.body_text, own.body_html, lang)
        builtin = rows.get((None, lang))
        if builtin is not None:
            return _Source(builtin.subject, builtin.body_text, builtin.body_html, lang)
        if (coded := default_template(code, lang)) is not None:
            return _Source(coded.subject, coded.body_text, coded.body_html, lang)
    raise UnknownTemplate(code=code)


def _own_or_builtin(organisation: Organisation | None) -> models.Q:
    builtin = models.Q(organisation__isnull=True)
    if organisation is None or organisation.pk is None:  # an unsaved organisation: a preview
        return builtin
    return builtin | models.Q(organisation_id=organisation.pk)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A template source compiled once: render_email renders one email with it, queue_emails a whole batch."""

    template_code: str
    language: str
    subject: Template
    body_text: Template
    body_html: Template | None

    @classmethod
    def of(cls, template_code: str, source: _Source) -> _Compiled:
        formatted: dict[tuple[date, Any], str] = {}  # shared by the three parts: one language, one batch
        templates = [_memoizing_dates(Template(text), formatted) if text is not None else None
                     for text in (source.subject, source.body_text,
                                  source.body_html if source.body_html.strip() else None)]
        return cls(template_code, source.language, *templates)

    def render(self, data: dict) -> RenderedEmail:
        """Text parts with autoescape off (a text mail shows "&" as "&"), the HTML part with it on."""
        with translation.override(self.language):
            subject = self.subject.render(Context(data, autoescape=False))
            body_text = self.body_text.render(Context(data, autoescape=False))
            body_html = self.body_html.render(Context(data)) if self.body_html is not None else ""
        # A header is one line; a newline in it would be refused by the mail API (header injection).
        subject = " ".join(subject.split())[:500]
        return RenderedEmail(self.template_code, self.language, subject, body_text, body_html)


def _memoizing_dates(template: Template, formatted: dict[tuple[date, Any], str]) -> Template:
    """`template` with its |date filters remembering what they wrote for a (date, format) in this language.

    A batch's messages repeat the same few collection dates, and Django's
    date formatting cost more than the rest of a pre-notification's
    rendering. Plain dates only: a datetime's text depends on its time zone,
    which equal datetimes need not share, so those are formatted each time.
    """
    def remembered(value: Any, arg: Any = None) -> Any:
        if type(value) is not date:
            return date_filter(value, arg)
        key = (value, arg)
        if key not in formatted:
            formatted[key] = date_filter(value, arg)
        return formatted[key]

    for attribute in ("expects_localtime", "is_safe", "needs_autoescape", "needs_context"):
        if hasattr(date_filter, attribute):
            setattr(remembered, attribute, getattr(date_filter, attribute))
    for node in template.nodelist.get_nodes_by_type(VariableNode):
        filters = node.filter_expression.filters
        filters[:] = [(remembered if func is date_filter else func, args) for func, args in filters]
    return template


def _template_context(context: Mapping[str, Any], organisation: Organisation | None, language: str,
                      formatted: dict[tuple[Money, str], str] | None = None) -> dict:
    """Money formatted in the email's language (through `formatted`, a batch's cache: babel's formatting is slow)."""
    cache = {} if formatted is None else formatted
    data = {key: _formatted(value, language, cache) for key, value in context.items()}
    # Plain values, not the model: a template edited in the back office reaches no further.
    data["organisation"] = {
        "name": organisation.name if organisation else "",
        "legal_name": organisation.display_legal_name if organisation else "",
        "email": organisation.email if organisation else "",
    }
    return data


def render_email(
    *, organisation: Organisation | None, template_code: str, context: Mapping[str, Any], language: str | None = None
) -> RenderedEmail:
    """Render one email without writing anything; raise UnknownTemplate if no template has the code.

    Text parts are rendered with autoescape off (a text mail shows "&" as "&"),
    the HTML part with it on. Dates and numbers follow the email's language.
    """
    compiled = _Compiled.of(template_code, _find_source(organisation, template_code,
                                                        email_language(language, organisation)))
    return compiled.render(_template_context(context, organisation, compiled.language))


# --- queueing ----------------------------------------------------------------------------------


# A bare address of the most common shape: what the full check (parseaddr, then validate_email) would accept as
# it is. Anything else (a display name, a quoted local part, an IDN, a stray space) takes the full check; a
# batch's 20,000 addresses spent more time in parseaddr than in writing their rows.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"\.[A-Za-z]{2,63}"
)


def _addresses(value: str | Iterable[str]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    addresses = []
    for item in items:
        if type(item) is str and len(item) <= 254 and _PLAIN_ADDRESS.fullmatch(item):
            address = item
        else:
            address = " ".join(str(item).split())
            if not address:
                continue
            try:
                validate_email(parseaddr(address)[1])
            except ValidationError as error:
                raise InvalidRecipient(address=address) from error
        if address not in addresses:
            addresses.append(address)
    return addresses


def _sender(organisation: Organisation | None) -> str:
    """The platform's address, under the organisation's name: customers see who writes to them."""
    if organisation is None:
        return settings.DEFAULT_FROM_EMAIL
    return formataddr((organisation.name, parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))


def _existing(organisation: Organisation | None, key: str) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(organisation=organisation, idempotency_key=key).first()


def queue_email(
    *,
    organisation: Organisation | None,
    template_code: str,
    to: str | Iterable[str],
    context: Mapping[str, Any],
    language: str | None = None,
    related: models.Model | None = None,
    idempotency_key: str | None = None,
    cc: str | Iterable[str] = (),
) -> OutboxMessage:
    """Render an email and put it in the outbox, in the caller's transaction; send it after commit.

    Call it inside the transaction that records the fact: if that rolls back,
    the message was never written and nothing is sent. With an
    `idempotency_key` naming the business event ("invoice:42:sent"), a second
    call returns the message already queued and queues nothing; the unique
    index makes that hold when two transactions race.

    Raises UnknownTemplate, NoRecipient or InvalidRecipient; the caller's
    transaction then rolls back like for any other refusal.
    """
    recipients = _addresses(to)
    copies = [address for address in _addresses(cc) if address not in recipients]
    if not recipients:
        raise NoRecipient(code=template_code)
    if idempotency_key and (existing := _existing(organisation, idempotency_key)):
        return existing
    rendered = render_email(
        organisation=organisation, template_code=template_code, context=context, language=language
    )
    try:
        with transaction.atomic():  # savepoint: losing the race undoes only this insert
            message = OutboxMessage.objects.create(
                organisation=organisation,
                template_code=template_code,
                language=rendered.language,
                to="\n".join(recipients),
                cc="\n".join(copies),
                from_email=_sender(organisation),
                reply_to=organisation.email if organisation is not None else "",
                subject=rendered.subject,
                body_text=rendered.body_text,
                body_html=rendered.body_html,
                rendered_at=timezone.now(),
                status=Status.QUEUED,
                next_attempt_at=timezone.now(),
                related_content_type=ContentType.objects.get_for_model(related) if related is not None else None,
                related_object_id=str(related.pk) if related is not None else "",
                idempotency_key=idempotency_key or None,
            )
    except IntegrityError:
        if idempotency_key and (winner := _existing(organisation, idempotency_key)):
            return winner
        raise
    _deliver_after_commit(message.pk)
    return message


class EmailToQueue(NamedTuple):
    """One message of a batch for queue_emails: its recipient, context and the business event it belongs to.

    `related` is the record the message is about: an instance, or `(model_class, pk)` when the caller has no
    instance at hand. The context's values are plain (text, numbers, Money, dates, Decimal): they are kept as
    JSON until the message is rendered, when it is sent. A NamedTuple: immutable, and cheap to build for
    100,000 pre-notifications (a frozen dataclass sets each field through object.__setattr__).
    """

    to: str
    context: Mapping[str, Any]
    idempotency_key: str
    language: str | None = None
    related: models.Model | tuple[type[models.Model], Any] | None = None


_BATCH_COLUMNS = ("organisation", "template_code", "language", "to", "cc", "from_email", "reply_to", "subject",
                  "body_text", "body_html", "context", "status", "attempts", "next_attempt_at", "last_error",
                  "created_at", "related_content_type", "related_object_id", "idempotency_key")


def queue_emails(*, organisation: Organisation, template_code: str, emails: list[EmailToQueue]) -> int:
    """queue_email for many messages of one template at once (a collection run's pre-notifications); return how
    many were queued.

    The same guarantees: written in the caller's transaction, sent after
    commit, one message per idempotency key — a key already queued is
    skipped, and one queued meanwhile by another transaction makes the insert
    raise IntegrityError (the caller's transaction rolls back, as for
    queue_email losing a race without its savepoint). Raises like queue_email
    (UnknownTemplate, NoRecipient, InvalidRecipient; TypeError for a context
    value JSON cannot keep), before anything is written.

    One difference: a message is rendered when it is delivered, not now
    (deliver_message writes the text it sent on the row, so what the customer
    received stays readable). Rendering 20,000 pre-notifications cost more
    than the rest of scheduling them; the row keeps the context instead, and
    the language and template are checked now. Delivery is enqueued once for
    the organisation's queued messages, not per message id.
    """
    recipients = []
    for email in emails:
        addresses = _addresses(email.to)
        if not addresses:
            raise NoRecipient(code=template_code)
        recipients.append("\n".join(addresses))
    taken = _taken_keys(organisation.pk, [email.idempotency_key for email in emails])
    languages: dict[str | None, str] = {}
    encoders: dict[str, ContextEncoder] = {}  # by the language asked for; its encoder knows the one found
    content_types: dict[type, int] = {}
    now = timezone.now()
    sender, reply_to = _sender(organisation), organisation.email or ""
    rows, seen = [], set()
    for email, to in zip(emails, recipients, strict=True):
        key = email.idempotency_key
        if not key or key in taken or key in seen:
            continue
        seen.add(key)
        if email.language not in languages:
            languages[email.language] = email_language(email.language, organisation)
        wanted = languages[email.language]
        if wanted not in encoders:
            # Found now, as queue_email does, so that an unknown template is refused before anything is
            # written and the message keeps the language it will be rendered in.
            source = _find_source(organisation, template_code, wanted)
            encoders[wanted] = ContextEncoder(source.language)
        encoder = encoders[wanted]
        related_type, related_id = _related(email.related, content_types)
        rows.append((organisation.pk, template_code, encoder.language, to, "", sender, reply_to, "", "", "",
                     encoder.encode(email.context), Status.QUEUED, 0, now, "", now, related_type, related_id, key))
    insert_rows(OutboxMessage, _BATCH_COLUMNS, rows)
    if rows:
        transaction.on_commit(partial(_enqueue_organisation_delivery, organisation.pk), robust=True)
    return len(rows)


def _taken_keys(organisation_id: int, keys: list[str]) -> set[str]:
    """The keys among `keys` the organisation's outbox already holds, a few thousand keys per query (column_in:
    building the ORM's IN lookup cost more than running it)."""
    taken: set[str] = set()
    for chunk in in_chunks(keys):
        taken.update(OutboxMessage.objects.filter(column_in(OutboxMessage, "idempotency_key", chunk),
                                                  organisation_id=organisation_id)
                     .values_list("idempotency_key", flat=True))
    return taken


def _related(related: models.Model | tuple[type[models.Model], Any] | None, content_types: dict[type, int]
             ) -> tuple[int | None, str]:
    """The content type id and object id of a message's record, given as an instance or (model class, pk)."""
    if related is None:
        return None, ""
    model, pk = related if isinstance(related, tuple) else (type(related), related.pk)
    if pk is None:
        raise ValueError(f"A message cannot be about an unsaved {model.__name__}")
    if model not in content_types:
        content_types[model] = ContentType.objects.get_for_model(model).pk
    return content_types[model], str(pk)


def _formatted(value: Any, language: str, cache: dict[tuple[Money, str], str]) -> Any:
    if not isinstance(value, Money):
        return value
    key = (value, language)
    if key not in cache:
        cache[key] = value.format(MONEY_LOCALES[language])
    return cache[key]


def _enqueue_organisation_delivery(organisation_id: int) -> None:
    from .tasks import deliver_queued_task  # tasks import services

    deliver_queued_task.enqueue(organisation_id=organisation_id)


def _deliver_after_commit(message_id: int) -> None:
    # robust: the fact is committed by then; if the task queue cannot be reached,
    # the periodic sweep finds the message queued and due, and sends it.
    transaction.on_commit(partial(_enqueue_delivery, message_id), robust=True)


def _enqueue_delivery(message_id: int) -> None:
    from .tasks import deliver_message_task  # tasks import services

    deliver_message_task.enqueue(message_id=message_id)


# --- delivery ----------------------------------------------------------------------------------


def _email_of(message: OutboxMessage) -> EmailMessage:
    email_class = EmailMultiAlternatives if message.body_html else EmailMessage
    email = email_class(
        subject=message.subject,
        body=message.body_text,
        from_email=message.from_email,
        to=message.to_list,
        cc=message.cc_list,
        reply_to=[message.reply_to] if message.reply_to else None,
        headers={"X-Encaisse-Outbox-Id": str(message.pk)},
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    return email


def render_pending(message: OutboxMessage) -> OutboxMessage:
    """Render a message queued by queue_emails and keep its text on the row; a rendered one is left as it is.

    Delivery does this just before sending; it is public for what must read
    a waiting message's text now (a test, a support script). The template is
    the one in force now, found as for queue_email (the organisation's own,
    else the built-in one, in the message's language, else in French). Raises
    UnknownTemplate or the template's error; nothing is written then.

    The row is read again under its lock: `message` may be stale, and a
    message delivered meanwhile keeps the text that went out, never one
    rendered afterwards with a changed template.
    """
    if message.is_rendered:
        return message
    with transaction.atomic():
        current = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if not current.is_rendered:
            _render_into(current)
            current.save(update_fields=_RENDERED_FIELDS)
    return current


_RENDERED_FIELDS = ["language", "subject", "body_text", "body_html", "rendered_at"]


def preview_pending(message: OutboxMessage) -> RenderedEmail:
    """What a message queued by queue_emails would say if it were sent now; writes nothing (the back office)."""
    return _render_stored(message)


def _render_stored(message: OutboxMessage) -> RenderedEmail:
    compiled = _Compiled.of(message.template_code,
                            _find_source(message.organisation, message.template_code, message.language))
    return compiled.render(_template_context(decode_context(message.context or "{}"), message.organisation,
                                             compiled.language))


def _render_into(message: OutboxMessage) -> None:
    rendered = _render_stored(message)
    message.language = rendered.language
    message.subject, message.body_text, message.body_html = rendered.subject, rendered.body_text, rendered.body_html
    message.rendered_at = timezone.now()


def deliver_message(*, message_id: int) -> OutboxMessage:
    """Render (if it waits to be) and send one queued, due message through Django's mail API; record what happened.

    Anything but a queued message whose time has come is returned untouched, so
    a repeated task, the sweep and a clerk's "send again" can all call this.
    A batch's message is rendered with its claim and keeps its text; one that
    cannot be rendered (its template gone, a value the template chokes on) is
    failed at once with the reason, never sent blank — retrying would not
    change the template, a clerk's "send again" after fixing it does. The claim
    commits before the mail server is called, and the outcome is written
    after; no row is locked while the network is slow.
    """
    now = timezone.now()
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().get(pk=message_id)
        if message.status != Status.QUEUED or (message.next_attempt_at and message.next_attempt_at > now):
            return message
        rendered_now = not message.is_rendered
        if rendered_now:
            try:
                with transaction.atomic():  # savepoint: a query that fails while rendering leaves the claim usable
                    _render_into(message)
            except DatabaseError:
                raise  # the database, not the template: the message stays queued for the sweep
            except Exception as error:  # UnknownTemplate, a template that raises: it will not render next time
                return _fail_unrenderable(message, error)
        message.status = Status.SENDING
        message.attempts += 1
        message.claimed_at = now
        message.save(update_fields=["status", "attempts", "claimed_at", *(_RENDERED_FIELDS if rendered_now else ())])

    try:
        _email_of(message).send()
    except Exception as error:  # the mail server's refusal, a timeout, DNS: the outside world
        return _record_failure(message_id=message_id, error=error)
    return _record_sent(message_id=message_id)


def _fail_unrenderable(message: OutboxMessage, error: Exception) -> OutboxMessage:
    message.status = Status.FAILED
    message.next_attempt_at = None
    message.last_error = (f"Not sent: template {message.template_code} ({message.language}) could not be "
                          f"rendered: {type(error).__name__}: {error}")[:ERROR_MAX_CHARS]
    message.save(update_fields=["status", "next_attempt_at", "last_error"])
    logger.warning("Email %s not rendered: %s", message.pk, message.last_error, extra={"outbox_status": message.status})
    return message


def deliver_queued_messages(*, organisation_id: int | None, batch: int = 500) -> int:
    """Deliver the organisation's queued, due messages, oldest first; return how many were sent.

    Enqueued once after a batch's commit (queue_emails) instead of with every
    message's id. Each message is taken by deliver_message, which re-checks it
    under its row lock, so a message another worker (or a second run of this)
    holds is sent once; the pk cursor visits each message once, so one that
    failed and waits for its retry is left to the sweep.
    """
    sent, after = 0, 0
    while True:
        due = list(OutboxMessage.objects.filter(
            organisation_id=organisation_id, status=Status.QUEUED, next_attempt_at__lte=timezone.now(), pk__gt=after,
        ).order_by("pk").values_list("pk", flat=True)[:batch])
        if not due:
            return sent
        sent += sum(deliver_message(message_id=pk).status == Status.SENT for pk in due)
        after = due[-1]


@transaction.atomic
def _record_sent(*, message_id: int) -> OutboxMessage:
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    if message.status != Status.SENT:
        # Even if the sweep re-queued it meanwhile: it has gone, so it must not go again.
        message.status = Status.SENT
        message.sent_at = timezone.now()
        message.next_attempt_at = None
        message.claimed_at = None
        message.save(update_fields=["status", "sent_at", "next_attempt_at", "claimed_at"])
    return message


@transaction.atomic
def _record_failure(*, message_id: int, error: BaseException) -> OutboxMessage:
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    message.last_error = f"{type(error).__name__}: {error}"[:ERROR_MAX_CHARS]
    message.claimed_at = None
    if message.status == Status.SENDING:
        _schedule_retry_or_give_up(message, timezone.now())
    message.save(update_fields=["last_error", "claimed_at", "status", "next_attempt_at"])
    logger.warning(
        "Email %s not sent (attempt %s): %s", message.pk, message.attempts, message.last_error,
        extra={"outbox_status": message.status},
    )
    return message


def _schedule_retry_or_give_up(message: OutboxMessage, now: Any) -> None:
    if message.attempts >= MAX_ATTEMPTS:
        message.status = Status.FAILED
        message.next_attempt_at = None
    else:
        message.status = Status.QUEUED
        message.next_attempt_at = now + RETRY_DELAYS[max(message.attempts, 1) - 1]


def retry_due_messages(*, limit: int = 200) -> dict[str, int]:
    """Send what is due and recover what is stuck; the periodic sweep's one call.

    A message left `sending` for STUCK_AFTER (the worker died between claim and
    send) counts that attempt and goes back to the queue, or to failed when it
    has had its attempts. Queued messages whose time has come are then sent,
    oldest first, at most `limit` per run; that also covers messages whose
    after-commit task was lost.

    When more than `limit` are due, the rest is handed to a delivery task per
    organisation (deliver_queued_task), unless more than `limit` of its
    messages went out within DRAIN_IDLE, which says a task is already sending
    them (a slow one may get a second task: harmless, see below): a collection
    run's 100,000 pre-notifications whose task was lost would otherwise take
    the sweep 42 hours at 200 every five minutes. A second task for the same
    organisation would still send each message once (the claim under the row
    lock); it is only spared.
    """
    now = timezone.now()
    requeued = 0
    with transaction.atomic():
        stuck = OutboxMessage.objects.select_for_update().filter(
            status=Status.SENDING, claimed_at__lte=now - STUCK_AFTER
        )
        for message in stuck:
            message.last_error = "Interrupted while sending; the server may or may not have received it."
            message.claimed_at = None
            _schedule_retry_or_give_up(message, now)
            if message.status == Status.QUEUED:
                message.next_attempt_at = now
                requeued += 1
            message.save(update_fields=["last_error", "claimed_at", "status", "next_attempt_at"])
    queued = OutboxMessage.objects.filter(status=Status.QUEUED, next_attempt_at__lte=now)
    due = list(queued.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit + 1])
    # Read before this sweep sends anything, so that its own sends do not count as a task at work.
    backlog = _idle_backlogs(queued, now, limit) if len(due) > limit else []
    due = due[:limit]
    outcomes = Counter(deliver_message(message_id=pk).status for pk in due)
    for organisation_id in backlog:
        _enqueue_organisation_delivery(organisation_id)
    return {
        "requeued": requeued,
        "attempted": len(due),
        "sent": outcomes[Status.SENT],
        "retrying": outcomes[Status.QUEUED],
        "failed": outcomes[Status.FAILED],
        "handed_off": len(backlog),
    }


def _idle_backlogs(queued: models.QuerySet[OutboxMessage], now: Any, limit: int) -> list[int | None]:
    """The organisations with due messages of which at most `limit` were sent within DRAIN_IDLE.

    More than `limit` says a task is at work: the previous sweep sent at most
    `limit` in all, and it ran about DRAIN_IDLE ago, so its sends (taking
    seconds, after its start) are still inside the window; a test on "any
    message sent" took them for a task and never handed the backlog off again.
    Nor do an organisation's everyday mails, a few a minute, hide a lost backlog.
    """
    waiting = set(queued.order_by().values_list("organisation_id", flat=True).distinct())
    busy = set(OutboxMessage.objects.filter(status=Status.SENT, sent_at__gte=now - DRAIN_IDLE)
               .order_by().values("organisation_id").annotate(sent=models.Count("pk")).filter(sent__gt=limit)
               .values_list("organisation_id", flat=True))
    return sorted(waiting - busy, key=lambda pk: (pk is None, pk or 0))


# --- staff actions -----------------------------------------------------------------------------


@transaction.atomic
def resend_message(*, message_id: int, by: Any) -> OutboxMessage:
    """Put a failed message back in the queue with a fresh set of attempts; send it after commit.

    Only failed messages: one that was sent is never sent again, and one still
    queued or sending is already on its way.
    """
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    if message.status != Status.FAILED:
        raise MessageNotFailed(outbox_id=message.pk, status=message.get_status_display())
    message.status = Status.QUEUED
    message.attempts = 0
    message.next_attempt_at = timezone.now()
    message.save(update_fields=["status", "attempts", "next_attempt_at"])
    record_event(message, "email.resend", by=by, data={"last_error": message.last_error})
    _deliver_after_commit(message.pk)
    return message


@transaction.atomic
def copy_default_template(*, template_id: int, organisation: Organisation, by: Any) -> EmailTemplate:
    """Give an organisation its own editable copy of a built-in template, or return the one it has."""
    source = EmailTemplate.objects.get(pk=template_id)
    if not source.is_default:
        raise NotADefaultTemplate(template=str(source))
    copy, created = EmailTemplate.objects.get_or_create(
        organisation=organisation,
        code=source.code,
        language=source.language,
        defaults={"subject": source.subject, "body_text": source.body_text, "body_html": source.body_html},
    )
    if created:
        record_event(copy, "email_template.copy", by=by, data={"from": source.pk})
    return copy
