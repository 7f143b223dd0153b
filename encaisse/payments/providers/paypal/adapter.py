"""PayPal through the Orders v2 and Payments v2 REST APIs, spoken with httpx.

The payer approves an order on PayPal's page; nothing moves until the order is
captured. Capturing is part of fetch(): when the payer comes back (or the
periodic task re-asks), fetch() reads the order and, if it is APPROVED,
captures it with a PayPal-Request-Id derived from the attempt's idempotency
key. PayPal answers a repeated request id with the first capture, so a second
return from the same tab, a second tab, or a retry after a timeout all capture
once. The return URL's parameters are never trusted: only the order as PayPal
reports it counts.

Saved methods are PayPal's vault. A checkout the payer agreed to keep asks
PayPal to store the account once the payment succeeds (store_in_vault
ON_SUCCESS); the captured order then names the vault id and PayPal's customer
id. A later charge creates an order paid from that vault id, which PayPal
captures at once without the payer, under the attempt's key as
PayPal-Request-Id. Only the two ids are kept: the payer's PayPal email is
never logged or stored by this adapter.

Webhooks are verified by PayPal itself (POST
/v1/notifications/verify-webhook-signature), which is the verification PayPal
documents for REST webhooks. The event id is the deduplication key.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import httpx

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
)

# PayPal refuses decimals for these currencies even where ISO 4217 has a minor unit.
_WHOLE_UNIT_CURRENCIES = frozenset({"HUF", "JPY", "TWD"})

# Answers that mean "the payer's funding was refused", as opposed to a request we built badly.
_DECLINE_ISSUES = frozenset({
    "INSTRUMENT_DECLINED",
    "TRANSACTION_REFUSED",
    "CARD_EXPIRED",
    "PAYER_CANNOT_PAY",
    "PAYEE_BLOCKED_TRANSACTION",
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING",
    "COMPLIANCE_VIOLATION",
})

# Capture answers meaning the payer still has to approve (again): the order may yet be paid.
_AWAITING_PAYER_ISSUES = frozenset({"ORDER_NOT_APPROVED", "PAYER_ACTION_REQUIRED"})

# Off-session nobody is there to approve: PayPal asking for the payer is a refusal of this charge.
_CHARGE_DECLINE_ISSUES = _DECLINE_ISSUES | {"PAYER_ACTION_REQUIRED"}

# What a checkout asks PayPal when the payer agreed to keep the method: save the account once the
# payment succeeds, for payments the merchant starts later (usage MERCHANT) without the payer present.
_VAULT_ON_SUCCESS = {"store_in_vault": "ON_SUCCESS", "usage_type": "MERCHANT", "customer_type": "CONSUMER"}

_CAPTURE_OUTCOMES = {
    "COMPLETED": Outcome.SUCCEEDED,
    # Refunds are their own operations: the capture itself did move the money.
    "PARTIALLY_REFUNDED": Outcome.SUCCEEDED,
    "REFUNDED": Outcome.SUCCEEDED,
    "PENDING": Outcome.PENDING,
    "DECLINED": Outcome.DECLINED,
    "FAILED": Outcome.DECLINED,
}

_REFUND_OUTCOMES = {
    "COMPLETED": Outcome.SUCCEEDED,
    "PENDING": Outcome.PENDING,
    "FAILED": Outcome.DECLINED,
    "CANCELLED": Outcome.DECLINED,
}

# Webhook event types Encaisse acts on; every other type is acknowledged and ignored.
_EVENT_OUTCOMES = {
    "PAYMENT.CAPTURE.COMPLETED": Outcome.SUCCEEDED,
    "PAYMENT.CAPTURE.PENDING": Outcome.PENDING,
    "PAYMENT.CAPTURE.DENIED": Outcome.DECLINED,
    "PAYMENT.CAPTURE.DECLINED": Outcome.DECLINED,
    # The payer approved; the capture (done by fetch) is what moves the money.
    "CHECKOUT.ORDER.APPROVED": Outcome.PENDING,
    # The resource is the refund; its own status says whether it went through.
    "PAYMENT.CAPTURE.REFUNDED": Outcome.SUCCEEDED,
    # The resource is the order with its captures: the last capture's status is the outcome.
    "CHECKOUT.ORDER.COMPLETED": Outcome.SUCCEEDED,
    # A PayPal account saved once its payment succeeded. The payment itself (amount, fee) is read
    # from the order by fetch, so this event only brings the saved method and asks for a refresh.
    "VAULT.PAYMENT-TOKEN.CREATED": Outcome.PENDING,
}

_TRANSMISSION_HEADERS = {
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "cert_url": "PAYPAL-CERT-URL",
    "auth_algo": "PAYPAL-AUTH-ALGO",
}

# Repeats a PayPal-Request-Id to learn what became of the first request; as a new request it is invalid
# (no purchase unit), so PayPal creates nothing under a key it never saw.
_LOOKUP_BODY = {"intent": "CAPTURE", "purchase_units": []}

# A token is renewed this long before PayPal says it expires, so a call never starts with a dying one.
_TOKEN_MARGIN_SECONDS = 60


class WebhookNotVerified(ForgedWebhook):
    """PayPal's verification call could not be made: nothing is recorded and PayPal delivers again later."""


class _NoAnswer(Exception):
    """No usable HTTP answer; `outcome` is NOT_PROCESSED if the request never left, else UNKNOWN."""

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def paypal_amount(amount: Money) -> dict[str, str]:
    """Return PayPal's amount object: ISO currency code and the value as a decimal string."""
    value = amount.to_decimal()
    if amount.currency in _WHOLE_UNIT_CURRENCIES:
        if value != value.to_integral_value():
            raise ValueError(f"PayPal takes whole {amount.currency} only, not {value}")
        value = value.quantize(Decimal(1))
    return {"currency_code": amount.currency, "value": str(value)}


def money_of(amount: Mapping[str, Any] | None) -> Money | None:
    if not amount or "value" not in amount:
        return None
    return Money.of(str(amount["value"]), str(amount["currency_code"]))


def _issue(body: Mapping[str, Any]) -> str:
    """Return the most precise error code of a PayPal error body (details[0].issue, else name)."""
    details = body.get("details") or []
    if details and isinstance(details[0], Mapping) and details[0].get("issue"):
        return str(details[0]["issue"])
    return str(body.get("name") or "")


def _error_result(status: int, body: Mapping[str, Any]) -> ProviderResult:
    """Translate a 4xx: a refused funding source is a decline, anything else had no effect."""
    issue = _issue(body)
    message = str(body.get("message") or f"HTTP {status}")
    if status == 409:
        # A request with the same PayPal-Request-Id is still being processed: it may well succeed.
        return ProviderResult(outcome=Outcome.UNKNOWN, decline_code=issue or None, message=message, raw=body)
    if status == 422 and issue in _DECLINE_ISSUES:
        return ProviderResult(outcome=Outcome.DECLINED, decline_code=issue, message=message, raw=body)
    return ProviderResult(outcome=Outcome.NOT_PROCESSED, decline_code=issue or None, message=message, raw=body)


def _parse_time(value: object) -> datetime:
    if not value:
        return datetime.now(UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _capture_result(capture: Mapping[str, Any]) -> ProviderResult:
    status = str(capture.get("status", ""))
    outcome = _CAPTURE_OUTCOMES.get(status, Outcome.UNKNOWN)
    breakdown = capture.get("seller_receivable_breakdown") or {}
    details = capture.get("status_details") or {}
    return ProviderResult(
        outcome=outcome,
        provider_reference=capture.get("id"),
        amount=money_of(capture.get("amount")),
        fee=money_of(breakdown.get("paypal_fee")),
        decline_code=(str(details.get("reason") or status) if outcome is Outcome.DECLINED else None),
        message=f"capture {status}",
        raw=capture,
    )


def saved_method_of(order: Mapping[str, Any]) -> SavedMethodInfo | None:
    """Return the PayPal account the order saved in the vault, if PayPal says it is saved (VAULTED).

    Only PayPal's ids are returned. The account's email, which PayPal also
    sends, is left out on purpose: it is the payer's personal data and the
    brand "paypal" is enough for a person to recognise the method.
    """
    paypal = (order.get("payment_source") or {}).get("paypal") or {}
    vault = (paypal.get("attributes") or {}).get("vault") or {}
    if vault.get("status") != "VAULTED" or not vault.get("id"):
        return None  # not asked, or still APPROVED: VAULT.PAYMENT-TOKEN.CREATED follows
    customer = vault.get("customer") or {}
    return SavedMethodInfo(token=str(vault["id"]), customer_token=str(customer["id"]) if customer.get("id") else None,
                           brand="paypal")


def _captures_of(order: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        capture
        for unit in order.get("purchase_units") or []
        for capture in (unit.get("payments") or {}).get("captures") or []
    ]


class PayPalProvider:
    """One PayPal REST app (client id and secret) and the webhook registered for it.

    Holds an OAuth2 access token in memory until shortly before it expires; no
    other state. Never retries: the payments service decides when to ask again,
    always with the same idempotency key.
    """

    code: ClassVar[str] = "paypal"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({
        Capability.HOSTED_CHECKOUT,
        Capability.SAVE_METHOD,
        Capability.SAVED_METHOD,
        Capability.REFUND,
        Capability.PARTIAL_REFUND,
    })

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        webhook_id: str,
        api_base: str = "https://api-m.sandbox.paypal.com",
        timeout_seconds: float = 10.0,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._webhook_id = webhook_id
        self._api_base = api_base.rstrip("/")
        self._timeout = httpx.Timeout(timeout_seconds)
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"PayPalProvider(client_id={self._client_id!r}, api_base={self._api_base!r})"

    # -- HTTP ---------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; classify a missing answer by whether the request could have arrived."""
        try:
            with httpx.Client(base_url=self._api_base, timeout=self._timeout) as client:
                return client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # No connection was made, so PayPal never saw the request.
            raise _NoAnswer(Outcome.NOT_PROCESSED, f"PayPal unreachable: {error!r}") from error
        except httpx.TransportError as error:
            # Read timeout, dropped connection: PayPal may have acted on it.
            raise _NoAnswer(Outcome.UNKNOWN, f"no answer from PayPal: {error!r}") from error

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token and time.monotonic() < self._token_expires_at:
                return self._token
            response = self._send(
                "POST",
                "/v1/oauth2/token",
                auth=(self._client_id, self._client_secret),
                data={"grant_type": "client_credentials"},
                headers={"Accept": "application/json"},
            )
            if response.status_code != 200:
                # The payment request itself was not sent yet, whatever happened to this one.
                raise _NoAnswer(Outcome.NOT_PROCESSED, f"PayPal token refused: HTTP {response.status_code}")
            body = response.json()
            self._token = str(body["access_token"])
            self._token_expires_at = time.monotonic() + int(body.get("expires_in", 0)) - _TOKEN_MARGIN_SECONDS
            return self._token

    def _api(
        self, method: str, path: str, *, json_body: object = None, request_id: str | None = None,
        content: bytes | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Call the REST API; return (status, body) or raise _NoAnswer.

        A 5xx counts as no answer: PayPal documents that such a request may have
        been carried out, and that retrying under the same request id is safe.
        """
        try:
            token = self._access_token()
        except _NoAnswer as error:
            raise _NoAnswer(Outcome.NOT_PROCESSED, error.message) from error
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Prefer": "return=representation"}
        if request_id is not None:
            headers["PayPal-Request-Id"] = request_id
        if content is None and json_body is not None:
            content = json.dumps(json_body).encode()
        response = self._send(method, path, content=content, headers=headers)
        if response.status_code == 401:
            self._token = None  # revoked or expired early: the next call asks for a new one
        if response.status_code >= 500:
            raise _NoAnswer(Outcome.UNKNOWN, f"PayPal answered HTTP {response.status_code}")
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        return response.status_code, body

    # -- Checkout -------------------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Create a CAPTURE order and return PayPal's approval link.

        The order carries our attempt id as both custom_id and invoice_id (PayPal
        refuses a second payment under the same invoice_id, one more guard
        against paying an attempt twice); the human reference goes in the
        description. The idempotency key is the PayPal-Request-Id, so a retry
        returns the same order. When the payer agreed to keep the method, the
        order asks PayPal to vault the account once the payment succeeds (and
        to attach it to the PayPal customer we already know, if any). Raises
        CheckoutNotStarted when no order can be shown to the payer.
        """
        paypal: dict[str, object] = {"experience_context": {
            "return_url": request.return_url,
            "cancel_url": request.cancel_url,
            "user_action": "PAY_NOW",
            "shipping_preference": "NO_SHIPPING",
            "locale": _paypal_locale(request.locale),
        }}
        if request.save_method:
            attributes: dict[str, object] = {"vault": dict(_VAULT_ON_SUCCESS)}
            if request.customer_token:
                attributes["customer"] = {"id": request.customer_token}
            paypal["attributes"] = attributes
        body = {
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": "default",
                "custom_id": request.attempt_id,
                "invoice_id": request.attempt_id,
                "description": f"{request.reference} {request.description}".strip()[:127],
                "amount": paypal_amount(request.amount),
            }],
            "payment_source": {"paypal": paypal},
        }
        try:
            status, order = self._api("POST", "/v2/checkout/orders", json_body=body,
                                      request_id=request.idempotency_key)
        except _NoAnswer as error:
            raise CheckoutNotStarted(ProviderResult(outcome=error.outcome, message=error.message)) from error
        if status not in (200, 201):
            raise CheckoutNotStarted(_error_result(status, order))
        links = {link.get("rel"): link.get("href") for link in order.get("links") or []}
        approve = links.get("payer-action") or links.get("approve")
        if not order.get("id"):
            raise CheckoutNotStarted(ProviderResult(
                outcome=Outcome.UNKNOWN, message="PayPal answered without an order id", raw=order))
        if not approve:
            # A retry under the same key after the payer already approved: PayPal returns the order
            # as it is now, with nothing left to approve. fetch() with this order id takes it from here.
            raise CheckoutNotStarted(ProviderResult(
                outcome=Outcome.UNKNOWN, provider_reference=str(order["id"]),
                message=f"order {order.get('status')} has nothing left to approve", raw=order))
        return CheckoutSession(redirect_url=str(approve), provider_reference=str(order["id"]), raw=order)

    # -- Fetch (and capture) --------------------------------------------------

    def fetch(self, *, idempotency_key: str, provider_reference: str | None) -> ProviderResult:
        """Say what became of an order, capturing it if the payer approved it.

        provider_reference is the order id from start_checkout, or a capture or
        refund id from an earlier result (a PENDING capture or refund is looked
        up by its own id). The capture is sent with PayPal-Request-Id
        "<idempotency_key>:capture", so however often fetch runs, and from
        however many tabs, PayPal captures once.

        Only an id PayPal does not know (unapproved orders expire) says that
        nothing was paid. Anything else that stops the lookup is UNKNOWN, never
        NOT_PROCESSED, because the payer may have approved in the meantime.

        Without any id (a charge or checkout whose answer never came back),
        the order is looked for under the idempotency key: see
        _find_order_by_key.
        """
        if not provider_reference:
            return self._find_order_by_key(idempotency_key)
        try:
            for path in (f"/v2/checkout/orders/{provider_reference}",
                         f"/v2/payments/captures/{provider_reference}",
                         f"/v2/payments/refunds/{provider_reference}"):
                status, found = self._api("GET", path)
                if status != 404:
                    break
            else:
                return ProviderResult(outcome=Outcome.NOT_PROCESSED, provider_reference=provider_reference,
                                      decline_code=_issue(found) or None, message="not found at PayPal")
            if status != 200:
                return _unknown(provider_reference, _error_result(status, found))
            if "/orders/" in path:
                return self._settle_order(found, idempotency_key)
            if "/captures/" in path:
                return _capture_result(found)
            return _refund_result(found)
        except _NoAnswer as error:
            # No answer to a lookup or a capture: the order's state is still to be learned.
            return ProviderResult(outcome=Outcome.UNKNOWN, provider_reference=provider_reference,
                                  message=error.message)

    def _find_order_by_key(self, idempotency_key: str) -> ProviderResult:
        """Learn what became of an order created under this key whose id never came back.

        PayPal has no lookup by PayPal-Request-Id, but it answers a POST that
        repeats a request id with "the latest status of the previous request".
        The repeat carries a body PayPal cannot act on (no purchase unit), so a
        key PayPal never saw creates nothing and charges nothing. Any answer
        other than an order (or a refusal replayed from a charge) stays
        UNKNOWN: PayPal finding the body invalid does not prove it never saw
        the key, and a refund's key belongs to the refund endpoint, where
        refund() re-sent under the same key gets the first refund back.
        """
        try:
            status, order = self._api("POST", "/v2/checkout/orders", json_body=_LOOKUP_BODY,
                                      request_id=idempotency_key)
            if status in (200, 201) and order.get("id"):
                return self._settle_order(order, idempotency_key,
                                          off_session=_is_off_session(order))
        except _NoAnswer as error:
            return ProviderResult(outcome=Outcome.UNKNOWN, message=error.message)
        refused = _charge_error_result(status, order)
        if refused.outcome is Outcome.DECLINED:
            return refused
        return ProviderResult(outcome=Outcome.UNKNOWN, decline_code=refused.decline_code,
                              message=f"no order found under this key ({refused.message})", raw=order)

    def _settle_order(self, order: Mapping[str, Any], idempotency_key: str, *,
                      off_session: bool = False) -> ProviderResult:
        """Translate an order, capturing it if approved; off-session, a payer still needed is a decline."""
        order_id = str(order.get("id", ""))
        order_status = order.get("status")
        if order_status == "APPROVED":
            status, order = self._api("POST", f"/v2/checkout/orders/{order_id}/capture",
                                      json_body={}, request_id=f"{idempotency_key}:capture")
            if status == 422 and _issue(order) == "ORDER_ALREADY_CAPTURED":
                # Captured by an earlier request under another id: read what it gave.
                status, order = self._api("GET", f"/v2/checkout/orders/{order_id}")
            if status not in (200, 201):
                result = _error_result(status, order)
                if result.outcome is Outcome.DECLINED:
                    return ProviderResult(outcome=Outcome.DECLINED, provider_reference=order_id,
                                          decline_code=result.decline_code, message=result.message, raw=order)
                if result.decline_code in _AWAITING_PAYER_ISSUES:
                    return ProviderResult(outcome=Outcome.DECLINED if off_session else Outcome.PENDING,
                                          provider_reference=order_id,
                                          decline_code=result.decline_code, message=result.message, raw=order)
                return _unknown(order_id, result)
            order_status = order.get("status")
        if order_status == "COMPLETED":
            captures = _captures_of(order)
            if captures:
                # A charge pays from a method already kept: only a checkout brings a new one.
                saved = None if off_session else saved_method_of(order)
                return replace(_capture_result(captures[-1]), saved_method=saved)
            return ProviderResult(outcome=Outcome.UNKNOWN, provider_reference=order_id,
                                  message="completed order without a capture", raw=order)
        if order_status == "VOIDED":
            return ProviderResult(outcome=Outcome.NOT_PROCESSED, provider_reference=order_id,
                                  message="order voided", raw=order)
        if off_session:
            # Nobody is there to approve: PayPal wanting the payer means this charge cannot go through.
            return ProviderResult(outcome=Outcome.DECLINED, provider_reference=order_id,
                                  decline_code=str(order_status or "") or None, message=f"order {order_status}",
                                  raw=order)
        # CREATED, SAVED, PAYER_ACTION_REQUIRED: the payer has not approved yet.
        return ProviderResult(outcome=Outcome.PENDING, provider_reference=order_id,
                              message=f"order {order_status}", raw=order)

    # -- Refunds --------------------------------------------------------------

    def refund(self, request: RefundRequest) -> ProviderResult:
        """Refund all or part of a capture (payment_reference is the capture id).

        The idempotency key is the PayPal-Request-Id, so a retry after a timeout
        returns the first refund instead of refunding twice.
        """
        body: dict[str, object] = {
            "amount": paypal_amount(request.amount),
            "custom_id": request.attempt_id,
            "invoice_id": request.attempt_id,
        }
        if request.reason:
            body["note_to_payer"] = request.reason[:255]
        try:
            status, refund = self._api("POST", f"/v2/payments/captures/{request.payment_reference}/refund",
                                       json_body=body, request_id=request.idempotency_key)
        except _NoAnswer as error:
            return ProviderResult(outcome=error.outcome, message=error.message)
        if status not in (200, 201):
            return _error_result(status, refund)
        return _refund_result(refund)

    def charge(self, request: ChargeRequest) -> ProviderResult:
        """Pay from a saved PayPal account (its vault id) without the payer, in one order PayPal captures at once.

        The idempotency key is the PayPal-Request-Id (PayPal requires one for
        such single-step orders), so a retry after a timeout or a 5xx gets the
        first order back instead of a second charge, and fetch() without an id
        finds that order under the key. PayPal refusing the account (422 with
        INSTRUMENT_DECLINED, or PAYER_ACTION_REQUIRED since nobody is there to
        approve) is DECLINED with PayPal's issue as the decline code. The
        result names the capture, which is what a refund needs.
        """
        body = {
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": "default",
                "custom_id": request.attempt_id,
                "invoice_id": request.attempt_id,
                "description": request.statement_label[:127],
                "soft_descriptor": request.statement_label[:22],
                "amount": paypal_amount(request.amount),
            }],
            "payment_source": {"paypal": {"vault_id": request.method_token}},
        }
        try:
            status, order = self._api("POST", "/v2/checkout/orders", json_body=body,
                                      request_id=request.idempotency_key)
        except _NoAnswer as error:
            return ProviderResult(outcome=error.outcome, message=error.message)
        if status not in (200, 201):
            return _charge_error_result(status, order)
        try:
            return self._settle_order(order, request.idempotency_key, off_session=True)
        except _NoAnswer as error:
            # The order exists: whatever stopped its capture, fetch() with its id tells the rest.
            return ProviderResult(outcome=Outcome.UNKNOWN, provider_reference=order.get("id"), message=error.message)

    # -- Webhooks -------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent | None:
        """Have PayPal verify the notification, then translate it.

        The raw body is passed to the verification call byte for byte (never
        re-serialised), because PayPal's signature covers the body as sent.
        Raises ForgedWebhook unless PayPal answers verification_status SUCCESS,
        and WebhookNotVerified (also a ForgedWebhook: nothing is recorded, the
        caller answers 400 and PayPal delivers again) when PayPal cannot be asked.
        """
        upper = {key.upper(): value for key, value in headers.items()}
        fields = {name: upper.get(header, "") for name, header in _TRANSMISSION_HEADERS.items()}
        if not all(fields.values()):
            raise ForgedWebhook("PayPal transmission headers missing")
        try:
            event = json.loads(body)
        except ValueError as error:
            raise ForgedWebhook("body is not JSON") from error
        if not isinstance(event, dict):
            raise ForgedWebhook("body is not a JSON object")
        envelope = json.dumps({**fields, "webhook_id": self._webhook_id}).encode()
        request = envelope[:-1] + b', "webhook_event": ' + body + b"}"
        try:
            status, answer = self._api("POST", "/v1/notifications/verify-webhook-signature", content=request)
        except _NoAnswer as error:
            raise WebhookNotVerified(error.message) from error
        if status != 200:
            raise WebhookNotVerified(f"verification refused: HTTP {status} {_issue(answer)}")
        if answer.get("verification_status") != "SUCCESS":
            raise ForgedWebhook("PayPal did not verify the signature")
        return _event_of(event)


def _charge_error_result(status: int, body: Mapping[str, Any]) -> ProviderResult:
    """Translate a refused charge: off-session, PayPal asking for the payer is a decline too."""
    result = _error_result(status, body)
    if status == 422 and result.decline_code in _CHARGE_DECLINE_ISSUES:
        return replace(result, outcome=Outcome.DECLINED)
    return result


def _is_off_session(order: Mapping[str, Any]) -> bool:
    """Whether the order was paid from a vault id (a charge) rather than approved by the payer."""
    return bool(((order.get("payment_source") or {}).get("paypal") or {}).get("vault_id"))


def _unknown(reference: str, result: ProviderResult) -> ProviderResult:
    """Keep PayPal's code and message, but say the outcome is still to be learned."""
    return ProviderResult(outcome=Outcome.UNKNOWN, provider_reference=reference, decline_code=result.decline_code,
                          message=result.message, raw=result.raw)


def _refund_result(refund: Mapping[str, Any]) -> ProviderResult:
    status = str(refund.get("status", ""))
    outcome = _REFUND_OUTCOMES.get(status, Outcome.UNKNOWN)
    details = refund.get("status_details") or {}
    breakdown = refund.get("seller_payable_breakdown") or {}
    return ProviderResult(
        outcome=outcome,
        provider_reference=refund.get("id"),
        amount=money_of(refund.get("amount")),
        fee=money_of(breakdown.get("paypal_fee")),
        decline_code=(str(details.get("reason") or status) if outcome is Outcome.DECLINED else None),
        message=f"refund {status}",
        raw=refund,
    )


def _event_of(event: Mapping[str, Any]) -> ProviderEvent | None:
    event_type = str(event.get("event_type", ""))
    outcome = _EVENT_OUTCOMES.get(event_type)
    if outcome is None:
        return None
    resource = event.get("resource") or {}
    if event_type == "VAULT.PAYMENT-TOKEN.CREATED":
        # Leads back to the attempt through the order that saved the account.
        customer = resource.get("customer") or {}
        return ProviderEvent(
            event_id=str(event["id"]),
            provider_reference=str((resource.get("metadata") or {}).get("order_id", "")),
            outcome=outcome,
            occurred_at=_parse_time(event.get("create_time")),
            saved_method=SavedMethodInfo(token=str(resource.get("id", "")), brand="paypal",
                                         customer_token=str(customer["id"]) if customer.get("id") else None),
            raw=event,
        ) if resource.get("id") else None
    if event_type == "CHECKOUT.ORDER.COMPLETED":
        captures = _captures_of(resource)
        if not captures:
            return None
        result = _capture_result(captures[-1])
        units = resource.get("purchase_units") or [{}]
        return ProviderEvent(
            event_id=str(event["id"]),
            provider_reference=str(result.provider_reference or ""),
            outcome=result.outcome,
            occurred_at=_parse_time(event.get("create_time")),
            attempt_id=units[0].get("custom_id"),
            amount=result.amount,
            fee=result.fee,
            decline_code=result.decline_code,
            saved_method=None if _is_off_session(resource) else saved_method_of(resource),
            raw=event,
        )
    if event_type == "CHECKOUT.ORDER.APPROVED":
        units = resource.get("purchase_units") or [{}]
        return ProviderEvent(
            event_id=str(event["id"]),
            provider_reference=str(resource.get("id", "")),
            outcome=outcome,
            occurred_at=_parse_time(event.get("create_time")),
            attempt_id=units[0].get("custom_id"),
            amount=money_of(units[0].get("amount")),
            raw=event,
        )
    if event_type == "PAYMENT.CAPTURE.REFUNDED":
        result = _refund_result(resource)
    else:
        result = _capture_result(resource)
        if event_type in ("PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED"):
            result = ProviderResult(outcome=Outcome.DECLINED, provider_reference=result.provider_reference,
                                    amount=result.amount, decline_code=result.decline_code or event_type)
    return ProviderEvent(
        event_id=str(event["id"]),
        provider_reference=str(result.provider_reference or ""),
        outcome=result.outcome if event_type == "PAYMENT.CAPTURE.REFUNDED" else outcome,
        occurred_at=_parse_time(event.get("create_time")),
        attempt_id=resource.get("custom_id"),
        amount=result.amount,
        fee=result.fee,
        decline_code=result.decline_code,
        raw=event,
    )


def _paypal_locale(locale: str) -> str:
    """Return a BCP 47 tag PayPal accepts ("fr" → "fr-FR", "en" → "en-GB")."""
    if "-" in locale or "_" in locale:
        return locale.replace("_", "-")
    return {"fr": "fr-FR", "en": "en-GB"}.get(locale, "fr-FR")
