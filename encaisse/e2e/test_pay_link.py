"""A customer pays an invoice from its pay link in a real browser, by keyboard alone, the sandbox playing the bank."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.ledger.models import Account
from encaisse.payments.paylinks import pay_link
from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account
from encaisse.testing.browser import PHONE, screenshot

pytestmark = pytest.mark.browser

CARD_OK, CARD_DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0002"


@pytest.fixture
def invoice(org: Any, customer: Any, clerk: Any) -> Invoice:
    sandbox_account(org)
    return posted_invoice(org, customer, clerk)  # 60.00 due


def link(invoice: Invoice) -> str:
    line = invoice.entry.lines.get(account__kind=Account.Kind.RECEIVABLE)
    return pay_link(organisation_id=invoice.organisation_id, line_ids=[line.pk], amount=amount_due(invoice))


def tab_to(page: Any, locator: Any) -> None:
    """Press Tab until `locator` has the focus: what a keyboard user does, and a failure if it is unreachable."""
    for _ in range(15):
        page.keyboard.press("Tab")
        if locator.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{locator} cannot be reached with the Tab key")


def pay_with_card(page: Any, card: str) -> None:
    """From the pay page to the return page with the keyboard only: method, Pay, card number, Pay."""
    sandbox = page.get_by_label("Carte (sandbox)")
    tab_to(page, sandbox)
    page.keyboard.press("Space")
    expect(sandbox).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Pay"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("Sandbox payment"))).to_be_visible()
    tab_to(page, page.get_by_label("Card number"))
    page.keyboard.type(card)
    tab_to(page, page.get_by_role("button", name="Pay"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/pay/return/"))


def test_a_customer_pays_by_card_with_the_keyboard_alone_and_nothing_is_left_to_pay(
        page: Any, live_server: Any, requests_made: Any, invoice: Invoice) -> None:
    page.set_viewport_size(PHONE)
    page.goto(link(invoice))
    expect(page.get_by_text("Amount due")).to_be_visible()
    screenshot(page, "pay-page.png")

    pay_with_card(page, CARD_OK)

    expect(page.get_by_role("status")).to_have_text("Payment received. Thank you.")
    assert amount_due(invoice) == Money.of("0.00", "EUR")
    page.goto(link(invoice))
    expect(page.get_by_text("Nothing is left to pay on these items.")).to_be_visible()
    expect(page.get_by_role("button", name="Pay")).to_have_count(0)
    assert any(url.endswith("/public.css") for url in requests_made.urls)  # the log does see the page's loads
    assert requests_made.foreign(live_server.url) == []


def test_a_declined_card_shows_the_failure_and_the_invoice_stays_due(
        page: Any, live_server: Any, invoice: Invoice) -> None:
    page.goto(link(invoice))

    pay_with_card(page, CARD_DECLINED)

    expect(page.get_by_role("status")).to_have_text("The payment did not go through. Nothing was taken.")
    assert amount_due(invoice) == Money.of("60.00", "EUR")
    page.goto(link(invoice))
    expect(page.get_by_text("Amount due")).to_be_visible()
    expect(page.get_by_role("button", name="Pay")).to_be_enabled()
