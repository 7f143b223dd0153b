"""The sandbox provider: a pretend card processor inside Encaisse, for demos and tests.

It behaves like a remote hosted-checkout provider: start_checkout() opens a
payment on its side and sends the payer to its own page (served by Encaisse at
/sandbox/pay/<reference>/), the payer types a test card number, and it tells
us the result by a signed notification to /hooks/<code>/ and by fetch(). Its
state lives in SandboxPayment, the provider's record, never read by the books.

Test cards (spaces optional):
    4242 4242 4242 4242  succeeds
    4000 0000 0000 0002  declined, code card_declined
    4000 0000 0000 3220  asks for strong authentication (a confirm page), then succeeds or is declined
    4000 0000 0000 0077  pending, then succeeds
    4000 0000 0000 0085  pending, then declined (card_declined)
    4000 0000 0000 0341  succeeds and can be kept, but off-session charges of it are declined (card_declined)
    4000 0027 6000 3184  asks for strong authentication, then succeeds; off-session charges of it are declined
                         with authentication_required (the bank wants the payer there)
    4000 0000 0000 0119  succeeds and can be kept; an off-session charge of it is taken but its answer is
                         lost (charge() raises TimeoutError once): fetch() or the same key again tells it
A pending payment takes its final status `settle_after_seconds` after the card
was entered, the next time anyone asks (fetch) — as a real provider would
answer a later look-up. No card number is kept: only the scenario it chose.

Saved cards: a checkout asked with save_method keeps the card once the payment
succeeds; its result (fetch and notification) then carries a token sbx_pm_…
with the brand, last four digits and expiry (typed on the page, or a date three
years ahead). charge() charges such a token off-session at once (4242, 3220,
0077: succeeds); refund() pays back all or part of a payment or charge, never
more than was paid minus earlier refunds. Both answer once per idempotency key:
the same key again gets the same answer, and fetch() finds them by it.

Saving a card without paying: start_setup() opens a "save your card" page
(the same address, /sandbox/pay/<reference>/, for a sbx_set_… reference with
no amount). The test cards behave as on the pay page (4242 is kept, 0002 is
declined, 3220 asks for authentication, 0077 is pending, ...), no money moves,
and the result carries the kept card like a checkout that saved it.

Notifications are JSON bodies signed with HMAC-SHA256 of the raw body under the
account's secret, hex in the X-Sandbox-Signature header; a body older than five
minutes is refused as stale.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from django.db import IntegrityError, transaction
from django.utils import timezone

from encaisse.core.money import Money

from ..base import (
    Capability,
    ChargeRequest,
    CheckoutRequest,
    CheckoutSession,
    ForgedWebhook,
    Outcome,
    ProviderEvent,
    ProviderResult,
    RefundRequest,
    SavedMethodInfo,
    SetupRequest,
)

SIGNATURE_HEADER = "X-Sandbox-Signature"
TOLERANCE_SECONDS = 300
SESSION_LIFETIME = timedelta(hours=1)

# card number → (status once entered, final status of a pending one, decline code)
TEST_CARDS = {
    "4242424242424242": (Outcome.SUCCEEDED, "", ""),
    "4000000000000002": (Outcome.DECLINED, "", "card_declined"),
    "4000000000003220": ("authenticating", Outcome.SUCCEEDED, ""),
    "4000000000000077": (Outcome.PENDING, Outcome.SUCCEEDED, ""),
    "4000000000000085": (Outcome.PENDING, Outcome.DECLINED, "card_declined"),
    "4000000000000341": (Outcome.SUCCEEDED, "", ""),
    "4000002760003184": ("authenticating", Outcome.SUCCEEDED, ""),
    "4000000000000119": (Outcome.SUCCEEDED, "", ""),
}
LOST = "lost"  # a charge taken whose answer never comes back: the network failure a provider call can meet
# card number → (outcome, decline code) of off-session charges of it once saved; others succeed
CHARGE_SCENARIOS = {
    "4000000000000341": (Outcome.DECLINED, "card_declined"),
    "4000002760003184": (Outcome.DECLINED, "authentication_required"),
    "4000000000000119": (LOST, ""),
}
SETUP_PREFIX = "sbx_set_"  # a "save your card" page: no amount, the card is kept once entered
CARD_LIFETIME_YEARS = 3  # the expiry of a saved card when the payer typed none


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SandboxProvider:
    code: ClassVar[str] = "sandbox"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.HOSTED_CHECKOUT, Capability.SAVE_METHOD, Capability.SETUP_WITHOUT_PAYMENT,
        Capability.SAVED_METHOD, Capability.REFUND, Capability.PARTIAL_REFUND})

    def __init__(self, *, secret: str, account_code: str, page_url: str = "/sandbox/pay/",
                 settle_after_seconds: int = 30, fee_minor: int = 0) -> None:
        self.secret = secret
        self.account_code = account_code
        self.page_url = page_url
        self.settle_after = timedelta(seconds=settle_after_seconds)
        self.fee_minor = fee_minor  # a flat fee per payment, to show fees booked to 627

    # --- the provider's side -------------------------------------------------------------------------------
    def _payment(self, *, reference: str | None = None, idempotency_key: str | None = None) -> Any:
        from encaisse.payments.models import SandboxPayment

        query = SandboxPayment.objects.filter(account_code=self.account_code)
        if reference:
            return query.filter(reference=reference).first()
        return query.filter(idempotency_key=idempotency_key).first() if idempotency_key else None

    @staticmethod
    def is_setup(payment: Any) -> bool:
        """A "save your card" page (start_setup), not a payment."""
        return payment.reference.startswith(SETUP_PREFIX)

    def saved_card(self, payment: Any) -> Any:
        """The card a checkout was asked to keep (filled in once entered), or None."""
        from .models import SandboxSavedCard

        return SandboxSavedCard.objects.filter(account_code=self.account_code,
                                               payment_reference=payment.reference).first()

    def enter_card(self, payment: Any, card_number: str, *, expiry: tuple[int, int] | None = None) -> bool:
        """The payer typed a card (and maybe its expiry, month and year) on the hosted page; False if not a test card.

        The number is looked up and dropped: the payment keeps its scenario, a
        card to keep only its last four digits and how charges of it behave.
        """
        number = "".join(card_number.split())
        scenario = TEST_CARDS.get(number)
        if scenario is None or payment.status != "open":
            return False
        with transaction.atomic():
            payment.status, payment.final_status, payment.decline_code = scenario
            if payment.status == Outcome.PENDING:
                payment.settles_at = timezone.now() + self.settle_after
            payment.save(update_fields=["status", "final_status", "decline_code", "settles_at"])
            if card := self.saved_card(payment):
                today = timezone.localdate()
                card.exp_month, card.exp_year = expiry or (today.month, today.year + CARD_LIFETIME_YEARS)
                card.brand, card.last4 = "visa", number[-4:]
                card.charge_status, card.charge_decline_code = CHARGE_SCENARIOS.get(number, (Outcome.SUCCEEDED, ""))
                card.save()
        return True

    def authenticate(self, payment: Any, *, approved: bool) -> None:
        if payment.status != "authenticating":
            return
        payment.status = Outcome.SUCCEEDED if approved else Outcome.DECLINED
        payment.decline_code = "" if approved else "authentication_failed"
        payment.save(update_fields=["status", "decline_code"])

    def _current(self, payment: Any) -> Any:
        """Move a payment on as time passes: pending ones settle, open ones expire."""
        now = timezone.now()
        if payment.status == Outcome.PENDING and payment.settles_at and payment.settles_at <= now:
            payment.status = payment.final_status
            payment.save(update_fields=["status"])
        elif payment.status in ("open", "authenticating") and payment.created_at + SESSION_LIFETIME <= now:
            payment.status, payment.decline_code = Outcome.NOT_PROCESSED, "expired"
            payment.save(update_fields=["status", "decline_code"])
        return payment

    def _outcome(self, payment: Any) -> Outcome:
        return Outcome.PENDING if payment.status in ("open", "authenticating") else Outcome(payment.status)

    def _fee(self, payment: Any) -> Money | None:
        if payment.status == Outcome.SUCCEEDED and self.fee_minor and not self.is_setup(payment):
            return Money(self.fee_minor, payment.currency)
        return None

    def _method_info(self, payment: Any) -> SavedMethodInfo | None:
        """The card kept by a succeeded checkout that asked for it; None otherwise."""
        if payment.status != Outcome.SUCCEEDED or payment.reference.startswith("sbx_ch_"):
            return None  # a charge (sbx_ch_) uses a kept card, it keeps none
        card = self.saved_card(payment)
        if card is None or not card.last4:
            return None
        return SavedMethodInfo(token=card.token, brand=card.brand, last4=card.last4, exp_month=card.exp_month,
                               exp_year=card.exp_year)

    def notification(self, payment: Any) -> tuple[bytes, dict[str, str]]:
        """The signed notification the sandbox sends about a payment's current status."""
        method = self._method_info(payment)
        body = json.dumps({
            "id": f"evt_{payment.reference}_{payment.status}",
            "type": "payment.updated",
            "created": int(time.time()),
            "payment": {
                "reference": payment.reference, "attempt_id": payment.attempt_id, "status": payment.status,
                "amount_minor": payment.amount_minor, "currency": payment.currency,
                "fee_minor": self._fee(payment).minor if self._fee(payment) else 0,
                "decline_code": payment.decline_code,
                "saved_method": {"token": method.token, "brand": method.brand, "last4": method.last4,
                                 "exp_month": method.exp_month, "exp_year": method.exp_year} if method else None,
            },
        }, separators=(",", ":")).encode()
        return body, {SIGNATURE_HEADER: sign(self.secret, body)}

    # --- the adapter interface ----------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        return self._open_page(
            idempotency_key=request.idempotency_key, reference=f"sbx_{uuid.uuid4().hex[:24]}",
            attempt_id=request.attempt_id, amount=request.amount, description=request.description,
            return_url=request.return_url, notify_url=request.notify_url, keeps_card=request.save_method)

    def start_setup(self, request: SetupRequest) -> CheckoutSession:
        """Open a "save your card" page: no amount, the card entered is kept (a declined one is not)."""
        return self._open_page(
            idempotency_key=request.idempotency_key, reference=f"{SETUP_PREFIX}{uuid.uuid4().hex[:24]}",
            attempt_id=request.attempt_id, amount=Money(0, request.currency), description="",
            return_url=request.return_url, notify_url=request.notify_url, keeps_card=True)

    def _open_page(self, *, idempotency_key: str, reference: str, attempt_id: str, amount: Money,
                   description: str, return_url: str, notify_url: str, keeps_card: bool) -> CheckoutSession:
        """The provider's record of a hosted page, once per idempotency key (the same key replays the first)."""
        from encaisse.payments.models import SandboxPayment

        from .models import SandboxSavedCard

        payment = self._payment(idempotency_key=idempotency_key)
        if payment is None:
            try:
                with transaction.atomic():
                    payment = SandboxPayment.objects.create(
                        reference=reference, account_code=self.account_code, idempotency_key=idempotency_key,
                        attempt_id=attempt_id, amount_minor=amount.minor, currency=amount.currency,
                        description=description[:255], return_url=return_url, notify_url=notify_url)
                    if keeps_card:  # the token is the card's once the payer has entered one
                        SandboxSavedCard.objects.create(token=f"sbx_pm_{uuid.uuid4().hex[:24]}",
                                                        account_code=self.account_code,
                                                        payment_reference=payment.reference)
            except IntegrityError:  # the same key at the same moment: replay the first
                payment = self._payment(idempotency_key=idempotency_key)
        return CheckoutSession(redirect_url=f"{self.page_url}{payment.reference}/",
                               provider_reference=payment.reference, raw={"reference": payment.reference})

    def charge(self, request: ChargeRequest) -> ProviderResult:
        """Charge a saved card off-session at once; the same idempotency key gets the first answer again."""
        from encaisse.payments.models import SandboxPayment

        from .models import SandboxSavedCard

        if payment := self._payment(idempotency_key=request.idempotency_key):
            return self._result(payment)
        card = SandboxSavedCard.objects.filter(account_code=self.account_code, token=request.method_token,
                                               last4__gt="").first()
        if card is None:
            return ProviderResult(outcome=Outcome.NOT_PROCESSED, message="no such saved card")
        lost = card.charge_status == LOST
        try:
            with transaction.atomic():
                payment = SandboxPayment.objects.create(
                    reference=f"sbx_ch_{uuid.uuid4().hex[:24]}", account_code=self.account_code,
                    idempotency_key=request.idempotency_key, attempt_id=request.attempt_id,
                    amount_minor=request.amount.minor, currency=request.amount.currency,
                    description=f"off-session {card.token}"[:255], return_url="",
                    status=Outcome.SUCCEEDED if lost else card.charge_status or Outcome.SUCCEEDED,
                    decline_code=card.charge_decline_code)
        except IntegrityError:  # the same key at the same moment: replay the first
            return self._result(self._payment(idempotency_key=request.idempotency_key))
        if lost:
            raise TimeoutError("sandbox test card 0119: the charge was taken but its answer was lost")
        return self._result(payment)

    def refund(self, request: RefundRequest) -> ProviderResult:
        """Pay back all or part of a succeeded payment or charge, never more than is left of it; once per key."""
        from encaisse.payments.models import SandboxPayment

        from .models import SandboxRefund

        if refund := self._refund(idempotency_key=request.idempotency_key):
            return self._refund_result(refund)
        status, code, message = Outcome.SUCCEEDED, "", ""
        with transaction.atomic():
            # The payment's row is locked so two refunds at once cannot both take what is left.
            payment = (SandboxPayment.objects.select_for_update()
                       .filter(account_code=self.account_code, reference=request.payment_reference).first())
            if payment is None or payment.status != Outcome.SUCCEEDED:
                status, code = Outcome.NOT_PROCESSED, "no_such_payment"
                message = "no succeeded payment has this reference"
            elif request.amount.currency != payment.currency or request.amount.minor <= 0:
                status, code = Outcome.NOT_PROCESSED, "invalid_amount"
                message = f"a refund is a positive amount in {payment.currency}"
            else:
                refunded = sum(SandboxRefund.objects.filter(payment_reference=payment.reference,
                                                            status=Outcome.SUCCEEDED)
                               .values_list("amount_minor", flat=True))
                left = Money(payment.amount_minor - refunded, payment.currency)
                if request.amount > left:
                    status, code = Outcome.NOT_PROCESSED, "amount_too_large"
                    message = f"only {left} of this payment can still be refunded"
            try:
                with transaction.atomic():
                    refund = SandboxRefund.objects.create(
                        reference=f"sbx_re_{uuid.uuid4().hex[:24]}", account_code=self.account_code,
                        idempotency_key=request.idempotency_key, attempt_id=request.attempt_id,
                        payment_reference=request.payment_reference[:40], amount_minor=request.amount.minor,
                        currency=request.amount.currency, status=status, decline_code=code, message=message)
            except IntegrityError:  # the same key at the same moment: replay the first
                refund = self._refund(idempotency_key=request.idempotency_key)
        return self._refund_result(refund)

    def _refund(self, *, reference: str | None = None, idempotency_key: str | None = None) -> Any:
        from .models import SandboxRefund

        query = SandboxRefund.objects.filter(account_code=self.account_code)
        if reference and (found := query.filter(reference=reference).first()):
            return found
        return query.filter(idempotency_key=idempotency_key).first() if idempotency_key else None

    def _refund_result(self, refund: Any) -> ProviderResult:
        return ProviderResult(outcome=Outcome(refund.status), provider_reference=refund.reference,
                              amount=Money(refund.amount_minor, refund.currency),
                              decline_code=refund.decline_code or None, message=refund.message,
                              raw={"status": refund.status, "refund_of": refund.payment_reference})

    def _result(self, payment: Any) -> ProviderResult:
        return ProviderResult(
            outcome=self._outcome(payment), provider_reference=payment.reference,
            amount=Money(payment.amount_minor, payment.currency), fee=self._fee(payment),
            decline_code=payment.decline_code or None, saved_method=self._method_info(payment),
            raw={"status": payment.status})

    def fetch(self, *, idempotency_key: str, provider_reference: str | None) -> ProviderResult:
        """What became of a checkout, a charge or a refund, found by its reference or its idempotency key."""
        payment = (self._payment(reference=provider_reference) if provider_reference else None) \
            or self._payment(idempotency_key=idempotency_key)
        if payment is not None:
            return self._result(self._current(payment))
        if refund := self._refund(reference=provider_reference, idempotency_key=idempotency_key):
            return self._refund_result(refund)
        return ProviderResult(outcome=Outcome.NOT_PROCESSED, message="no such payment")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent | None:
        given = next((value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER.lower()), "")
        if not given or not hmac.compare_digest(given, sign(self.secret, body)):
            raise ForgedWebhook("signature does not verify")
        data = json.loads(body)
        if abs(time.time() - int(data.get("created", 0))) > TOLERANCE_SECONDS:
            raise ForgedWebhook("stale notification")
        if data.get("type") != "payment.updated":
            return None
        payment = data["payment"]
        status = payment["status"]
        outcome = Outcome.PENDING if status in ("open", "authenticating") else Outcome(status)
        return ProviderEvent(
            event_id=data["id"], provider_reference=payment["reference"], outcome=outcome,
            occurred_at=datetime.fromtimestamp(int(data["created"]), tz=UTC), attempt_id=payment["attempt_id"],
            amount=Money(payment["amount_minor"], payment["currency"]),
            fee=Money(payment["fee_minor"], payment["currency"]) if payment.get("fee_minor") else None,
            decline_code=payment.get("decline_code") or None,
            saved_method=SavedMethodInfo(**payment["saved_method"]) if payment.get("saved_method") else None,
            raw=data)
