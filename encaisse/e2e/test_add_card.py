"""Keeping a card without paying, in a real browser: the signed-in customer agrees, enters a sandbox test card on
the provider's "save your card" page, comes back to a page saying it is saved and finds it among their methods."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from encaisse.ledger.models import Entry
from encaisse.parties.models import Customer
from encaisse.payments.models import SavedMethod
from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account

from .test_portal import sign_in_with_link

pytestmark = pytest.mark.browser


@pytest.fixture
def sandbox(org: Any) -> Any:
    return sandbox_account(org)


def test_a_customer_adds_a_card_without_paying_and_sees_it_listed(
        page: Any, live_server: Any, requests_made: Any, sandbox: Any, customer: Customer) -> None:
    entries_before = Entry.objects.count()
    sign_in_with_link(page, "jeanne@example.org")

    page.goto("/portal/methods/add/")
    expect(page.get_by_role("heading", name="Add a card")).to_be_visible()
    consent = page.get_by_label(re.compile("I allow Pressing du Centre to keep this payment method"))
    consent.focus()
    page.keyboard.press("Space")  # usable from the keyboard
    expect(consent).to_be_checked()
    page.get_by_role("button", name="Continue to the secure page").click()

    expect(page.get_by_role("heading", name=re.compile("Save a card"))).to_be_visible()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry date (MM/YY, optional)").fill("10/31")
    page.get_by_role("button", name="Save card").click()

    expect(page.get_by_role("status")).to_have_text("Your card Visa •••• 4242 is saved.")
    page.get_by_role("link", name="Back to payment methods").click()
    expect(page.get_by_text(re.compile(r"visa •••• 4242", re.IGNORECASE)).first).to_be_visible()
    expect(page.get_by_text("expires 10/2031").first).to_be_visible()

    method = SavedMethod.objects.get(customer=customer)
    assert (method.last4, method.is_default) == ("4242", True)
    assert Entry.objects.count() == entries_before  # nothing was paid, nothing booked
    assert requests_made.foreign(live_server.url) == []
