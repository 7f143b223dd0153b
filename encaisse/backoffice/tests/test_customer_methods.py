"""A customer's saved methods in the back office: listed with their consent, made default, revoked with a reason."""


import pytest
from django.urls import reverse

from encaisse.core.audit import AuditEvent
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.parties.models import Customer
from encaisse.payments.models import SavedMethod
from encaisse.payments.providers.sandbox.tests.helpers import keep_card, sandbox_account


@pytest.fixture
def sandbox(org):
    return sandbox_account(org)


@pytest.fixture
def cards(org, customer, clerk, sandbox):
    first = keep_card(customer, posted_invoice(org, customer, clerk).receivable_line, sandbox, expiry=(9, 2031))
    second = keep_card(customer, posted_invoice(org, customer, clerk, "10.00").receivable_line, sandbox,
                       "4000 0000 0000 0341")
    return first, second


def url(customer) -> str:
    return reverse("staff:customer_methods", args=[customer.pk])


@pytest.mark.django_db
def test_the_page_lists_each_method_with_its_consent(staff, customer, cards, sandbox):
    first, _second = cards

    page = staff.get(url(customer))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Visa •••• 4242" in html
    assert "Visa •••• 0341" in html
    assert "09/2031" in html
    assert "€60.00" in html  # the payment it was kept with
    assert sandbox.name in html
    assert first.consent_text in html
    assert "203.0.113.7" in html
    assert "(default)" in html
    assert reverse("admin:payments_paymentattempt_change", args=[first.source_attempt_id]) in html


@pytest.mark.django_db
def test_make_default_moves_the_default_and_says_so(staff, customer, cards, clerk):
    first, second = cards

    done = staff.post(url(customer), {"method": second.pk, "action": "default"}, follow=True)

    assert "•••• 0341 is now the default method of Jeanne Martin" in done.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert AuditEvent.objects.get(verb="method_made_default").by == clerk


@pytest.mark.django_db
def test_revoke_asks_for_a_reason_then_revokes(staff, customer, cards, clerk):
    first, _second = cards

    confirm = staff.get(url(customer), {"revoke": first.pk})
    assert 'id="revoke-form"' in confirm.content.decode()
    no_reason = staff.post(url(customer), {"method": first.pk, "action": "revoke", "reason": " "})
    assert no_reason.status_code == 400
    assert "say why it is revoked" in no_reason.content.decode()
    first.refresh_from_db()
    assert first.status == "active"

    done = staff.post(url(customer), {"method": first.pk, "action": "revoke", "reason": "Customer's letter of 3 March"},
                      follow=True)

    assert "•••• 4242 was revoked: it will not be charged again" in done.content.decode()
    first.refresh_from_db()
    assert (first.status, first.is_default, first.revoked_reason) == ("revoked", False,
                                                                      "Customer's letter of 3 March")
    event = AuditEvent.objects.get(verb="method_revoked")
    assert (event.by, event.data["reason"]) == (clerk, "Customer's letter of 3 March")


@pytest.mark.django_db
def test_changes_need_the_csrf_token(client, clerk, customer, cards):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(clerk)
    first, _second = cards

    assert strict.post(url(customer), {"method": first.pk, "action": "revoke", "reason": "x"}).status_code == 403
    first.refresh_from_db()
    assert first.status == "active"


@pytest.mark.django_db
def test_another_organisations_customer_and_another_customers_method_are_404(staff, org, clerk, customer, cards,
                                                                                other_customer):
    first, _second = cards
    someone = Customer.objects.create(organisation=org, ref="C-9", name="Someone")

    assert staff.get(url(other_customer)).status_code == 404
    assert staff.post(url(other_customer), {"method": first.pk, "action": "revoke", "reason": "x"}).status_code == 404
    assert staff.get(url(someone), {"revoke": first.pk}).status_code == 404
    assert staff.post(url(someone), {"method": first.pk, "action": "revoke", "reason": "x"}).status_code == 404
    assert SavedMethod.objects.filter(status="revoked").count() == 0
