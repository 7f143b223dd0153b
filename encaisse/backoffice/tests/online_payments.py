"""Online payments made for real through the sandbox provider, for the back-office pages that show them."""

from datetime import date
from typing import Any

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.payments import online
from encaisse.payments.models import PaymentAttempt, ProviderAccount

CARD_OK, CARD_DECLINED = "4242 4242 4242 4242", "4000 0000 0000 0002"


def posted_invoice(org: Any, customer: Any, clerk: Any, price: str = "50.00") -> Invoice:
    """One line at `price` excl. VAT, VAT 20 %: 50.00 gives 60.00 due."""
    invoice = draft_invoice(org, customer, ("Service", "1", price), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 3, 1))


def sandbox_account(org: Any, code: str = "pressing-sandbox") -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code=code,
                                          name="Carte (sandbox)", settings={"settle_after_seconds": 0})


def pay_online(client: Any, invoice: Invoice, account: ProviderAccount, card: str,
               amount: str = "60.00") -> PaymentAttempt:
    """Open a checkout for the invoice and pay it on the sandbox's card page; the notification follows."""
    attempt, session = online.start_checkout(
        customer=invoice.party, amount=Money.of(amount, "EUR"), line_ids=[invoice.receivable_line_id],
        provider_account=account, return_url="/pay/return/{attempt_id}/")
    client.post(session.redirect_url, {"card_number": card})
    attempt.refresh_from_db()
    return attempt
