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
A pending payment takes its final status `settle_after_seconds` after the card
was entered, the next time anyone asks (fetch) — as a real provider would
answer a later look-up. No card number is kept: only the scenario it chose.

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
}


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SandboxProvider:
    code: ClassVar[str] = "sandbox"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.HOSTED_CHECKOUT})

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

    def enter_card(self, payment: Any, card_number: str) -> bool:
        """The payer typed a card on the hosted page; False if it is not a test card."""
        scenario = TEST_CARDS.get("".join(card_number.split()))
        if scenario is None or payment.status != "open":
            return False
        payment.status, payment.final_status, payment.decline_code = scenario
        if payment.status == Outcome.PENDING:
            payment.settles_at = timezone.now() + self.settle_after
        payment.save(update_fields=["status", "final_status", "decline_code", "settles_at"])
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
        if payment.status == Outcome.SUCCEEDED and self.fee_minor:
            return Money(self.fee_minor, payment.currency)
        return None

    def notification(self, payment: Any) -> tuple[bytes, dict[str, str]]:
        """The signed notification the sandbox sends about a payment's current status."""
        body = json.dumps({
            "id": f"evt_{payment.reference}_{payment.status}",
            "type": "payment.updated",
            "created": int(time.time()),
            "payment": {
                "reference": payment.reference, "attempt_id": payment.attempt_id, "status": payment.status,
                "amount_minor": payment.amount_minor, "currency": payment.currency,
                "fee_minor": self._fee(payment).minor if self._fee(payment) else 0,
                "decline_code": payment.decline_code,
            },
        }, separators=(",", ":")).encode()
        return body, {SIGNATURE_HEADER: sign(self.secret, body)}

    # --- the adapter interface ----------------------------------------------------------------------------
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        from encaisse.payments.models import SandboxPayment

        payment = self._payment(idempotency_key=request.idempotency_key)
        if payment is None:
            try:
                with transaction.atomic():
                    payment = SandboxPayment.objects.create(
                        reference=f"sbx_{uuid.uuid4().hex[:24]}", account_code=self.account_code,
                        idempotency_key=request.idempotency_key, attempt_id=request.attempt_id,
                        amount_minor=request.amount.minor, currency=request.amount.currency,
                        description=request.description[:255], return_url=request.return_url,
                        notify_url=request.notify_url)
            except IntegrityError:  # the same key at the same moment: replay the first
                payment = self._payment(idempotency_key=request.idempotency_key)
        return CheckoutSession(redirect_url=f"{self.page_url}{payment.reference}/",
                               provider_reference=payment.reference, raw={"reference": payment.reference})

    def charge(self, request: ChargeRequest) -> ProviderResult:
        return ProviderResult(outcome=Outcome.NOT_PROCESSED, message="the sandbox keeps no saved methods")

    def refund(self, request: RefundRequest) -> ProviderResult:
        return ProviderResult(outcome=Outcome.NOT_PROCESSED, message="the sandbox does not refund")

    def fetch(self, *, idempotency_key: str, provider_reference: str | None) -> ProviderResult:
        payment = self._payment(reference=provider_reference, idempotency_key=idempotency_key)
        if payment is None:
            return ProviderResult(outcome=Outcome.NOT_PROCESSED, message="no such payment")
        payment = self._current(payment)
        return ProviderResult(
            outcome=self._outcome(payment), provider_reference=payment.reference,
            amount=Money(payment.amount_minor, payment.currency), fee=self._fee(payment),
            decline_code=payment.decline_code or None, raw={"status": payment.status})

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
            decline_code=payment.get("decline_code") or None, raw=data)
