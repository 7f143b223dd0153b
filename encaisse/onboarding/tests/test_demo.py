from datetime import date

import pytest
from django.contrib.auth import authenticate

from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import display_status
from encaisse.invoicing.verify import verify_numbering
from encaisse.ledger.models import Entry
from encaisse.ledger.verify import verify_ledger
from encaisse.onboarding.demo import load_demo
from encaisse.parties.models import Customer, Membership, Organisation
from encaisse.sepa.models import Mandate

TODAY = date(2026, 5, 20)


def _counts() -> tuple[int, ...]:
    return (Organisation.objects.count(), Customer.objects.count(), Invoice.objects.count(),
            Entry.objects.count(), Mandate.objects.count(), Membership.objects.count())


@pytest.mark.django_db
def test_the_demo_has_two_organisations_with_logins_that_work():
    demo = load_demo(today=TODAY)

    assert demo.slug == "demo"
    assert set(Organisation.objects.values_list("slug", flat=True)) == {"demo", "mairie"}
    user = authenticate(username="demo", password="demo")
    assert user is not None
    assert user.is_staff
    assert not user.is_superuser
    assert Membership.objects.get(user=user).organisation == demo
    agent = authenticate(username="agent", password="agent")
    assert Membership.objects.get(user=agent).organisation.slug == "mairie"
    town = Organisation.objects.get(slug="mairie")
    assert town.invoice_types.get(code="CANTINE").regie.name == "Régie cantine"
    assert town.invoice_types.filter(name="Périscolaire").exists()


@pytest.mark.django_db
def test_the_demo_shows_overdue_credited_open_and_draft_invoices_and_verifies():
    demo = load_demo(today=TODAY)

    statuses = [display_status(i, today=TODAY) for i in Invoice.objects.filter(organisation=demo)]
    for status in ("overdue", "to_pay", "credited", "credit_note", "draft"):
        assert status in statuses
    assert Customer.objects.filter(organisation=demo).count() >= 12
    assert Customer.objects.filter(organisation=demo, language="en").exists()
    assert Customer.objects.filter(organisation=demo, kind=Customer.Kind.COMPANY).exists()
    assert Entry.objects.filter(organisation=demo, idempotency_key__startswith="opening:").count() == 4
    for organisation in Organisation.objects.all():
        assert verify_ledger(organisation).ok
        assert verify_numbering(organisation).ok


@pytest.mark.django_db
def test_loading_the_demo_twice_changes_nothing():
    first = load_demo(today=TODAY)
    before = _counts()

    again = load_demo(today=date(2026, 6, 1))

    assert again == first
    assert _counts() == before
