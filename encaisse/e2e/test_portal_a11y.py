"""The portal and the pay page checked for accessibility in a real browser: axe-core, a phone, a keyboard.

axe (axe-playwright-python bundles axe-core) flags what a screen-reader or
low-vision user stumbles on; only serious and critical findings fail, printed
page by page. On a 375 px phone no page may scroll sideways. And a keyboard
user reaches every link and button of the dashboard in reading order, sees
where the focus is, and opens an invoice and the payment methods with it.

One signed-in browser context walks every page, so the module stays quick.
"""

import itertools
import time
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from encaisse.invoicing.models import DepositRequest, Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.services import issue_deposit_request
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.invoicing.tests.quotes import deposits, sent_quote
from encaisse.ledger.models import Account
from encaisse.parties.models import Customer
from encaisse.payments.models import PaymentAttempt
from encaisse.payments.paylinks import pay_link
from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account
from encaisse.portal.access import SESSION_CUSTOMER, SESSION_SEEN

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
FAILING_IMPACTS = {"serious", "critical"}


@dataclass
class Records:
    to_pay: Invoice
    paid: Invoice
    deposit: DepositRequest
    attempt: PaymentAttempt
    pay_path: str


def link(invoice: Invoice) -> str:
    line = invoice.entry.lines.get(account__kind=Account.Kind.RECEIVABLE)
    return pay_link(organisation_id=invoice.organisation_id, line_ids=[line.pk], amount=amount_due(invoice))


@pytest.fixture
def records(org: Any, customer: Customer, clerk: Any) -> Records:
    """An invoice to pay, one paid online (its receipt), a deposit request; the organisation takes mandates."""
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    sandbox = sandbox_account(org)
    paid = posted_invoice(org, customer, clerk)
    payer = Client()  # pays the first invoice through its link and the sandbox, as a payer would
    location = payer.post(link(paid), {"provider": sandbox.code})["Location"]
    payer.post(location, {"card_number": "4242 4242 4242 4242"})
    to_pay = posted_invoice(org, customer, clerk)
    quote = sent_quote(org, customer, clerk, accepted=True)
    deposit = issue_deposit_request(deposit_id=deposits(quote, "30", by=clerk)[0].pk, by=clerk)
    return Records(to_pay, paid, deposit, PaymentAttempt.objects.get(status="succeeded"), link(to_pay))


def sign_in(page: Any, live_server: Any, customer: Customer) -> None:
    """A portal session for the customer put straight into the browser: test_portal.py covers the sign-in itself."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_CUSTOMER] = customer.pk
    store[SESSION_SEEN] = int(time.time())
    store.create()
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": store.session_key,
                               "url": live_server.url}])


def serious_violations(page: Any, axe: Axe) -> list[str]:
    """axe's serious and critical findings on the page as it stands, one readable line per offending element."""
    found = []
    for violation in axe.run(page).response["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        for node in violation["nodes"]:
            found.append(f"  [{violation['impact']}] {violation['id']}: {violation['help']}\n"
                         f"      at {' '.join(node['target'])}: {node['html'][:160]}\n"
                         f"      {node.get('failureSummary', '').replace(chr(10), ' ')[:300]}")
    return found


def sideways_scroll(page: Any) -> str | None:
    """None when the page fits the viewport's width, else how much wider it is and the widest element."""
    return page.evaluate("""() => {
        const root = document.scrollingElement;
        if (root.scrollWidth <= root.clientWidth) return null;
        let widest = null;
        for (const el of document.body.querySelectorAll('*')) {
            const right = el.getBoundingClientRect().right;
            if (right > root.clientWidth && (!widest || right >= widest.right))  // the innermost of equals
                widest = {right, tag: el.outerHTML.slice(0, el.outerHTML.indexOf('>') + 1)};
        }
        return `${root.scrollWidth}px wide for ${root.clientWidth}px` + (widest ? `; widest: ${widest.tag}` : '');
    }""")


def check_pages(page: Any, paths: dict[str, str], axe: Axe, problems: list[str]) -> None:
    """axe on each page at a desktop width, then at a phone's (tables stack there), which must not scroll sideways."""
    for name, path in paths.items():
        page.set_viewport_size(DESKTOP)
        response = page.goto(path)
        assert response.status == 200, f"{name} ({path}) answered {response.status}"
        for width in ("desktop", "phone"):
            if width == "phone":
                page.set_viewport_size(PHONE)
                wider = sideways_scroll(page)
                if wider:
                    problems.append(f"{name} ({path}) scrolls sideways on a 375 px phone: {wider}")
            found = serious_violations(page, axe)
            if found:
                problems.append(f"{name} ({path}), axe at {width} width:\n" + "\n".join(found))


def test_every_portal_page_and_the_pay_page_pass_axe_and_fit_a_phone(page: Any, live_server: Any,
                                                                     customer: Customer, records: Records) -> None:
    axe, problems = Axe(), []
    check_pages(page, {"sign-in page": "/portal/sign-in/", "pay page": records.pay_path}, axe, problems)
    sign_in(page, live_server, customer)
    check_pages(page, {
        "dashboard": "/portal/",
        "invoice": f"/portal/invoices/{records.to_pay.pk}/",
        "paid invoice": f"/portal/invoices/{records.paid.pk}/",
        "deposit request": f"/portal/deposits/{records.deposit.pk}/",
        "payment receipt": f"/portal/payments/{records.attempt.pk}/",
        "account": "/portal/account/",
        "profile": "/portal/profile/",
        "payment methods": "/portal/methods/",
        "add a card": "/portal/methods/add/",
        "sign a mandate": "/portal/methods/mandate/",
        "pay return page": f"/pay/return/{records.attempt.pk}/",
    }, axe, problems)

    assert not problems, "accessibility problems:\n" + "\n".join(problems)


FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select, textarea, [tabindex]"
# The elements a keyboard user should meet, in document order: the visible ones, and the skip link (shown on focus).
STOPS_JS = (f"[...document.querySelectorAll('{FOCUSABLE}')]"
            ".filter(el => el.checkVisibility() || el.classList.contains('skip-link'))")


def focus_state(page: Any) -> dict[str, Any]:
    """What has the focus now: the element's text, its box, and whether the focus can be seen on it."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        const outlined = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
        return {html: el.outerHTML.slice(0, 100), tag: el.tagName, top: box.top + window.scrollY,
                left: box.left, width: box.width, height: box.height,
                indicator: outlined || style.boxShadow !== 'none',
                index: %s.indexOf(el)};
    }""" % STOPS_JS)  # noqa: UP031 (a JavaScript body: braces everywhere)


def test_a_keyboard_reaches_everything_on_the_dashboard_in_order_and_opens_an_invoice_and_the_methods(
        page: Any, live_server: Any, customer: Customer, records: Records) -> None:
    sign_in(page, live_server, customer)
    page.goto("/portal/")
    expected = page.evaluate(f"() => {STOPS_JS}.length")

    stops = []
    for _ in range(expected + 5):
        page.keyboard.press("Tab")
        state = focus_state(page)
        if state["tag"] == "BODY" or (stops and state["index"] == stops[0]["index"]):
            break  # past the last element, back to the browser's own controls or round to the first
        stops.append(state)

    assert [stop["index"] for stop in stops] == list(range(expected)), (
        "Tab skips elements or goes out of document order:\n" + "\n".join(s["html"] for s in stops))
    unseen = [stop["html"] for stop in stops if not (stop["indicator"] and stop["width"] and stop["height"])]
    assert not unseen, "focus cannot be seen on:\n" + "\n".join(unseen)
    # After the skip link (shown only while focused, at the top): the next stop never sits wholly above.
    backwards = [(a["html"], b["html"]) for a, b in itertools.pairwise(stops[1:])
                 if b["top"] + b["height"] <= a["top"]]
    assert not backwards, f"focus jumps back up the page: {backwards}"

    page.goto("/portal/")
    reach_and_press_enter(page, page.get_by_role("link", name=records.to_pay.number))
    expect(page.get_by_role("heading", level=1)).to_contain_text(records.to_pay.number)

    page.goto("/portal/")
    reach_and_press_enter(page, page.get_by_role("link", name="Payment methods"))
    expect(page).to_have_url(f"{live_server.url}/portal/methods/")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def reach_and_press_enter(page: Any, locator: Any) -> None:
    """Tab until `locator` has the focus, then Enter: a failure if the keyboard cannot reach it."""
    for _ in range(40):
        page.keyboard.press("Tab")
        if locator.evaluate("element => element === document.activeElement"):
            page.keyboard.press("Enter")
            return
    raise AssertionError(f"{locator} cannot be reached with the Tab key")
