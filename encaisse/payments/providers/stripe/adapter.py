"""Stripe through its official SDK, translated into Encaisse's outcomes.

Why it is built this way:

- The SDK client never retries (``max_network_retries=0``). Retrying is the
  payments service's decision, always under the same idempotency key, so a
  retry can never become a second charge.
- Every create carries the request's idempotency key. Stripe saves the first
  answer under a key for at least 24 hours and replays it, even a 500. Our
  attempt id and the key also go into the object's metadata, so a webhook
  leads back to the attempt and a lost answer can be found again.
- ``fetch`` without a reference: the answer to the first request was lost
  (a timeout, for example), so we never learned Stripe's id. We search
  PaymentIntents for the idempotency key in their metadata. Stripe's search
  index lags (under a minute usually, up to an hour in an outage), so when
  nothing is found the outcome stays UNKNOWN, never NOT_PROCESSED. Refunds and
  Checkout Sessions cannot be searched. For those, send the same request again
  under the same key and Stripe replays the first answer.
- Webhooks are verified on the raw body against the endpoint's signing secret
  with a 300-second tolerance, then read as plain JSON. Two event types need
  one extra lookup (fee, saved card). If that lookup fails, the error is
  raised: the view answers 5xx and Stripe sends the event again later.
- Amounts are in minor units on both sides. Stripe's minor unit is the ISO
  4217 one for the currencies Encaisse uses (EUR, and the usual zero-decimal
  ones). A few currencies differ (Stripe's HUF and TWD); they are not
  supported here.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
import stripe
import urllib3

from encaisse.core.money import Money
from encaisse.payments.providers.base import (
    Capability,
    ChargeRequest,
    CheckoutNotStarted,
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

ATTEMPT_KEY = "encaisse_attempt"
IDEMPOTENCY_KEY = "encaisse_idempotency_key"
WEBHOOK_TOLERANCE_SECONDS = 300
_CHECKOUT_LOCALES = frozenset({"fr", "en"})
_DESCRIPTOR_FORBIDDEN = set("<>\\'\"*")

type Json = dict[str, Any]


class CheckoutUnavailable(CheckoutNotStarted):
    """Stripe did not open the Checkout page; ``result`` says whether it may have.

    start_checkout() has no outcome to return, so it raises. With an UNKNOWN
    result, try again later with the same idempotency key: Stripe replays the
    session it may have created.
    """


class StripeProvider:
    code: ClassVar[str] = "stripe"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.HOSTED_CHECKOUT,
            Capability.SAVED_METHOD,
            Capability.SAVE_METHOD,
            Capability.SETUP_WITHOUT_PAYMENT,
            Capability.REFUND,
            Capability.PARTIAL_REFUND,
        }
    )

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._stripe = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,  # the fake server, in tests
            max_network_retries=0,  # retrying is the payments service's decision, under the same key
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )
        self._webhook_secret = webhook_secret

    # -- Hosted pages ------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Open a Checkout Session for one payment; with save_method, keep the card for off-session use."""
        metadata = _metadata(request.attempt_id, request.idempotency_key)
        product: Json = {"name": request.reference}
        if request.description:
            product["description"] = request.description
        intent_data: Json = {"metadata": metadata}
        if request.description:
            intent_data["description"] = request.description
        params: Json = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.amount.currency.lower(),
                        "unit_amount": request.amount.minor,
                        "product_data": product,
                    },
                }
            ],
            "client_reference_id": request.attempt_id,
            "metadata": metadata,
            "payment_intent_data": intent_data,
            "success_url": request.return_url,
            "cancel_url": request.cancel_url,
            "locale": _checkout_locale(request.locale),
        }
        if request.customer_token:
            params["customer"] = request.customer_token
        else:
            params["customer_email"] = request.payer_email
        if request.save_method:
            intent_data["setup_future_usage"] = "off_session"
            if not request.customer_token:
                # A card kept for later must belong to a customer, or it can be used only once.
                params["customer_creation"] = "always"
        return self._open_session(params, request.idempotency_key)

    def start_setup(self, request: SetupRequest) -> CheckoutSession:
        """Open a Checkout page that saves a card without paying (setup mode, a SetupIntent).

        The saved card arrives with the ``setup_intent.succeeded`` webhook, and
        fetch() of the session (or of the SetupIntent) finds it too. Setup mode
        does not create a customer, so one is created first when none is known,
        under a key derived from the request's own key so a retry finds the
        same customer.
        """
        metadata = _metadata(request.attempt_id, request.idempotency_key)
        customer_token = request.customer_token
        if customer_token is None:
            try:
                customer = self._stripe.v1.customers.create(
                    params={"email": request.payer_email, "metadata": metadata},
                    options={"idempotency_key": f"{request.idempotency_key}:customer"},
                )
            except stripe.StripeError as error:
                raise CheckoutUnavailable(_result_from_error(error)) from error
            customer_token = customer.id
        params: Json = {
            "mode": "setup",
            "currency": request.currency.lower(),
            "customer": customer_token,
            "client_reference_id": request.attempt_id,
            "metadata": metadata,
            "setup_intent_data": {"metadata": metadata},
            "success_url": request.return_url,
            "cancel_url": request.cancel_url,
            "locale": _checkout_locale(request.locale),
        }
        return self._open_session(params, request.idempotency_key)

    def _open_session(self, params: Json, idempotency_key: str) -> CheckoutSession:
        try:
            session = self._stripe.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]  # built as plain data, checked by Stripe
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise CheckoutUnavailable(_result_from_error(error)) from error
        data = session.to_dict()
        return CheckoutSession(redirect_url=data["url"], provider_reference=data["id"], raw=data)

    # -- Off-session charges and refunds -----------------------------------

    def charge(self, request: ChargeRequest) -> ProviderResult:
        params: Json = {
            "amount": request.amount.minor,
            "currency": request.amount.currency.lower(),
            "payment_method": request.method_token,
            "confirm": True,
            "off_session": True,
            # Nobody is there to follow a redirect; a saved card or SEPA mandate needs none.
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": _metadata(request.attempt_id, request.idempotency_key),
            "expand": ["latest_charge.balance_transaction"],
        }
        if request.customer_token:
            params["customer"] = request.customer_token
        suffix = _descriptor_suffix(request.statement_label)
        if suffix:
            params["statement_descriptor_suffix"] = suffix
        try:
            intent = self._stripe.v1.payment_intents.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as error:
            return _result_from_error(error)
        return _result_from_intent(intent.to_dict())

    def refund(self, request: RefundRequest) -> ProviderResult:
        """Refund part or all of a payment, named by its PaymentIntent or its Checkout Session."""
        try:
            intent_id = self._intent_of(request.payment_reference)
        except stripe.StripeError as error:
            return _result_from_error(error)
        if intent_id is None:
            return ProviderResult(
                outcome=Outcome.NOT_PROCESSED,
                message=f"{request.payment_reference} has no payment to refund",
            )
        metadata = _metadata(request.attempt_id, request.idempotency_key)
        if request.reason:
            metadata["encaisse_reason"] = request.reason[:500]
        try:
            refund = self._stripe.v1.refunds.create(
                params={"payment_intent": intent_id, "amount": request.amount.minor, "metadata": metadata},
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as error:
            return _result_from_error(error)
        return _result_from_refund(refund.to_dict())

    def _intent_of(self, reference: str) -> str | None:
        if not reference.startswith("cs_"):
            return reference
        session = self._stripe.v1.checkout.sessions.retrieve(reference).to_dict()
        intent = session.get("payment_intent")
        return intent if isinstance(intent, str) or intent is None else intent["id"]

    # -- Asking again ------------------------------------------------------

    def fetch(self, *, idempotency_key: str, provider_reference: str | None) -> ProviderResult:
        """Ask what became of a request; any failure to answer leaves it UNKNOWN."""
        try:
            if provider_reference is None:
                return self._find_by_key(idempotency_key)
            if provider_reference.startswith("cs_"):
                session = self._stripe.v1.checkout.sessions.retrieve(
                    provider_reference,
                    params={
                        "expand": [
                            "payment_intent.latest_charge.balance_transaction",
                            "payment_intent.payment_method",
                            "setup_intent.payment_method",
                        ]
                    },
                )
                return _result_from_session(session.to_dict())
            if provider_reference.startswith("re_"):
                return _result_from_refund(self._stripe.v1.refunds.retrieve(provider_reference).to_dict())
            if provider_reference.startswith("seti_"):
                setup = self._stripe.v1.setup_intents.retrieve(
                    provider_reference, params={"expand": ["payment_method"]}
                )
                return _result_from_setup_intent(setup.to_dict())
            intent = self._stripe.v1.payment_intents.retrieve(
                provider_reference, params={"expand": ["latest_charge.balance_transaction", "payment_method"]}
            )
            return _result_from_intent(intent.to_dict())
        except stripe.StripeError as error:
            return ProviderResult(outcome=Outcome.UNKNOWN, message=_staff_message(error))

    def _find_by_key(self, idempotency_key: str) -> ProviderResult:
        found = self._stripe.v1.payment_intents.search(
            params={
                "query": f"metadata['{IDEMPOTENCY_KEY}']:'{_quoted(idempotency_key)}'",
                "expand": ["data.latest_charge.balance_transaction"],
            }
        ).to_dict()
        intents = found.get("data") or []
        if not intents:
            return ProviderResult(
                outcome=Outcome.UNKNOWN,
                message="No PaymentIntent carries this key yet (Stripe's search lags; ask again later).",
            )
        return _result_from_intent(intents[0])

    # -- Webhooks ----------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent | None:
        """Verify, then translate; a ``stripe.StripeError`` from a follow-up lookup means "answer 5xx".

        Stripe redelivers an event for three days until it gets a 2xx, so a
        lookup that fails now (fee, saved card) is better retried than lost.
        """
        signature = _header(headers, "Stripe-Signature")
        try:
            stripe.WebhookSignature.verify_header(
                body, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
            event = json.loads(body)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as error:
            raise ForgedWebhook(str(error)) from error
        handler = _WEBHOOK_HANDLERS.get(event.get("type", ""))
        if handler is None:
            return None
        return handler(self, event, event["data"]["object"])

    def _on_session_completed(self, event: Json, session: Json) -> ProviderEvent | None:
        if session.get("mode") != "payment":
            return None  # a setup-mode session is reported by setup_intent.succeeded
        if session.get("payment_status") != "paid":
            return _event(
                event, session["id"], Outcome.PENDING, attempt_id=_attempt_of(session), amount=_total(session)
            )
        intent = self._expanded_intent(session.get("payment_intent"))
        return _event(
            event,
            session["id"],
            Outcome.SUCCEEDED,
            attempt_id=_attempt_of(session),
            amount=_total(session),
            fee=_fee(intent) if intent else None,
            saved_method=_saved_method(intent) if intent else None,
        )

    def _on_session_async(self, event: Json, session: Json) -> ProviderEvent:
        succeeded = event["type"] == "checkout.session.async_payment_succeeded"
        intent = self._expanded_intent(session.get("payment_intent"))
        failure = (intent or {}).get("last_payment_error") or {}
        return _event(
            event,
            session["id"],
            Outcome.SUCCEEDED if succeeded else Outcome.DECLINED,
            attempt_id=_attempt_of(session),
            amount=_total(session),
            fee=_fee(intent) if intent and succeeded else None,
            decline_code=None if succeeded else (_code_of(failure) or "async_payment_failed"),
            saved_method=_saved_method(intent) if intent and succeeded else None,
        )

    def _on_intent(self, event: Json, intent: Json) -> ProviderEvent:
        if event["type"] == "payment_intent.succeeded":
            intent = self._expanded_intent(intent["id"]) or intent
        result = _result_from_intent(intent)
        return _event(
            event,
            intent["id"],
            result.outcome,
            attempt_id=_attempt_of(intent),
            amount=result.amount,
            fee=result.fee,
            decline_code=result.decline_code,
            saved_method=_saved_method(intent),
        )

    def _on_charge_refunded(self, event: Json, charge: Json) -> ProviderEvent:
        """The payment was refunded by ``amount_refunded`` in all; the refund itself has its own id."""
        return _event(
            event,
            charge.get("payment_intent") or charge["id"],
            Outcome.SUCCEEDED,
            amount=Money(int(charge["amount_refunded"]), charge["currency"].upper()),
        )

    def _on_refund(self, event: Json, refund: Json) -> ProviderEvent:
        result = _result_from_refund(refund)
        return _event(
            event,
            refund["id"],
            result.outcome,
            attempt_id=_attempt_of(refund),
            amount=result.amount,
            decline_code=result.decline_code,
        )

    def _on_setup_succeeded(self, event: Json, setup: Json) -> ProviderEvent:
        method = setup.get("payment_method")
        if isinstance(method, str):
            method = self._stripe.v1.payment_methods.retrieve(method).to_dict()
        return _event(
            event,
            setup["id"],
            Outcome.SUCCEEDED,
            attempt_id=_attempt_of(setup),
            saved_method=_method_info(method, setup.get("customer")) if method else None,
        )

    def _expanded_intent(self, intent: str | Json | None) -> Json | None:
        if intent is None:
            return None
        intent_id = intent if isinstance(intent, str) else intent["id"]
        return self._stripe.v1.payment_intents.retrieve(
            intent_id, params={"expand": ["latest_charge.balance_transaction", "payment_method"]}
        ).to_dict()


_WEBHOOK_HANDLERS = {
    "checkout.session.completed": StripeProvider._on_session_completed,
    "checkout.session.async_payment_succeeded": StripeProvider._on_session_async,
    "checkout.session.async_payment_failed": StripeProvider._on_session_async,
    "payment_intent.succeeded": StripeProvider._on_intent,
    "payment_intent.payment_failed": StripeProvider._on_intent,
    "payment_intent.processing": StripeProvider._on_intent,
    "charge.refunded": StripeProvider._on_charge_refunded,
    "refund.updated": StripeProvider._on_refund,
    "refund.failed": StripeProvider._on_refund,
    "setup_intent.succeeded": StripeProvider._on_setup_succeeded,
}


# -- Translation of Stripe's objects into results ---------------------------


def _result_from_intent(intent: Json) -> ProviderResult:
    status = intent.get("status")
    failure = intent.get("last_payment_error") or {}
    outcome, code = Outcome.UNKNOWN, None
    if status == "succeeded":
        outcome = Outcome.SUCCEEDED
    elif status in ("processing", "requires_capture"):
        outcome = Outcome.PENDING
    elif status == "requires_action":
        # Off-session, nobody can complete 3-D Secure: ask the customer to pay on-session.
        outcome, code = Outcome.DECLINED, "authentication_required"
    elif status == "requires_payment_method" and failure:
        outcome, code = Outcome.DECLINED, _code_of(failure)
    elif status == "canceled":
        outcome, code = Outcome.DECLINED, intent.get("cancellation_reason") or "canceled"
    elif status in ("requires_payment_method", "requires_confirmation"):
        outcome = Outcome.NOT_PROCESSED  # never confirmed: no money can move under it
    return ProviderResult(
        outcome=outcome,
        provider_reference=intent["id"],
        amount=Money(int(intent["amount"]), intent["currency"].upper()),
        fee=_fee(intent) if outcome is Outcome.SUCCEEDED else None,
        decline_code=code,
        message=failure.get("message", "") if code else "",
        raw=intent,
    )


def _result_from_refund(refund: Json) -> ProviderResult:
    status = refund.get("status")
    code = None
    if status == "succeeded":
        outcome = Outcome.SUCCEEDED
    elif status in ("pending", "requires_action"):
        outcome = Outcome.PENDING
    elif status in ("failed", "canceled"):
        outcome, code = Outcome.DECLINED, refund.get("failure_reason") or status
    else:
        outcome = Outcome.UNKNOWN
    return ProviderResult(
        outcome=outcome,
        provider_reference=refund["id"],
        amount=Money(int(refund["amount"]), refund["currency"].upper()),
        decline_code=code,
        raw=refund,
    )


def _result_from_session(session: Json) -> ProviderResult:
    intent = session.get("payment_intent")
    intent = intent if isinstance(intent, dict) else None
    status, paid = session.get("status"), session.get("payment_status")
    code = None
    if session.get("mode") == "setup":
        setup = session.get("setup_intent")
        if status == "complete" and isinstance(setup, dict):
            result = _result_from_setup_intent(setup)
            return ProviderResult(
                outcome=result.outcome,
                provider_reference=session["id"],
                saved_method=result.saved_method,
                raw=session,
            )
    if status == "complete" and paid in ("paid", "no_payment_required"):
        outcome = Outcome.SUCCEEDED
    elif status == "complete" and intent is not None:
        # An asynchronous method (SEPA debit): processing, then a verdict.
        verdict = _result_from_intent(intent)
        outcome, code = verdict.outcome, verdict.decline_code
        if outcome is Outcome.NOT_PROCESSED:
            outcome = Outcome.PENDING
    elif status == "expired":
        outcome = Outcome.NOT_PROCESSED  # the payer never paid and no longer can
    else:
        outcome = Outcome.PENDING  # the page is still open
    succeeded = outcome is Outcome.SUCCEEDED
    return ProviderResult(
        outcome=outcome,
        provider_reference=session["id"],
        amount=_total(session),
        fee=_fee(intent) if intent and succeeded else None,
        decline_code=code if outcome is Outcome.DECLINED else None,
        saved_method=_saved_method(intent) if intent and succeeded else None,
        raw=session,
    )


def _result_from_setup_intent(setup: Json) -> ProviderResult:
    status = setup.get("status")
    failure = setup.get("last_setup_error") or {}
    method = setup.get("payment_method")
    code = None
    if status == "succeeded":
        outcome = Outcome.SUCCEEDED
    elif status == "processing":
        outcome = Outcome.PENDING
    elif status in ("requires_payment_method", "canceled") and (failure or status == "canceled"):
        outcome, code = Outcome.DECLINED, _code_of(failure) or status
    else:
        outcome = Outcome.PENDING
    return ProviderResult(
        outcome=outcome,
        provider_reference=setup["id"],
        decline_code=code,
        saved_method=_method_info(method, setup.get("customer"))
        if outcome is Outcome.SUCCEEDED and isinstance(method, dict)
        else None,
        raw=setup,
    )


def _result_from_error(error: stripe.StripeError) -> ProviderResult:
    """Sort Stripe's errors by what they prove about money having moved."""
    body = (error.json_body or {}).get("error", {}) if isinstance(error.json_body, dict) else {}
    message = _staff_message(error)
    if isinstance(error, stripe.CardError):
        intent = body.get("payment_intent") or {}
        return ProviderResult(
            outcome=Outcome.DECLINED,
            provider_reference=intent.get("id"),
            decline_code=_code_of(body) or "card_declined",
            message=message,
            raw=body,
        )
    if isinstance(error, stripe.IdempotencyError):
        # The key was used before with other parameters: what happened under it is a question for fetch().
        return ProviderResult(outcome=Outcome.UNKNOWN, message=message, raw=body)
    if isinstance(
        error, stripe.RateLimitError | stripe.AuthenticationError | stripe.PermissionError | stripe.InvalidRequestError
    ):
        # Stripe refused the request itself; nothing was charged.
        return ProviderResult(outcome=Outcome.NOT_PROCESSED, decline_code=body.get("code"), message=message, raw=body)
    if isinstance(error, stripe.APIConnectionError) and _never_sent(error):
        return ProviderResult(outcome=Outcome.NOT_PROCESSED, message=message)
    # A 5xx, a 409 (the same key still being processed), a timeout or a dropped
    # connection: the request may have reached Stripe, and only a lookup can tell.
    return ProviderResult(outcome=Outcome.UNKNOWN, message=message, raw=body)


def _never_sent(error: stripe.APIConnectionError) -> bool:
    """True when the connection itself failed (refused, DNS, connect timeout): no byte reached Stripe."""
    cause = error.__cause__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError):
        for argument in cause.args:
            reason = getattr(argument, "reason", argument)
            if isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
                return True
    return False


def _fee(intent: Json) -> Money | None:
    charge = intent.get("latest_charge")
    if not isinstance(charge, dict):
        return None
    transaction = charge.get("balance_transaction")
    if not isinstance(transaction, dict):
        return None  # not expanded, or not yet available (Stripe fills it in shortly after)
    return Money(int(transaction["fee"]), transaction["currency"].upper())


def _saved_method(intent: Json) -> SavedMethodInfo | None:
    if not intent.get("setup_future_usage"):
        return None
    method = intent.get("payment_method")
    if isinstance(method, str):
        return SavedMethodInfo(token=method, customer_token=_id_of(intent.get("customer")))
    if isinstance(method, dict):
        return _method_info(method, intent.get("customer"))
    return None


def _method_info(method: str | Json, customer: str | Json | None) -> SavedMethodInfo:
    if isinstance(method, str):
        return SavedMethodInfo(token=method, customer_token=_id_of(customer))
    card = method.get("card") or {}
    sepa = method.get("sepa_debit") or {}
    return SavedMethodInfo(
        token=method["id"],
        customer_token=_id_of(customer) or _id_of(method.get("customer")),
        brand=card.get("brand") or ("sepa_debit" if sepa else ""),
        last4=card.get("last4") or sepa.get("last4") or "",
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
    )


def _event(
    event: Json,
    reference: str,
    outcome: Outcome,
    *,
    attempt_id: str | None = None,
    amount: Money | None = None,
    fee: Money | None = None,
    decline_code: str | None = None,
    saved_method: SavedMethodInfo | None = None,
) -> ProviderEvent:
    return ProviderEvent(
        event_id=event["id"],
        provider_reference=reference,
        outcome=outcome,
        occurred_at=datetime.fromtimestamp(int(event["created"]), tz=UTC),
        attempt_id=attempt_id,
        amount=amount,
        fee=fee,
        decline_code=decline_code,
        saved_method=saved_method,
        raw=event,
    )


def _metadata(attempt_id: str, idempotency_key: str) -> dict[str, str]:
    return {ATTEMPT_KEY: str(attempt_id), IDEMPOTENCY_KEY: idempotency_key}


def _attempt_of(obj: Json) -> str | None:
    return (obj.get("metadata") or {}).get(ATTEMPT_KEY) or obj.get("client_reference_id")


def _total(session: Json) -> Money | None:
    if session.get("amount_total") is None or not session.get("currency"):
        return None
    return Money(int(session["amount_total"]), session["currency"].upper())


def _code_of(error: Json) -> str | None:
    return error.get("decline_code") or error.get("code")


def _id_of(value: str | Json | None) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def _staff_message(error: stripe.StripeError) -> str:
    return f"{type(error).__name__}: {error.user_message or ''}".strip()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _checkout_locale(locale: str) -> str:
    language = locale.split("-")[0].split("_")[0].lower()
    return language if language in _CHECKOUT_LOCALES else "auto"


def _descriptor_suffix(label: str) -> str:
    """Stripe's statement suffix: Latin letters only, none of < > \\ ' " *, at most 22 characters."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_label if c not in _DESCRIPTOR_FORBIDDEN).strip()[:22].strip()
