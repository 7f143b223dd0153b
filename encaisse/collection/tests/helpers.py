"""Shared steps of the collection tests: a customer with a kept sandbox card, invoices posted and due."""

from datetime import date
from typing import Any

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.parties.models import Customer
from encaisse.payments.models import SavedMethod
from encaisse.payments.providers.sandbox.tests.helpers import CARD_OK, keep_card, sale

IBAN = "FR1420041010050500013M02606"


def card_customer(org: Any, clerk: Any, account: Any, *, ref: str = "C100", card: str = CARD_OK) -> Customer:
    """A customer collected by a sandbox card they kept while paying an earlier sale (the card is their default)."""
    customer = Customer.objects.create(organisation=org, ref=ref, name=f"Client {ref}", email=f"{ref}@example.org")
    keep_card(customer, sale(customer, clerk, "12.00"), account, card)
    customer.refresh_from_db()
    assert customer.collect_by == Customer.CollectBy.CARD
    return customer


def add_card(customer: Customer, clerk: Any, account: Any, card: str = CARD_OK) -> SavedMethod:
    """Keep another card (not the default: the first stays default)."""
    return keep_card(customer, sale(customer, clerk, "12.00"), account, card)


def invoice_for(org: Any, customer: Customer, clerk: Any, price: str = "50.00") -> Invoice:
    """Posted on 1 March 2026: `price` excl. VAT + 20 % due."""
    return posted_invoice(org, customer, clerk, price)


def due(invoice: Invoice) -> Money:
    return amount_due(Invoice.objects.get(pk=invoice.pk))


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


MARCH_1 = date(2026, 3, 1)
