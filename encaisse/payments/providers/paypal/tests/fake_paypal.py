"""A local stand-in for PayPal's REST API, speaking the documented shapes the adapter uses.

Endpoints: POST /v1/oauth2/token (client credentials, HTTP Basic), POST
/v2/checkout/orders, GET /v2/checkout/orders/{id}, POST
/v2/checkout/orders/{id}/capture, POST /v2/payments/captures/{id}/refund, GET
/v2/payments/refunds/{id}, POST /v1/notifications/verify-webhook-signature.

The vault (saving PayPal during a purchase) as PayPal documents it: an order
created with payment_source.paypal.attributes.vault.store_in_vault ON_SUCCESS
comes back from its capture with attributes.vault (id, status VAULTED,
customer.id); an order created with payment_source.paypal.vault_id is a
merchant-initiated payment, captured at once with no payer (it requires a
PayPal-Request-Id), or refused with 422 for a vault id marked to decline.

Like PayPal, a POST repeated with the same PayPal-Request-Id gets the first
answer back and changes nothing. The payer's part (approving the order on
PayPal's page) is `approve()`. Webhooks are "signed" by the fake with a secret
only it knows, so the verification endpoint answers SUCCESS for events it sent
and FAILURE for anything altered or invented. Failure switches act on the next
matching request: decline, answer 5xx, stall after acting, drop the connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

from encaisse.payments.providers.paypal import PayPalProvider
from encaisse.testing.fake_http import LocalServer

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"
WEBHOOK_ID = "WH1FAKE0000000000"
# PayPal's fee in the fake: 3.49 % of the gross, rounded half up to the cent, plus 0.35.
FEE_PERCENT = Decimal("3.49")
FEE_FIXED_MINOR = 35
# The PayPal account that approves orders in the fake.
PAYER_EMAIL = "payer@example.org"
PAYER_ID = "PAYERFAKE01"


@dataclass
class Switch:
    method: str
    path_prefix: str
    action: str  # "error", "5xx", "stall", "drop"
    status: int = 500
    name: str = ""
    issue: str = ""
    seconds: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakePayPal:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    vault: dict[str, dict[str, Any]] = field(default_factory=dict)  # payment tokens by vault id
    requests: list[Recorded] = field(default_factory=list)
    tokens_issued: int = 0
    capture_status: str = "COMPLETED"  # what the next captures come out as (PENDING, DECLINED)
    _tokens: set[str] = field(default_factory=set)
    _replays: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _switches: list[Switch] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _declining_vaults: dict[str, str] = field(default_factory=dict)  # vault id -> issue
    _server: LocalServer = field(default_factory=LocalServer)

    # -- what tests use ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._server.address()

    def start(self) -> None:
        self._server.start(_handler_for(self))

    def stop(self) -> None:
        self._server.stop()

    def provider(self, **overrides: Any) -> PayPalProvider:
        settings: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                    "webhook_id": WEBHOOK_ID, "api_base": self.base_url, "timeout_seconds": 5.0}
        return PayPalProvider(**(settings | overrides))

    def approve(self, order_id: str) -> None:
        """Do what the payer does on PayPal's page: log in and approve the order."""
        with self._lock:
            order = self.orders[order_id]
            order["status"] = "APPROVED"
            order["payer"] = {"email_address": PAYER_EMAIL, "payer_id": PAYER_ID}
            paypal = order.setdefault("payment_source", {}).setdefault("paypal", {})
            paypal.update({"email_address": PAYER_EMAIL, "account_id": PAYER_ID})

    def decline_vault(self, vault_id: str, issue: str = "INSTRUMENT_DECLINED") -> None:
        """Have PayPal refuse every merchant-initiated payment from this saved method (422 with `issue`)."""
        self._declining_vaults[vault_id] = issue

    def payment_token_resource(self, vault_id: str) -> dict[str, Any]:
        """The resource of a VAULT.PAYMENT-TOKEN.CREATED notification for this saved method."""
        token = self.vault[vault_id]
        return {
            "id": vault_id,
            "customer": {"id": token["customer_id"]},
            "payment_source": {"paypal": {"email_address": token["email_address"], "usage_type": "MERCHANT",
                                          "customer_type": "CONSUMER"}},
            "metadata": {"order_id": token["order_id"]},
            "links": [{"href": f"{self.base_url}/v3/vault/payment-tokens/{vault_id}", "rel": "self",
                       "method": "GET"}],
        }

    def complete_capture(self, capture_id: str) -> None:
        """Clear a PENDING capture, as PayPal does once its review is over."""
        with self._lock:
            capture = self.captures[capture_id]
            capture["status"] = "COMPLETED"
            capture.pop("status_details", None)
            capture["seller_receivable_breakdown"] = _breakdown(capture["amount"])

    def fail_next(self, method: str, path_prefix: str, *, status: int, name: str, issue: str = "") -> None:
        """Answer the next matching request with this error, acting on nothing."""
        self._switches.append(Switch(method, path_prefix, "error", status=status, name=name, issue=issue))

    def server_error_next(self, method: str, path_prefix: str) -> None:
        """Answer the next matching request with 500 after carrying it out (PayPal may have acted)."""
        self._switches.append(Switch(method, path_prefix, "5xx"))

    def stall_next(self, method: str, path_prefix: str, *, seconds: float) -> None:
        """Carry out the next matching request, then wait before answering (the caller times out)."""
        self._switches.append(Switch(method, path_prefix, "stall", seconds=seconds))

    def drop_next(self, method: str, path_prefix: str) -> None:
        """Carry out the next matching request, then close the connection without an answer."""
        self._switches.append(Switch(method, path_prefix, "drop"))

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def signed_webhook(self, event_type: str, resource: dict[str, Any], *, resource_type: str = "capture",
                       webhook_id: str = WEBHOOK_ID) -> tuple[bytes, dict[str, str]]:
        """Return the body and headers PayPal would POST to the merchant's webhook URL."""
        event = {
            "id": f"WH-{self._next_id()}-FAKE",
            "event_version": "1.0",
            "create_time": _now(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": f"{event_type} (fake)",
            "resource": resource,
            "links": [],
        }
        transmission_id = f"tx-{self._next_id()}"
        transmission_time = _now()
        headers = {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": self._signature(transmission_id, transmission_time, webhook_id, event),
            "PAYPAL-CERT-URL": f"{self.base_url}/v1/notifications/certs/CERT-FAKE",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "Content-Type": "application/json",
        }
        return json.dumps(event).encode(), headers

    # -- the protocol -------------------------------------------------------------

    def _next_id(self) -> str:
        return f"{next(self._ids):017d}"

    def _signature(self, transmission_id: str, transmission_time: str, webhook_id: str, event: object) -> str:
        # PayPal signs "<transmission id>|<time>|<webhook id>|<CRC32 of the body>" with its private key;
        # the fake uses an HMAC with a key only it holds, which gives the same guarantee to the verifier.
        crc = zlib.crc32(json.dumps(event, sort_keys=True, separators=(",", ":")).encode())
        message = f"{transmission_id}|{transmission_time}|{webhook_id}|{crc}".encode()
        return base64.b64encode(hmac.new(self._signing_key, message, hashlib.sha256).digest()).decode()

    def _switch_for(self, method: str, path: str) -> Switch | None:
        with self._lock:
            for switch in self._switches:
                if switch.method == method and path.startswith(switch.path_prefix):
                    self._switches.remove(switch)
                    return switch
        return None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request; a POST whose PayPal-Request-Id was seen gets the first answer (body not read)."""
        if path == "/v1/oauth2/token":
            return self._token(headers, body)
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self._tokens:
            return 401, {"error": "invalid_token", "error_description": "Token signature verification failed"}
        payload = json.loads(body) if body else {}
        request_id = headers.get("paypal-request-id")
        with self._lock:
            if method == "POST" and request_id and (path, request_id) in self._replays:
                status, first = self._replays[(path, request_id)]
                if path == "/v2/checkout/orders" and first.get("id") in self.orders:
                    # PayPal returns "the latest status of the previous request": the order as it is now.
                    return status, self._order_view(self.orders[first["id"]])
                return status, first
            answer = self._route(method, path, payload, request_id)
            if method == "POST" and request_id and answer[0] < 500:
                self._replays[(path, request_id)] = answer
            return answer

    def _token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}" or b"grant_type=client_credentials" not in body:
            return 401, {"error": "invalid_client", "error_description": "Client Authentication failed"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return 200, {"scope": "https://uri.paypal.com/services/payments/payment", "access_token": token,
                     "token_type": "Bearer", "app_id": "APP-FAKE", "expires_in": 32400, "nonce": "fake"}

    def _route(self, method: str, path: str, payload: dict[str, Any],
               request_id: str | None) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["v2", "checkout", "orders"]:
                return self._create_order(payload, request_id)
            case "GET", ["v2", "checkout", "orders", order_id]:
                order = self.orders.get(order_id)
                return (200, self._order_view(order)) if order else _not_found()
            case "POST", ["v2", "checkout", "orders", order_id, "capture"]:
                return self._capture(order_id)
            case "POST", ["v2", "payments", "captures", capture_id, "refund"]:
                return self._refund(capture_id, payload)
            case "GET", ["v2", "payments", "captures", capture_id]:
                capture = self.captures.get(capture_id)
                return (200, capture) if capture else _not_found()
            case "GET", ["v2", "payments", "refunds", refund_id]:
                refund = self.refunds.get(refund_id)
                return (200, refund) if refund else _not_found()
            case "POST", ["v1", "notifications", "verify-webhook-signature"]:
                return self._verify(payload)
        return _not_found()

    def _create_order(self, payload: dict[str, Any], request_id: str | None) -> tuple[int, dict[str, Any]]:
        units = payload.get("purchase_units") or []
        if payload.get("intent") not in ("CAPTURE", "AUTHORIZE") or not units or "amount" not in units[0]:
            return _error(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER")
        value = str(units[0]["amount"].get("value", ""))
        if not value.replace(".", "", 1).isdigit():
            return _error(400, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE")
        vault_id = ((payload.get("payment_source") or {}).get("paypal") or {}).get("vault_id")
        if vault_id is not None:
            # PayPal makes the request id mandatory for single-step orders paid from a saved method.
            if not request_id:
                return _error(400, "INVALID_REQUEST", "PAYPAL_REQUEST_ID_REQUIRED")
            if vault_id not in self.vault:
                return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")
            if vault_id in self._declining_vaults:
                return _error(422, "UNPROCESSABLE_ENTITY", self._declining_vaults[vault_id])
        order_id = f"ORD{self._next_id()}"
        self.orders[order_id] = {
            "id": order_id,
            "intent": payload["intent"],
            "status": "PAYER_ACTION_REQUIRED",
            "payment_source": payload.get("payment_source", {}),
            "purchase_units": [dict(unit) for unit in units],
            "create_time": _now(),
        }
        if vault_id is None:
            return 200, self._order_view(self.orders[order_id])
        # Merchant-initiated: the payer approved once, when the method was saved; capture now.
        token = self.vault[vault_id]
        order = self.orders[order_id]
        order["status"] = "APPROVED"
        order["payer"] = {"email_address": token["email_address"], "payer_id": token["payer_id"]}
        order["payment_source"] = {"paypal": {
            "email_address": token["email_address"], "account_id": token["payer_id"],
            "attributes": {"vault": {"id": vault_id, "status": "VAULTED",
                                     "customer": {"id": token["customer_id"]}}},
        }}
        return self._capture(order_id)

    def _order_view(self, order: dict[str, Any]) -> dict[str, Any]:
        view = json.loads(json.dumps(order))
        view["links"] = [{"href": f"{self.base_url}/v2/checkout/orders/{order['id']}", "rel": "self",
                          "method": "GET"}]
        if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
            view["links"].append({"href": f"https://www.sandbox.paypal.com/checkoutnow?token={order['id']}",
                                  "rel": "payer-action", "method": "GET"})
        return view

    def _capture(self, order_id: str) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(order_id)
        if order is None:
            return _not_found()
        if order["status"] == "COMPLETED":
            return _error(422, "UNPROCESSABLE_ENTITY", "ORDER_ALREADY_CAPTURED")
        if order["status"] != "APPROVED":
            return _error(422, "UNPROCESSABLE_ENTITY", "ORDER_NOT_APPROVED")
        unit = order["purchase_units"][0]
        amount = unit["amount"]
        capture_id = f"CAP{self._next_id()}"
        capture: dict[str, Any] = {
            "id": capture_id,
            "status": self.capture_status,
            "amount": dict(amount),
            "final_capture": True,
            "custom_id": unit.get("custom_id"),
            "invoice_id": unit.get("invoice_id"),
            "create_time": _now(),
            "supplementary_data": {"related_ids": {"order_id": order_id}},
        }
        if self.capture_status == "COMPLETED":
            capture["seller_receivable_breakdown"] = _breakdown(amount)
        elif self.capture_status == "PENDING":
            capture["status_details"] = {"reason": "PENDING_REVIEW"}
        self.captures[capture_id] = capture
        order["status"] = "COMPLETED"
        unit["payments"] = {"captures": [capture]}
        if capture["status"] == "COMPLETED":
            self._vault_on_success(order)
        return 201, self._order_view(order)

    def _vault_on_success(self, order: dict[str, Any]) -> None:
        """Save the payer's PayPal account if the order asked for it (store_in_vault ON_SUCCESS)."""
        paypal = (order.get("payment_source") or {}).get("paypal") or {}
        attributes = paypal.get("attributes") or {}
        asked = attributes.get("vault") or {}
        if asked.get("store_in_vault") != "ON_SUCCESS":
            return
        customer_id = (attributes.get("customer") or {}).get("id") or f"CUST{self._next_id()}"
        vault_id = f"VLT{self._next_id()}"
        self.vault[vault_id] = {"customer_id": customer_id, "order_id": order["id"],
                                "email_address": paypal.get("email_address", PAYER_EMAIL),
                                "payer_id": paypal.get("account_id", PAYER_ID)}
        # As PayPal answers: the request's vault instructions are replaced by the saved token.
        attributes["vault"] = {
            "id": vault_id, "status": "VAULTED", "customer": {"id": customer_id},
            "links": [{"href": f"{self.base_url}/v3/vault/payment-tokens/{vault_id}", "rel": "self",
                       "method": "GET"}],
        }
        attributes.pop("customer", None)

    def _refund(self, capture_id: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        capture = self.captures.get(capture_id)
        if capture is None:
            return _not_found()
        currency = capture["amount"]["currency_code"]
        refunded = sum((Decimal(r["amount"]["value"]) for r in self.refunds.values()
                        if r["capture_id"] == capture_id), Decimal(0))
        remaining = Decimal(capture["amount"]["value"]) - refunded
        if remaining <= 0:
            return _error(422, "UNPROCESSABLE_ENTITY", "CAPTURE_FULLY_REFUNDED")
        amount = payload.get("amount") or {"currency_code": currency, "value": str(remaining)}
        if amount.get("currency_code") != currency:
            return _error(422, "UNPROCESSABLE_ENTITY", "REFUND_CAPTURE_CURRENCY_MISMATCH")
        if Decimal(amount["value"]) > remaining:
            return _error(422, "UNPROCESSABLE_ENTITY", "REFUND_AMOUNT_EXCEEDED")
        refund_id = f"REF{self._next_id()}"
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": amount,
            "custom_id": payload.get("custom_id"),
            "invoice_id": payload.get("invoice_id"),
            "note_to_payer": payload.get("note_to_payer"),
            "create_time": _now(),
            "capture_id": capture_id,
            "links": [{"href": f"{self.base_url}/v2/payments/captures/{capture_id}", "rel": "up",
                       "method": "GET"}],
        }
        self.refunds[refund_id] = refund
        capture["status"] = "REFUNDED" if Decimal(amount["value"]) == remaining else "PARTIALLY_REFUNDED"
        return 201, refund

    def _verify(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time",
                    "webhook_id", "webhook_event")
        if any(not payload.get(name) for name in required):
            return _error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER")
        expected = self._signature(payload["transmission_id"], payload["transmission_time"],
                                   payload["webhook_id"], payload["webhook_event"])
        ok = payload["webhook_id"] == WEBHOOK_ID and hmac.compare_digest(expected, payload["transmission_sig"])
        return 200, {"verification_status": "SUCCESS" if ok else "FAILURE"}


def _breakdown(amount: dict[str, str]) -> dict[str, Any]:
    gross = Decimal(amount["value"])
    fee_minor = int((gross * FEE_PERCENT).quantize(Decimal(1), ROUND_HALF_UP)) + FEE_FIXED_MINOR
    fee = (Decimal(fee_minor) / 100).quantize(Decimal("0.01"))
    currency = amount["currency_code"]
    return {
        "gross_amount": dict(amount),
        "paypal_fee": {"currency_code": currency, "value": str(fee)},
        "net_amount": {"currency_code": currency, "value": str(gross - fee)},
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, name: str, issue: str) -> tuple[int, dict[str, Any]]:
    return status, {"name": name, "message": f"{name} ({issue})", "debug_id": "fakedebug",
                    "details": [{"issue": issue, "description": issue.replace("_", " ").lower()}]}


def _not_found() -> tuple[int, dict[str, Any]]:
    return _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID")


def _handler_for(fake: FakePayPal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet in tests
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            path = self.path.split("?", 1)[0]
            fake.requests.append(Recorded(self.command, path, headers, body))
            switch = fake._switch_for(self.command, path)
            if switch is not None and switch.action == "error":
                status, answer = _error(switch.status, switch.name, switch.issue)
            else:
                status, answer = fake.handle(self.command, path, headers, body)
            if switch is not None and switch.action == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if switch is not None and switch.action == "stall":
                time.sleep(switch.seconds)
            if switch is not None and switch.action == "5xx":
                status, answer = _error(500, "INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR")
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Paypal-Debug-Id", "fakedebug")
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as it should after a stall

        do_GET = _serve
        do_POST = _serve

    return Handler
