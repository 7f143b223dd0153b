"""The portal's payment methods: cards made default or removed, a SEPA mandate signed and revoked, own records only."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer
from encaisse.payments.models import ProviderAccount, SavedMethod, SavedMethodStatus
from encaisse.sepa.models import Mandate

from .helpers import sign_in_as

IBAN = "FR76 3000 6000 0112 3456 7890 189"
COMPACT = "FR7630006000011234567890189"
PAYER_IP = "198.51.100.23"


@pytest.fixture
def creditor(org):
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    return org


@pytest.fixture
def neighbour(org):
    return Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")


@pytest.fixture
def sandbox(org):
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code="pressing-sandbox",
                                          name="Carte (sandbox)")


@pytest.fixture
def signed_in(client, customer):
    return sign_in_as(client, customer)


def card(customer, account, token, *, default=False) -> SavedMethod:
    return SavedMethod.objects.create(
        organisation=customer.organisation, customer=customer, provider_account=account, token=token,
        brand="visa", last4=token[-4:], exp_month=12, exp_year=2030, is_default=default,
        consent_text="I allow…", consent_at=timezone.now() - timedelta(days=1))


def sign_form(client, **changes):
    data = {"holder_name": "Jeanne Martin", "iban": IBAN, "consent": "1"} | changes
    return client.post(reverse("portal:mandate_sign"), data, REMOTE_ADDR=PAYER_IP)


def test_the_page_lists_only_the_viewers_cards_and_mandates(signed_in, customer, neighbour, sandbox, creditor):
    card(customer, sandbox, "pm_4242", default=True)
    card(neighbour, sandbox, "pm_1881")
    Mandate.objects.create(organisation=creditor, customer=neighbour, reference="UMR-PAUL", iban=COMPACT,
                           signed_on=timezone.localdate())

    html = signed_in.get(reverse("portal:methods")).content.decode()

    assert "4242" in html
    assert "Default" in html
    assert "1881" not in html
    assert "UMR-PAUL" not in html
    assert "Keep this payment method for my next invoices" in html  # how to add a card: while paying


def test_signing_a_mandate_from_the_portal(signed_in, customer, creditor, django_capture_on_commit_callbacks):
    form = signed_in.get(reverse("portal:mandate_sign")).content.decode()
    assert "FR72ZZZ123456" in form
    assert "8 semaines" in form

    with django_capture_on_commit_callbacks(execute=True):
        done = signed_in.post(reverse("portal:mandate_sign"),
                              {"holder_name": "Jeanne Martin", "iban": IBAN, "consent": "1"}, REMOTE_ADDR=PAYER_IP,
                              follow=True)

    mandate = Mandate.objects.get(customer=customer)
    assert (mandate.signature_ip, mandate.source) == (PAYER_IP, Mandate.Source.PORTAL)
    assert mandate.signed_at is not None
    assert mandate.reference in mandate.text
    page = done.content.decode()
    assert mandate.reference in page
    assert "FR76 •••• 0189" in page
    assert COMPACT not in page
    assert IBAN not in page
    assert COMPACT not in signed_in.get(reverse("portal:methods")).content.decode()
    message = OutboxMessage.objects.get(template_code="mandate_signed")
    assert mandate.reference in message.body_text
    assert COMPACT not in message.body_text


@pytest.mark.parametrize(("changes", "shown"), [
    ({"iban": "FR76 3000 6000 0112 3456 7890 188"}, "FR76 •••• 0188 is not a valid IBAN"),
    ({"consent": ""}, "tick the box"),
])
def test_a_refused_signature_says_why_and_writes_nothing(signed_in, creditor, changes, shown):
    answer = sign_form(signed_in, **changes)

    assert answer.status_code == 400
    page = answer.content.decode()
    assert shown in page
    assert "3000600001123456789018" not in page
    assert Mandate.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_without_creditor_identifier_no_mandate_can_be_signed(signed_in, org):
    assert "cannot collect by direct debit yet" in signed_in.get(reverse("portal:mandate_sign")).content.decode()

    answer = sign_form(signed_in)

    assert answer.status_code == 400
    assert Mandate.objects.count() == 0
    assert OutboxMessage.objects.count() == 0


def test_revoking_a_mandate(signed_in, customer, creditor):
    sign_form(signed_in)
    mandate = Mandate.objects.get(customer=customer)

    signed_in.post(reverse("portal:mandate_revoke", args=[mandate.pk]))

    mandate.refresh_from_db()
    assert mandate.status == Mandate.Status.REVOKED
    assert mandate.revoked_reason == "revoked by the customer in the portal"


def test_making_a_card_default_and_removing_one(signed_in, customer, sandbox):
    first, second = card(customer, sandbox, "pm_4242", default=True), card(customer, sandbox, "pm_5556")

    signed_in.post(reverse("portal:collect_by"), {"collect": f"card:{second.pk}"})
    signed_in.post(reverse("portal:method_remove", args=[first.pk]))

    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_default
    assert not first.is_default
    assert first.status == SavedMethodStatus.REVOKED
    assert first.revoked_reason == "removed by the customer in the portal"


def test_another_customers_method_or_mandate_is_not_found_and_logged(signed_in, neighbour, sandbox, creditor,
                                                                      caplog):
    theirs = card(neighbour, sandbox, "pm_1881", default=True)
    mandate = Mandate.objects.create(organisation=creditor, customer=neighbour, reference="UMR-PAUL", iban=COMPACT,
                                     signed_on=timezone.localdate())

    with caplog.at_level(logging.WARNING, logger="encaisse.portal"):
        answers = [signed_in.post(reverse("portal:collect_by"), {"collect": f"card:{theirs.pk}"}).status_code,
                   signed_in.post(reverse("portal:method_remove", args=[theirs.pk])).status_code,
                   signed_in.post(reverse("portal:mandate_revoke", args=[mandate.pk])).status_code,
                   signed_in.get(reverse("portal:mandate_signed", args=[mandate.pk])).status_code]

    assert answers == [404, 404, 404, 404]
    theirs.refresh_from_db()
    mandate.refresh_from_db()
    assert theirs.status == SavedMethodStatus.ACTIVE
    assert mandate.status == Mandate.Status.ACTIVE
    assert len([r for r in caplog.records if r.name == "encaisse.portal"]) == 4
    assert "Paul" not in caplog.text


def test_the_pages_need_a_signed_in_customer(client):
    answer = client.get(reverse("portal:methods"))

    assert answer.status_code == 302
    assert reverse("portal:sign_in") in answer["Location"]
