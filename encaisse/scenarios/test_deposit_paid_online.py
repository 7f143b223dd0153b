"""A quote with two deposits: the first paid online, then the second payable, then the final invoice deducts."""

from datetime import date

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.models import DepositRequest, InvoiceType, Quote, VatRate
from encaisse.invoicing.selectors import amount_due, deposit_amount_due, deposit_display_status, deposit_payable
from encaisse.invoicing.services import (
    accept_quote,
    add_deposit_request,
    add_quote_line,
    create_quote,
    invoice_from_quote,
    issue_deposit_request,
    post_invoice,
    send_quote,
    validate_invoice,
)
from encaisse.invoicing.verify import verify_numbering
from encaisse.ledger.selectors import customer_balance
from encaisse.ledger.verify import verify_ledger
from encaisse.payments.models import PaymentAttempt, ProviderAccount
from encaisse.payments.paylinks import pay_link
from encaisse.payments.services import advance_balance

CARD_OK = "4242 4242 4242 4242"
MARCH_2, MARCH_5, MARCH_20, APRIL_30 = date(2026, 3, 2), date(2026, 3, 5), date(2026, 3, 20), date(2026, 4, 30)


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


def link(deposit: DepositRequest) -> str:
    return pay_link(organisation_id=deposit.organisation_id, line_ids=[deposit.receivable_line_id],
                    amount=deposit_amount_due(deposit))


def open_checkout(client, deposit: DepositRequest, sandbox: ProviderAccount) -> str:
    """The payer chooses the card on the pay page; returns the sandbox's hosted page."""
    response = client.post(link(deposit), {"provider": sandbox.code})
    assert response.status_code == 302
    return response["Location"]


@pytest.fixture
def sandbox(org) -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code="pressing-sandbox",
                                          name="Carte (sandbox)", settings={"settle_after_seconds": 0})


@pytest.fixture
def quote(org, customer, clerk) -> Quote:
    # Shop fitting: 2 × 450.00 + 1 × 100.00 = 1000.00 excl. VAT, VAT 20 % = 200.00, total 1200.00.
    quote = create_quote(customer=customer, invoice_type=InvoiceType.objects.get(organisation=org, code="STANDARD"),
                         by=clerk)
    rate = VatRate.objects.get(organisation=org, code="FR20")
    add_quote_line(quote_id=quote.pk, label="Comptoir sur mesure", quantity=2, unit_price="450.00", vat_rate=rate,
                   by=clerk)
    add_quote_line(quote_id=quote.pk, label="Pose", quantity=1, unit_price="100.00", vat_rate=rate, by=clerk)
    send_quote(quote_id=quote.pk, by=clerk, today=MARCH_2)
    return accept_quote(quote_id=quote.pk, by=clerk)


@pytest.mark.django_db
def test_deposits_paid_online_one_after_the_other_then_deducted_by_the_final_invoice(client, org, customer, clerk,
                                                                                      quote, sandbox):
    first = add_deposit_request(quote_id=quote.pk, percent="30", due_on=MARCH_20, by=clerk)  # 360.00
    second = add_deposit_request(quote_id=quote.pk, percent="40", due_on=APRIL_30, by=clerk)  # 480.00
    first, second = (issue_deposit_request(deposit_id=d.pk, by=clerk, today=MARCH_5) for d in (first, second))
    assert customer_balance(customer) == eur("840.00")

    # The second cannot be paid before the first.
    assert client.post(link(second), {"provider": sandbox.code}).status_code == 409

    # The first is paid by card on the sandbox's hosted page.
    client.post(open_checkout(client, first, sandbox), {"card_number": CARD_OK})
    assert PaymentAttempt.objects.get().status == "succeeded"
    assert deposit_display_status(first) == "paid"
    assert deposit_payable(second) == (True, "")
    assert customer_balance(customer) == eur("480.00")

    # The work is done before the second is paid: the final invoice deducts only what was paid.
    invoice = invoice_from_quote(quote_id=quote.pk, by=clerk)
    validate_invoice(invoice_id=invoice.pk, by=clerk)
    invoice = post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 4, 10))

    assert invoice.total == eur("1200.00")
    assert amount_due(invoice) == eur("840.00")  # 1200.00 − 360.00 paid
    assert customer_balance(customer) == eur("840.00")  # the unpaid 480.00 is not asked on top
    assert deposit_amount_due(DepositRequest.objects.get(pk=second.pk)) == eur("0.00")
    assert Quote.objects.get(pk=quote.pk).status == Quote.Status.INVOICED
    assert verify_ledger(org).ok
    assert verify_numbering(org).ok


@pytest.mark.django_db
def test_a_payment_finishing_after_the_deduction_becomes_an_advance(client, org, customer, clerk, quote, sandbox):
    (deposit,) = (issue_deposit_request(deposit_id=add_deposit_request(
        quote_id=quote.pk, percent="30", due_on=MARCH_20, by=clerk).pk, by=clerk, today=MARCH_5),)
    hosted_page = open_checkout(client, deposit, sandbox)  # the payer opened the card page...
    invoice = invoice_from_quote(quote_id=quote.pk, by=clerk)
    validate_invoice(invoice_id=invoice.pk, by=clerk)
    invoice = post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 4, 10))  # ...the deposit is closed...

    client.post(hosted_page, {"card_number": CARD_OK})  # ...and pays it afterwards.

    attempt = PaymentAttempt.objects.get()
    assert attempt.status == "succeeded"
    assert advance_balance(customer) == eur("360.00")  # kept for the customer on 419, not lost on a closed line
    assert amount_due(invoice) == eur("1200.00")  # nothing was paid before the invoice: nothing deducted
    assert customer_balance(customer) == eur("840.00")  # 1200.00 owed − 360.00 held in advance
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_the_demo_has_a_quote_whose_first_deposit_can_be_paid_online(client):
    from encaisse.onboarding.demo import load_demo

    demo = load_demo(today=date(2026, 5, 20))
    load_demo(today=date(2026, 6, 1))  # loading again adds no second quote

    quote = Quote.objects.get(organisation=demo)
    first, second = quote.deposit_requests.order_by("position")
    assert (quote.status, quote.total) == (Quote.Status.ACCEPTED, eur("842.40"))
    assert (first.status, first.amount, second.status, second.amount) == (
        DepositRequest.Status.ISSUED, eur("252.72"), DepositRequest.Status.DRAFT, eur("589.68"))
    page = client.get(link(first), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert f"Deposit request {first.number} for quote {quote.number}" in page.content.decode()
    assert verify_ledger(demo).ok
    assert verify_numbering(demo).ok
