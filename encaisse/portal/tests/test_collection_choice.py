"""The portal's "Automatic collection" form: a card, the current mandate or nothing; own records only."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from encaisse.core.audit import events_for
from encaisse.parties.models import Customer
from encaisse.payments.models import SavedMethod, SavedMethodStatus
from encaisse.sepa.models import Mandate

from .helpers import sign_in_as

CollectBy = Customer.CollectBy
COMPACT = "FR7630006000011234567890189"


@pytest.fixture
def creditor(org):
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    return org


@pytest.fixture
def signed_in(client, customer):
    return sign_in_as(client, customer)


def card(customer, account, token, *, default=False, status=SavedMethodStatus.ACTIVE) -> SavedMethod:
    return SavedMethod.objects.create(
        organisation=customer.organisation, customer=customer, provider_account=account, token=token,
        brand="visa", last4=token[-4:], exp_month=12, exp_year=2030, is_default=default, status=status,
        consent_text="I allow…", consent_at=timezone.now() - timedelta(days=1))


def mandate(customer, reference, status=Mandate.Status.ACTIVE) -> Mandate:
    return Mandate.objects.create(organisation=customer.organisation, customer=customer, reference=reference,
                                  iban=COMPACT, signed_on=timezone.localdate(), status=status)


def choose(client, value, **extra):
    return client.post(reverse("portal:collect_by"), {"collect": value}, follow=True, **extra)


def collect_by(customer) -> str:
    customer.refresh_from_db(fields=["collect_by"])
    return customer.collect_by


def test_the_form_offers_each_active_card_the_current_mandate_and_nothing_with_the_choice_checked(
        signed_in, customer, sandbox, creditor):
    default = card(customer, sandbox, "pm_4242", default=True)
    card(customer, sandbox, "pm_0000", status=SavedMethodStatus.REVOKED)
    current = mandate(customer, "UMR-JEANNE")
    mandate(customer, "UMR-OLD", status=Mandate.Status.REVOKED)
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.CARD)

    html = signed_in.get(reverse("portal:methods")).content.decode()

    assert "<legend>" in html
    assert f'<label for="collect-card-{default.pk}">Visa •••• 4242, expires 12/2030</label>' in html
    assert f'value="card:{default.pk}" checked' in html
    assert "collect-card-" + str(SavedMethod.objects.get(token="pm_0000").pk) not in html
    assert f'<label for="collect-mandate-{current.pk}">Direct debit from FR76 •••• 0189, mandate UMR-JEANNE</label>' \
        in html
    assert "mandate UMR-OLD" not in html
    assert "Do not collect automatically — I pay each invoice myself" in html
    assert 'value="nothing" checked' not in html
    assert "Make default" not in html
    assert "Add a card" in html


def test_nothing_chosen_is_checked_by_default(signed_in, customer, sandbox):
    card(customer, sandbox, "pm_4242", default=True)
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.NOTHING)

    html = signed_in.get(reverse("portal:methods")).content.decode()

    assert 'value="nothing" checked' in html
    assert " checked" not in html.replace('value="nothing" checked', "")


def test_choosing_a_card_makes_it_the_default_and_says_so(signed_in, customer, sandbox):
    first, second = card(customer, sandbox, "pm_4242", default=True), card(customer, sandbox, "pm_5556")

    done = choose(signed_in, f"card:{second.pk}")

    assert "Your invoices will be charged to Visa •••• 5556 when they fall due." in done.content.decode()
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert collect_by(customer) == CollectBy.CARD
    event = events_for(customer).get(verb="collection_method_changed")
    assert (event.origin, event.by) == ("portal", None)


def test_choosing_the_mandate_then_nothing(signed_in, customer, sandbox, creditor):
    card(customer, sandbox, "pm_4242", default=True)
    current = mandate(customer, "UMR-JEANNE")

    done = choose(signed_in, f"mandate:{current.pk}")
    assert "collected by direct debit from FR76 •••• 0189" in done.content.decode()
    assert collect_by(customer) == CollectBy.DIRECT_DEBIT
    assert f'value="mandate:{current.pk}" checked' in done.content.decode()

    done = choose(signed_in, "nothing")
    assert "you pay each one yourself" in done.content.decode()
    assert collect_by(customer) == CollectBy.NOTHING


@pytest.mark.parametrize("value", ["", "bogus", "card"])
def test_an_empty_or_unknown_choice_says_so_and_changes_nothing(signed_in, customer, value):
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.DIRECT_DEBIT)

    done = choose(signed_in, value)

    assert done.status_code in (200, 404)
    assert collect_by(customer) == CollectBy.DIRECT_DEBIT


def test_an_empty_choice_asks_to_choose(signed_in, customer):
    done = choose(signed_in, "")

    assert '<p role="alert">Choose how your invoices are collected.</p>' in done.content.decode()


def test_a_refused_choice_shows_the_reason_and_changes_nothing(signed_in, customer, sandbox):
    removed = card(customer, sandbox, "pm_4242", status=SavedMethodStatus.REVOKED)

    done = choose(signed_in, f"card:{removed.pk}")

    assert '<p role="alert">This collection method cannot be chosen: the card is Revoked' in done.content.decode()
    assert collect_by(customer) == CollectBy.NOTHING
    assert not events_for(customer).filter(verb="collection_method_changed").exists()


def test_another_customers_card_or_mandate_is_not_found_and_logged(signed_in, customer, neighbour, stranger,
                                                                    sandbox, creditor, caplog):
    theirs = card(neighbour, sandbox, "pm_1881", default=True)
    their_mandate = mandate(neighbour, "UMR-PAUL")
    far_mandate = mandate(stranger, "UMR-LUC")
    mine = card(customer, sandbox, "pm_4242", default=True)

    with caplog.at_level(logging.WARNING, logger="encaisse.portal"):
        answers = [signed_in.post(reverse("portal:collect_by"), {"collect": value}).status_code
                   for value in (f"card:{theirs.pk}", f"mandate:{their_mandate.pk}", f"mandate:{far_mandate.pk}",
                                 "card:x1")]

    assert answers == [404, 404, 404, 404]
    assert len([r for r in caplog.records if r.name == "encaisse.portal"]) == 4
    assert "Paul" not in caplog.text
    theirs.refresh_from_db()
    mine.refresh_from_db()
    assert (theirs.is_default, mine.is_default) == (True, True)
    assert collect_by(customer) == CollectBy.NOTHING
    assert collect_by(neighbour) == CollectBy.NOTHING


def test_the_form_needs_a_signed_in_customer_and_a_post(client, signed_in):
    assert signed_in.get(reverse("portal:collect_by")).status_code == 405
    client.logout()
    answer = client.post(reverse("portal:collect_by"), {"collect": "nothing"})
    assert answer.status_code == 302
    assert reverse("portal:sign_in") in answer["Location"]
