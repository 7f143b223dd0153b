"""Many emails of one template queued at once (a collection run's pre-notifications): the outbox's guarantees
hold as for queue_email — one per key, nothing if the fact rolls back — except that each message keeps its
context and is rendered, in its language, when it is delivered."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction

from encaisse.core.money import Money
from encaisse.notifications.errors import InvalidRecipient, UnknownTemplate
from encaisse.notifications.models import EmailTemplate, OutboxMessage
from encaisse.notifications.services import (
    EmailToQueue,
    deliver_message,
    queue_email,
    queue_emails,
    render_pending,
)
from encaisse.parties.models import Customer


def context(name, minor):
    return {"invoice_number": f"F-{name}", "amount": Money(minor, "EUR"), "due_date": date(2026, 4, 15),
            "customer_name": name}


def email(name, minor=12540, language="fr", key=None):
    return EmailToQueue(to=f"{name.lower()}@example.org", context=context(name, minor), language=language,
                        idempotency_key=key or f"test:{name}")


@pytest.mark.django_db
def test_each_message_is_rendered_in_its_language_with_its_own_context(org):
    queued = queue_emails(organisation=org, template_code="invoice_issued",
                          emails=[email("Alice", 12540, "fr"), email("Bob", 990, "en"), email("Chloe", 100, "fr")])

    assert queued == 3
    assert not any(m.is_rendered or m.subject or m.body_text for m in OutboxMessage.objects.all())
    by_to = {m.to: render_pending(m) for m in OutboxMessage.objects.all()}
    alice, bob = by_to["alice@example.org"], by_to["bob@example.org"]
    assert (alice.language, bob.language) == ("fr", "en")
    assert "F-Alice" in alice.body_text
    assert "125,40" in alice.body_text
    assert "F-Bob" in bob.body_text
    assert "€9.90" in bob.body_text
    assert "F-Chloe" in by_to["chloe@example.org"].body_text
    assert alice.subject != bob.subject
    assert {m.status for m in by_to.values()} == {OutboxMessage.Status.QUEUED}
    # The same as queue_email would have written.
    single = queue_email(organisation=org, template_code="invoice_issued", to="alice@example.org",
                         context=context("Alice", 12540), language="fr", idempotency_key="single")
    assert (single.subject, single.body_text, single.body_html) == (alice.subject, alice.body_text,
                                                                    alice.body_html)


@pytest.mark.django_db
def test_a_key_already_queued_is_not_queued_again(org):
    queue_email(organisation=org, template_code="invoice_issued", to="alice@example.org",
                context=context("Alice", 100), idempotency_key="test:Alice")

    queued = queue_emails(organisation=org, template_code="invoice_issued",
                          emails=[email("Alice"), email("Bob"), email("Bob")])

    assert queued == 1
    assert sorted(OutboxMessage.objects.values_list("idempotency_key", flat=True)) == ["test:Alice", "test:Bob"]


@pytest.mark.django_db(transaction=True)
def test_nothing_is_queued_when_the_fact_rolls_back_or_a_recipient_is_invalid(org):
    def fact_that_fails():
        with transaction.atomic():
            queue_emails(organisation=org, template_code="invoice_issued", emails=[email("Alice")])
            raise RuntimeError("the fact failed")

    with pytest.raises(RuntimeError):
        fact_that_fails()
    with pytest.raises(InvalidRecipient):
        queue_emails(organisation=org, template_code="invoice_issued",
                     emails=[email("Alice"), EmailToQueue(to="not an address", context=context("X", 1),
                                                          idempotency_key="test:X")])

    assert OutboxMessage.objects.count() == 0



@pytest.mark.django_db
def test_a_batch_message_is_rendered_when_delivered_once_and_keeps_what_was_sent(
    org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queue_emails(organisation=org, template_code="invoice_issued",
                     emails=[email("Alice", 12540, "fr"), email("Bob", 123456, "en")])
        waiting = list(OutboxMessage.objects.order_by("pk"))
        assert [(m.is_rendered, m.subject, m.body_text, m.body_html) for m in waiting] == [(False, "", "", "")] * 2
        assert [m.language for m in waiting] == ["fr", "en"]  # resolved when queued

    alice, bob = OutboxMessage.objects.order_by("pk")
    assert [m.status for m in (alice, bob)] == [OutboxMessage.Status.SENT] * 2
    assert alice.is_rendered
    assert bob.is_rendered
    assert "125,40" in alice.body_text
    assert "15 avril 2026" in alice.body_text
    assert "€1,234.56" in bob.body_text
    assert "April 15, 2026" in bob.body_text
    assert bob.subject == "Pressing du Centre: invoice F-Bob"
    sent = {message.to[0]: message for message in mail.outbox}
    assert len(mail.outbox) == 2
    assert (sent["bob@example.org"].subject, sent["bob@example.org"].body) == (bob.subject, bob.body_text)

    # What went out stays on the row: a template changed afterwards re-renders nothing, and nothing goes twice.
    EmailTemplate.objects.create(organisation=org, code="invoice_issued", language="en", subject="Changed",
                                 body_text="Changed")
    assert deliver_message(message_id=bob.pk).subject == bob.subject
    assert render_pending(bob).body_text == bob.body_text
    bob.refresh_from_db()
    assert (bob.subject, len(mail.outbox)) == ("Pressing du Centre: invoice F-Bob", 2)


@pytest.mark.django_db
def test_a_batch_message_is_rendered_with_the_template_in_force_when_it_is_sent(org):
    queue_emails(organisation=org, template_code="invoice_issued", emails=[email("Alice", 990, "fr")])
    EmailTemplate.objects.create(organisation=org, code="invoice_issued", language="fr",
                                 subject="Votre facture {{ invoice_number }}", body_text="Montant : {{ amount }}")

    message = deliver_message(message_id=OutboxMessage.objects.get().pk)

    assert message.status == OutboxMessage.Status.SENT
    assert (message.subject, message.body_text) == ("Votre facture F-Alice", "Montant : 9,90\xa0€")
    assert mail.outbox[0].body == "Montant : 9,90\xa0€"


@pytest.mark.django_db
def test_a_message_that_cannot_be_rendered_fails_with_the_reason_and_is_not_sent(org):
    # An organisation's own kind of email, whose only template is deleted before the message goes.
    template = EmailTemplate.objects.create(organisation=org, code="own_notice", language="fr",
                                            subject="{{ invoice_number }}", body_text="{{ amount }}")
    queue_emails(organisation=org, template_code="own_notice", emails=[email("Alice")])
    template.delete()

    message = deliver_message(message_id=OutboxMessage.objects.get().pk)

    assert message.status == OutboxMessage.Status.FAILED
    assert "own_notice" in message.last_error
    assert "could not be rendered" in message.last_error
    assert "UnknownTemplate" in message.last_error
    assert mail.outbox == []
    message.refresh_from_db()
    assert (message.status, message.subject, message.rendered_at, message.attempts) == ("failed", "", None, 0)
    with pytest.raises(UnknownTemplate):
        render_pending(message)


@pytest.mark.django_db
def test_the_related_record_may_be_given_as_its_class_and_pk(org, customer):
    queue_emails(organisation=org, template_code="invoice_issued", emails=[
        EmailToQueue(to="a@example.org", context=context("A", 1), idempotency_key="k:1",
                     related=(Customer, customer.pk)),
        EmailToQueue(to="b@example.org", context=context("B", 1), idempotency_key="k:2", related=customer)])

    first, second = OutboxMessage.objects.order_by("pk")
    assert first.related == customer
    assert (second.related_content_type_id, second.related_object_id) == (
        first.related_content_type_id, str(customer.pk))


@pytest.mark.django_db
def test_the_context_keeps_its_types_until_the_message_is_rendered(org):
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext_lazy

    from encaisse.notifications.context import ContextEncoder, decode_context

    when = datetime(2026, 4, 15, 9, 30, tzinfo=UTC)
    original = {"amount": Money(12540, "EUR"), "on": date(2026, 4, 15), "at": when, "rate": Decimal("1.50"),
                "html": mark_safe("<b>x</b>"), "n": 3, "none": None, "items": [Money(1, "EUR"), "a"],
                "tagged": {"$money": "not a tag"}, "nested": {"a": date(2026, 1, 2)}, "label": gettext_lazy("French")}

    decoded = decode_context(ContextEncoder("fr").encode(original))

    assert decoded == {**original, "label": "Français"}
    assert type(decoded["rate"]) is Decimal
    assert str(decoded["rate"]) == "1.50"
    assert type(decoded["html"]).__name__ == "SafeString"
    assert decoded["at"].utcoffset() == when.utcoffset()


@pytest.mark.django_db
def test_a_context_value_that_cannot_be_kept_is_refused_before_anything_is_written(org, customer):
    with pytest.raises(TypeError, match="Customer"):
        queue_emails(organisation=org, template_code="invoice_issued",
                     emails=[email("Alice"), EmailToQueue(to="b@example.org", context={"customer": customer},
                                                          idempotency_key="k")])

    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["a..b@example.org", ".a@example.org", "a@-example.org", "a@example",
                                     "a@example.o", "a b@example.org", "a@exa_mple.org", "@example.org",
                                     "a@example..org", "a@example.org-"])
def test_an_invalid_address_is_refused_in_a_batch(org, address):
    with pytest.raises(InvalidRecipient):
        queue_emails(organisation=org, template_code="invoice_issued",
                     emails=[email("Alice"), EmailToQueue(to=address, context=context("X", 1), idempotency_key="k")])

    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("address", "kept"), [
    ("jeanne.martin+cantine@mairie-bourg.example.fr", "jeanne.martin+cantine@mairie-bourg.example.fr"),
    ("  jeanne@example.org ", "jeanne@example.org"),
    ('"Martin, Jeanne" <jeanne@example.org>', '"Martin, Jeanne" <jeanne@example.org>'),
    ("o'brien@example.org", "o'brien@example.org"),
    ("jeanne@électricité.fr", "jeanne@électricité.fr"),
])
def test_valid_addresses_are_kept_as_queue_email_keeps_them(org, address, kept):
    queue_emails(organisation=org, template_code="invoice_issued",
                 emails=[EmailToQueue(to=address, context=context("X", 1), idempotency_key="k")])

    assert OutboxMessage.objects.get().to == kept


@pytest.mark.django_db
def test_rendering_a_stale_copy_keeps_the_text_that_was_sent(org):
    queue_emails(organisation=org, template_code="invoice_issued", emails=[email("Bob", 990, "en")])
    stale = OutboxMessage.objects.get()
    sent = deliver_message(message_id=stale.pk)
    EmailTemplate.objects.create(organisation=org, code="invoice_issued", language="en", subject="Changed",
                                 body_text="Changed")

    assert render_pending(stale).subject == sent.subject
    stale.refresh_from_db()
    assert (stale.subject, stale.body_text, stale.rendered_at) == (sent.subject, sent.body_text, sent.rendered_at)
