"""Shared steps of the saved-method tests: a sandbox account, a posted invoice, a card kept while paying.

The card is kept the way a payer keeps it: a checkout with consent, the card
entered on the sandbox's side, then our fetch (the return page's) learning of
the success and of the saved card.
"""

from datetime import date
from typing import Any

from django.utils import timezone

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.payments import online
from encaisse.payments.methods import consent_text
from encaisse.payments.models import PaymentAttempt, ProviderAccount, SandboxPayment, SavedMethod
from encaisse.payments.providers import adapter_for

CARD_OK = "4242 4242 4242 4242"
CARD_PENDING_OK = "4000 0000 0000 0077"
CARD_CHARGES_DECLINED = "4000 0000 0000 0341"
CARD_CHARGES_NEED_AUTH = "4000 0027 6000 3184"
CARD_CHARGE_ANSWER_LOST = "4000 0000 0000 0119"


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


def sandbox_account(org: Any, code: str = "pressing-sandbox") -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code=code, name="Carte (sandbox)",
                                          settings={"settle_after_seconds": 0})


def posted(org: Any, customer: Any, clerk: Any, price: str = "50.00") -> Invoice:
    """One line at `price` excl. VAT, VAT 20 %: `price` × 1.2 due (60.00 by default)."""
    invoice = draft_invoice(org, customer, ("Service", "1", price), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 3, 1))


def consent(org: Any, ip: str = "203.0.113.7") -> dict[str, Any]:
    return {"text": consent_text(org), "at": timezone.now().isoformat(), "ip": ip}


def checkout_keeping(customer: Any, invoice: Invoice, account: ProviderAccount,
                     *, with_consent: bool = True) -> tuple[PaymentAttempt, Any]:
    return online.start_checkout(customer=customer, amount=invoice_due(invoice), line_ids=[invoice.receivable_line_id],
                                 provider_account=account, return_url="/pay/return/{attempt_id}/",
                                 consent=consent(customer.organisation) if with_consent else None)


def invoice_due(invoice: Invoice) -> Money:
    from encaisse.invoicing.selectors import amount_due

    return amount_due(invoice)


def pay_on_sandbox(attempt: PaymentAttempt, card: str = CARD_OK, expiry: tuple[int, int] | None = None) -> None:
    """The payer types `card` on the sandbox's page (its side only: no notification is sent)."""
    payment = SandboxPayment.objects.get(reference=attempt.provider_reference)
    adapter = adapter_for(attempt.provider_account)
    assert adapter.enter_card(payment, card, expiry=expiry)
    if payment.status == "authenticating":  # the payer confirms with their bank
        adapter.authenticate(payment, approved=True)


def keep_card(customer: Any, invoice: Invoice, account: ProviderAccount, card: str = CARD_OK,
              expiry: tuple[int, int] | None = None) -> SavedMethod:
    """Pay `invoice` with `card`, keeping it; return the saved method Encaisse recorded."""
    attempt, _session = checkout_keeping(customer, invoice, account)
    pay_on_sandbox(attempt, card, expiry)
    assert online.refresh_attempt(attempt).status == "succeeded"
    return SavedMethod.objects.get(source_attempt=attempt)
