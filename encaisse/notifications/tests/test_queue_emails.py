"""Many emails of one template queued at once (a collection run's pre-notifications): the outbox's guarantees
hold as for queue_email — rendered now in each one's language, one per key, nothing if the fact rolls back."""

from datetime import date

import pytest
from django.db import transaction

from encaisse.core.money import Money
from encaisse.notifications.errors import InvalidRecipient
from encaisse.notifications.models import OutboxMessage
from encaisse.notifications.services import EmailToQueue, queue_email, queue_emails


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
    by_to = {m.to: m for m in OutboxMessage.objects.all()}
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

