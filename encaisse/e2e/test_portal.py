"""The customer portal in a real browser: sign in with the emailed one-time link, pay from the dashboard, sign a
direct-debit mandate, and find another customer's invoice closed (404)."""

import re
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.notifications.models import OutboxMessage
from encaisse.parties.models import Customer
from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account
from encaisse.sepa.models import Mandate
from encaisse.testing.browser import PHONE, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def invoice(org: Any, customer: Customer, clerk: Any) -> Invoice:
    sandbox_account(org)
    return posted_invoice(org, customer, clerk)  # 60.00 due


def sign_in_with_link(page: Any, email: str) -> None:
    """Ask for a link on the sign-in page, open the one the outbox holds, and confirm: the customer's own way in."""
    page.goto("/portal/sign-in/")
    page.locator("#link-email").fill(email)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("status")).to_contain_text("a sign-in link is on its way")
    body = OutboxMessage.objects.filter(template_code="portal_sign_in", to=email).latest("pk").body_text
    url = re.search(r"https?://\S+/portal/sign-in/link/\S+/", body).group(0)
    page.goto(url.removeprefix(settings.ENCAISSE_BASE_URL.rstrip("/")))  # the mail names the real site's address
    page.get_by_role("button", name="Open my account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_customer_signs_in_with_a_link_pays_from_the_dashboard_and_sees_the_invoice_paid(
        page: Any, live_server: Any, requests_made: Any, invoice: Invoice) -> None:
    page.set_viewport_size(PHONE)
    sign_in_with_link(page, "jeanne@example.org")
    expect(page.get_by_text("Jeanne Martin").first).to_be_visible()
    screenshot(page, "portal-dashboard.png")

    page.get_by_role("button", name=f"Pay {invoice.number}").click()
    page.get_by_role("button", name="Pay").click()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Pay").click()

    expect(page.get_by_role("status")).to_have_text("Payment received. Thank you.")
    assert amount_due(invoice) == Money.of("0.00", "EUR")
    page.goto("/portal/")
    expect(page.get_by_text("Nothing to pay. Thank you.")).to_be_visible()
    assert requests_made.foreign(live_server.url) == []


def test_another_customers_invoice_answers_404(page: Any, live_server: Any, org: Any, clerk: Any,
                                               invoice: Invoice) -> None:
    neighbour = Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")
    theirs = posted_invoice(org, neighbour, clerk)
    sign_in_with_link(page, "jeanne@example.org")

    assert page.goto(f"/portal/invoices/{invoice.pk}/").status == 200
    response = page.goto(f"/portal/invoices/{theirs.pk}/")

    assert response.status == 404
    expect(page.get_by_text("Paul Durand")).to_have_count(0)


def test_a_customer_signs_a_direct_debit_mandate(page: Any, live_server: Any, org: Any, customer: Customer) -> None:
    org.creditor_id = "FR72ZZZ123456"  # an organisation collects by direct debit once it has its SEPA identifier
    org.save()
    sign_in_with_link(page, "jeanne@example.org")

    page.get_by_role("link", name="Payment methods").click()
    page.get_by_role("link", name="Sign a direct-debit mandate").click()
    expect(page.get_by_text("FR72ZZZ123456").first).to_be_visible()  # the creditor named in the text signed
    page.get_by_label("Account holder's name").fill("Jeanne Martin")
    page.get_by_label("IBAN").fill("FR76 3000 6000 0112 3456 7890 189")
    page.get_by_label("I have read the mandate above and I sign it.").check()
    page.get_by_role("button", name="Sign the mandate").click()

    expect(page.get_by_role("heading", name="Mandate signed")).to_be_visible()
    mandate = Mandate.objects.get(customer=customer)
    assert mandate.status == Mandate.Status.ACTIVE
    expect(page.get_by_role("status")).to_contain_text(mandate.reference)
    expect(page.get_by_text(mandate.masked_iban).first).to_be_visible()
    shown = page.content()
    assert "30006000" not in shown.replace(" ", "")  # the IBAN's middle digits never reach the page
