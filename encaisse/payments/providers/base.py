"""What a payment provider adapter does, and all that it does.

An adapter translates between Encaisse and one provider's documented API. It
keeps no state in our database and makes no decisions: it never changes a
payment's status, never retries on its own and never sends mail. The payments
services do those things the same way for every provider, so the rules about
money live in one place. Adapters import nothing from Encaisse but this module
and core.money: they are tested against local fake servers speaking the
provider's protocol, with no database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from encaisse.core.money import Money


class Outcome(enum.StrEnum):
    """What is known about a request once the provider, or the network, has answered."""

    SUCCEEDED = "succeeded"  # the provider confirms the money moved
    PENDING = "pending"  # accepted; the final answer comes by webhook or by fetch()
    DECLINED = "declined"  # the provider said no: card refused, no funds, fraud rules
    NOT_PROCESSED = "not_processed"  # certainly no effect: never reached it, or rejected as invalid
    UNKNOWN = "unknown"  # sent, but no usable answer (timeout, 5xx): ask with fetch(), never re-send under a new key


class Capability(enum.StrEnum):
    HOSTED_CHECKOUT = "hosted_checkout"  # Pay button, portal redirect
    SAVED_METHOD = "saved_method"  # charge a stored token off-session
    SAVE_METHOD = "save_method"  # keep a method while paying or on its own (SetupIntent, vault, alias)
    SETUP_WITHOUT_PAYMENT = "setup_without_payment"  # keep a method on a hosted page with no payment: start_setup()
    REFUND = "refund"
    PARTIAL_REFUND = "partial_refund"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutRequest:
    attempt_id: str  # ours (a UUID as text); sent as provider metadata so webhooks and returns lead back to it
    idempotency_key: str  # stored on the attempt before the first call, reused on every retry
    amount: Money
    reference: str  # the invoice number(s) or deposit reference, shown to the payer
    description: str
    payer_email: str
    return_url: str  # where the provider sends the payer back (success or not: we check, never trust)
    cancel_url: str
    notify_url: str  # our webhook / notification URL for this provider account
    save_method: bool = False  # the payer consented to keep the method for later automatic payments
    customer_token: str | None = None  # the provider's customer id, when known
    locale: str = "fr"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupRequest:
    """A hosted page that keeps a payment method for later and takes no money (the payer consented first)."""

    attempt_id: str  # ours; sent as provider metadata so webhooks and returns lead back to it
    idempotency_key: str  # stored on the attempt before the first call, reused on every retry
    currency: str  # the currency later charges will be in (some providers check the card against it)
    payer_email: str
    return_url: str  # where the provider sends the payer back (success or not: we check, never trust)
    cancel_url: str
    notify_url: str
    customer_token: str | None = None  # the provider's customer id, when known
    locale: str = "fr"


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckoutSession:
    redirect_url: str  # send the payer there
    provider_reference: str  # the provider's id of the session / order / operation
    raw: Mapping[str, object] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeRequest:
    attempt_id: str
    idempotency_key: str
    amount: Money
    method_token: str  # the provider's saved-method reference; never a card number
    customer_token: str | None
    statement_label: str  # what the customer sees on their bank statement, where supported


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundRequest:
    attempt_id: str
    idempotency_key: str
    amount: Money
    payment_reference: str  # the provider's id of the payment being refunded
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SavedMethodInfo:
    """What we keep of a saved method: the token and what a person needs to recognise it."""

    token: str
    customer_token: str | None = None
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderResult:
    outcome: Outcome
    provider_reference: str | None = None  # the provider's id for this operation
    amount: Money | None = None  # as the provider reports it
    fee: Money | None = None  # booked to the provider-fees account
    decline_code: str | None = None  # the provider's code, for staff and for retry policy
    message: str = ""  # for staff; customers see our own wording
    saved_method: SavedMethodInfo | None = None  # when the payer chose to keep the method
    raw: Mapping[str, object] = field(default_factory=dict, repr=False)  # kept for audit (never card data)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderEvent:
    """A notification whose signature checked out, translated into our terms."""

    event_id: str  # the provider's event id: our deduplication key
    provider_reference: str  # leads back to the attempt (session, order, operation or payment id)
    outcome: Outcome
    occurred_at: datetime
    attempt_id: str | None = None  # our attempt id when the provider echoes our metadata
    amount: Money | None = None
    fee: Money | None = None
    decline_code: str | None = None
    saved_method: SavedMethodInfo | None = None
    raw: Mapping[str, object] = field(default_factory=dict, repr=False)


class CheckoutNotStarted(Exception):
    """The provider opened no payment page; `result` says whether one may exist anyway (UNKNOWN) or not.

    start_checkout() has no outcome to return, so it raises this, and the
    payments service records `result` on the attempt like any other answer.
    """

    def __init__(self, result: ProviderResult) -> None:
        super().__init__(result.message or result.outcome.value)
        self.result = result


class ForgedWebhook(Exception):
    """The body did not verify against the account's signing secret, or is too old."""


class PaymentProvider(Protocol):
    code: ClassVar[str]  # "sandbox", "stripe", "ogone", "paypal", "payfip", "offline"
    capabilities: ClassVar[frozenset[Capability]]

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Open a hosted payment page and say where to send the payer."""
        ...

    def start_setup(self, request: SetupRequest) -> CheckoutSession:
        """Open a hosted page that keeps a method without paying, and say where to send the payer.

        Only adapters declaring Capability.SETUP_WITHOUT_PAYMENT define it
        (those that can keep a method only while paying do not). Same rules as
        start_checkout(): one page per idempotency key, CheckoutNotStarted when
        none was opened. The result (fetch, notification) carries the kept
        method in `saved_method` and no amount: no money moves.
        """
        ...

    def charge(self, request: ChargeRequest) -> ProviderResult:
        """Charge a saved method off-session.

        Declines and network faults are outcomes, not exceptions. Raising is
        reserved for our own bugs, such as a request the adapter cannot build.
        """
        ...

    def refund(self, request: RefundRequest) -> ProviderResult:
        """Refund all or part of a payment; same outcome rules as charge()."""
        ...

    def fetch(self, *, idempotency_key: str, provider_reference: str | None) -> ProviderResult:
        """Ask the provider what became of an earlier request (PENDING or UNKNOWN)."""
        ...

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent | None:
        """Verify and translate one notification.

        Raise ForgedWebhook if the signature does not verify (or is stale).
        Return None for event types Encaisse does not use, so the caller can
        answer 200 and move on.
        """
        ...
