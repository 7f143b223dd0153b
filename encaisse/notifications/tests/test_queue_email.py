from datetime import date

import pytest
from django.core import mail
from django.db import transaction

from encaisse.core.money import Money
from encaisse.notifications.errors import InvalidRecipient, NoRecipient, UnknownTemplate
from encaisse.notifications.models import EmailTemplate, OutboxMessage
from encaisse.notifications.services import queue_email
from encaisse.parties.models import Organisation


def invoice_context(customer):
    return {
        "invoice_number": "F-2026-00042",
        # 2 × 52.25 + VAT 20 % (20.90) = 125.40
        "amount": Money(12540, "EUR"),
        "due_date": date(2026, 4, 15),
        "customer_name": customer.name,
    }


def queue_invoice_mail(org, customer, **extra):
    return queue_email(
        organisation=org,
        template_code="invoice_issued",
        to=customer.email,
        context=invoice_context(customer),
        **{"language": customer.language, **extra},
    )


class Boom(Exception):
    pass


def queue_then_fail(org, customer, **extra):
    """A business transaction that queues its mail, then fails on something else."""
    with transaction.atomic():
        queue_invoice_mail(org, customer, **extra)
        raise Boom


@pytest.mark.django_db
def test_a_mail_queued_in_a_transaction_that_rolls_back_is_never_sent(
    org, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom):
        queue_then_fail(org, customer)

    assert callbacks == []
    assert mail.outbox == []
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_after_commit_the_mail_is_sent_exactly_once(org, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = queue_invoice_mail(org, customer)
        assert mail.outbox == []  # nothing leaves before the fact is committed

    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["jeanne@example.org"]
    assert sent.subject == "Pressing du Centre : facture F-2026-00042"
    assert "d'un montant de 125,40\u00a0€, à régler au plus tard le 15 avril 2026" in sent.body
    assert sent.from_email.startswith("Pressing du Centre <")


@pytest.mark.django_db(transaction=True)
def test_with_real_commits_a_rollback_sends_nothing_and_a_commit_sends_once(org, customer):
    with pytest.raises(Boom):
        queue_then_fail(org, customer, idempotency_key="invoice:1:sent")
    assert mail.outbox == []

    with transaction.atomic():
        queue_invoice_mail(org, customer, idempotency_key="invoice:1:sent")

    assert len(mail.outbox) == 1
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.SENT


@pytest.mark.django_db
def test_the_same_business_event_queues_one_mail(org, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = queue_invoice_mail(org, customer, idempotency_key="invoice:42:sent")
        again = queue_invoice_mail(org, customer, idempotency_key="invoice:42:sent")

    assert again.pk == first.pk
    assert OutboxMessage.objects.count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_the_same_key_in_another_organisation_is_another_mail(org, customer, django_capture_on_commit_callbacks):
    other = Organisation.objects.create(name="Mairie de Bourg", slug="bourg")
    queue_invoice_mail(org, customer, idempotency_key="invoice:42:sent")
    queue_invoice_mail(other, customer, idempotency_key="invoice:42:sent")

    assert OutboxMessage.objects.count() == 2


@pytest.mark.django_db
def test_the_organisations_own_template_overrides_the_built_in_one(org, customer):
    EmailTemplate.objects.create(
        organisation=org, code="invoice_issued", language="fr",
        subject="Votre note {{ invoice_number }} & merci",
        body_text="Total : {{ amount }} <à payer>",
    )

    message = queue_invoice_mail(org, customer)

    assert message.subject == "Votre note F-2026-00042 & merci"  # text: not HTML-escaped
    assert message.body_text == "Total : 125,40\u00a0€ <à payer>"


@pytest.mark.django_db
def test_another_organisations_template_is_not_used(org, customer):
    other = Organisation.objects.create(name="Mairie de Bourg", slug="bourg")
    EmailTemplate.objects.create(organisation=other, code="invoice_issued", language="fr",
                                 subject="Mairie", body_text="Mairie")

    message = queue_invoice_mail(org, customer)

    assert message.subject == "Pressing du Centre : facture F-2026-00042"


@pytest.mark.django_db
def test_an_english_customer_gets_the_english_template(org, customer):
    customer.language = "en"

    message = queue_invoice_mail(org, customer)

    assert message.language == "en"
    assert message.subject == "Pressing du Centre: invoice F-2026-00042"
    assert "for €125.40, due on April 15, 2026." in message.body_text


@pytest.mark.django_db
def test_a_template_missing_in_english_falls_back_to_french(org, customer):
    EmailTemplate.objects.create(organisation=org, code="welcome", language="fr",
                                 subject="Bienvenue", body_text="Bienvenue chez {{ organisation.name }}")

    message = queue_email(organisation=org, template_code="welcome", to=customer.email, context={}, language="en")

    assert message.language == "fr"
    assert message.body_text == "Bienvenue chez Pressing du Centre"


@pytest.mark.django_db
def test_without_a_language_the_organisations_language_is_used(org, customer):
    org.language = "en"

    message = queue_email(organisation=org, template_code="generic", to=customer.email,
                          context={"subject": "Closed on Monday", "body": "See you on Tuesday."})

    assert message.language == "en"
    assert message.subject == "Closed on Monday"
    assert message.body_text.startswith("See you on Tuesday.")


@pytest.mark.django_db
def test_an_unknown_template_is_refused_and_nothing_is_queued(org, customer):
    with pytest.raises(UnknownTemplate, match="no email template nope"):
        queue_email(organisation=org, template_code="nope", to=customer.email, context={})

    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
def test_a_mail_needs_a_valid_recipient(org):
    with pytest.raises(NoRecipient):
        queue_email(organisation=org, template_code="generic", to=["", " "], context={})
    with pytest.raises(InvalidRecipient, match="jeanne@ is not a valid email address"):
        queue_email(organisation=org, template_code="generic", to="jeanne@", context={})


@pytest.mark.django_db
def test_the_message_remembers_what_caused_it_and_who_is_copied(org, customer):
    message = queue_invoice_mail(org, customer, related=customer,
                                 cc=["compta@example.org", "jeanne@example.org"])

    assert message.related == customer
    assert message.cc_list == ["compta@example.org"]  # the recipient is not copied to herself


@pytest.mark.django_db
def test_a_newline_in_the_context_cannot_add_a_mail_header(org, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = queue_email(organisation=org, template_code="generic", to=customer.email,
                              context={"subject": "Hello\nBcc: victim@example.org", "body": "x"})

    assert message.subject == "Hello Bcc: victim@example.org"
    assert mail.outbox[0].bcc == []
