"""The collection choice on a customer's methods page: shown with whether it is usable, changed by staff, audited."""

import pytest
from django.urls import reverse
from django.utils import timezone

from encaisse.core.audit import events_for
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.parties.models import Customer
from encaisse.payments.providers.sandbox.tests.helpers import keep_card, sandbox_account
from encaisse.sepa.models import Mandate

CollectBy = Customer.CollectBy


@pytest.fixture
def cards(org, customer, clerk):
    sandbox = sandbox_account(org)
    first = keep_card(customer, posted_invoice(org, customer, clerk).receivable_line, sandbox, expiry=(9, 2031))
    second = keep_card(customer, posted_invoice(org, customer, clerk, "10.00").receivable_line, sandbox,
                       "4000 0000 0000 0341")
    return first, second


def mandate(customer, reference="UMR-JEANNE") -> Mandate:
    return Mandate.objects.create(organisation=customer.organisation, customer=customer, reference=reference,
                                  iban="FR7630006000011234567890189", signed_on=timezone.localdate())


def url(customer) -> str:
    return reverse("staff:customer_methods", args=[customer.pk])


def collect_by(customer) -> str:
    customer.refresh_from_db(fields=["collect_by"])
    return customer.collect_by


@pytest.mark.django_db
def test_the_page_shows_the_choice_and_whether_it_is_usable(staff, org, customer, cards):
    first, _second = cards  # the first card kept made the customer collected by it

    html = staff.get(url(customer)).content.decode()

    assert "By the card Visa •••• 4242 — <strong>usable</strong>" in " ".join(html.split())
    assert f'value="card:{first.pk}" checked' in html

    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.DIRECT_DEBIT)
    html = " ".join(staff.get(url(customer)).content.decode().split())
    assert "<strong>not usable</strong>: the customer has no active direct-debit mandate" in html


@pytest.mark.django_db
def test_staff_change_the_choice_through_the_service_audited_with_their_name(staff, org, customer, cards, clerk):
    _first, second = cards
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    current = mandate(customer)

    done = staff.post(url(customer), {"action": "collect", "collect": f"mandate:{current.pk}"}, follow=True)

    assert "Jeanne Martin is now collected: by direct debit under mandate UMR-JEANNE" in done.content.decode()
    assert collect_by(customer) == CollectBy.DIRECT_DEBIT
    event = events_for(customer).filter(verb="collection_method_changed").last()
    assert (event.by, event.data["to"]) == (clerk, "direct_debit")

    staff.post(url(customer), {"action": "collect", "collect": f"card:{second.pk}"})
    second.refresh_from_db()
    assert (collect_by(customer), second.is_default) == (CollectBy.CARD, True)

    staff.post(url(customer), {"action": "collect", "collect": "nothing"})
    assert collect_by(customer) == CollectBy.NOTHING


@pytest.mark.django_db
def test_a_refused_or_missing_choice_says_why_and_changes_nothing(staff, org, customer, cards):
    older, _newer = mandate(customer, "UMR-OLD"), mandate(customer, "UMR-NEW")

    refused = staff.post(url(customer), {"action": "collect", "collect": f"mandate:{older.pk}"})
    missing = staff.post(url(customer), {"action": "collect"})

    assert refused.status_code == 400
    assert "UMR-OLD is replaced by UMR-NEW" in refused.content.decode()
    assert missing.status_code == 400
    assert "Choose how the customer is collected." in missing.content.decode()
    assert collect_by(customer) == CollectBy.CARD


@pytest.mark.django_db
def test_another_customers_card_or_mandate_is_404(staff, org, customer, cards):
    someone = Customer.objects.create(organisation=org, ref="C-9", name="Someone")
    theirs = mandate(someone, "UMR-SOMEONE")
    first, _second = cards

    assert staff.post(url(someone), {"action": "collect", "collect": f"card:{first.pk}"}).status_code == 404
    assert staff.post(url(customer), {"action": "collect", "collect": f"mandate:{theirs.pk}"}).status_code == 404
    assert staff.post(url(customer), {"action": "collect", "collect": "card:x"}).status_code == 404
    assert (collect_by(customer), collect_by(someone)) == (CollectBy.CARD, CollectBy.NOTHING)
