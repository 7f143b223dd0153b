"""Shared steps of the saved-method tests: a sandbox account, a sale owed, a card kept while paying.

The card is kept the way a payer keeps it: a checkout with consent, the card
entered on the sandbox's side, then our fetch (the return page's) learning of
the success and of the saved card.
"""

from datetime import date
from typing import Any

from django.utils import timezone

from encaisse.core.money import Money
from encaisse.ledger.models import Account, EntryLine, Journal
from encaisse.ledger.selectors import open_amount
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entry
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


def sale(customer: Any, clerk: Any, amount: str = "60.00") -> EntryLine:
    """A sale of `amount` owed by the customer: its receivable line (411 debit against 706).

    Written on the ledger directly: payments sit below invoicing and may not use it.
    """
    org = customer.organisation
    key = f"test:sale:{EntryLine.objects.count()}"
    entry = post_entry(org, EntryDraft(
        journal=journal_of_kind(org, Journal.Kind.SALES), date=date(2026, 3, 1), label=key,
        lines=(LineDraft.signed(account_of_kind(org, Account.Kind.RECEIVABLE), eur(amount), party=customer,
                                due_on=date(2026, 3, 1)),
               LineDraft.signed(account_of_kind(org, Account.Kind.REVENUE), -eur(amount)))),
        idempotency_key=key, by=clerk)
    return entry.lines.get(account__kind=Account.Kind.RECEIVABLE)


def due(line: EntryLine) -> Money:
    return open_amount(line)


def consent(org: Any, ip: str = "203.0.113.7") -> dict[str, Any]:
    return {"text": consent_text(org), "at": timezone.now().isoformat(), "ip": ip}


def checkout_keeping(customer: Any, line: EntryLine, account: ProviderAccount,
                     *, with_consent: bool = True) -> tuple[PaymentAttempt, Any]:
    """Open a checkout paying what is due on `line`, with the payer's consent to keep the method (or not)."""
    return online.start_checkout(customer=customer, amount=due(line), line_ids=[line.pk], provider_account=account,
                                 return_url="/pay/return/{attempt_id}/",
                                 consent=consent(customer.organisation) if with_consent else None)


def pay_on_sandbox(attempt: PaymentAttempt, card: str = CARD_OK, expiry: tuple[int, int] | None = None) -> None:
    """The payer types `card` on the sandbox's page (its side only: no notification is sent)."""
    payment = SandboxPayment.objects.get(reference=attempt.provider_reference)
    adapter = adapter_for(attempt.provider_account)
    assert adapter.enter_card(payment, card, expiry=expiry)
    if payment.status == "authenticating":  # the payer confirms with their bank
        adapter.authenticate(payment, approved=True)


def keep_card(customer: Any, line: EntryLine, account: ProviderAccount, card: str = CARD_OK,
              expiry: tuple[int, int] | None = None) -> SavedMethod:
    """Pay what is due on `line` (a receivable line) with `card`, keeping it; return the saved method recorded."""
    attempt, _session = checkout_keeping(customer, line, account)
    pay_on_sandbox(attempt, card, expiry)
    assert online.refresh_attempt(attempt).status == "succeeded"
    return SavedMethod.objects.get(source_attempt=attempt)
