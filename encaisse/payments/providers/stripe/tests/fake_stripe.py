"""A local stand-in for api.stripe.com, speaking the part of the v1 API the adapter uses.

It follows Stripe's documented protocol: form-encoded bodies with bracketed
keys (``metadata[a]=b``, ``line_items[0][quantity]=1``), JSON answers, the
``expand[]`` parameter, error bodies ``{"error": {"type", "code",
"decline_code", "message", ...}}`` with Stripe's status codes, and the
``Idempotency-Key`` header: the first answer under a key is saved and
replayed, and the same key with other parameters is an ``idempotency_error``.

Stripe's test payment methods decide what a charge does (``pm_card_visa``
succeeds, ``pm_card_chargeDeclined`` is declined, ...). Failure switches make
the next request fail the ways a network and a server can: an error status
before any work, a stall after the work is done (the client times out but the
payment exists), or a connection closed without an answer.

It never receives card numbers: payers type those on Stripe's hosted pages,
which the test helpers (``pay_checkout``, ``complete_setup``) stand in for.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from encaisse.testing.fake_http import LocalServer

type Json = dict[str, Any]

# Stripe's documented test payment methods, reduced to what the fake needs.
TEST_METHODS: dict[str, Json] = {
    "pm_card_visa": {"brand": "visa", "last4": "4242"},
    "pm_card_mastercard": {"brand": "mastercard", "last4": "4444"},
    "pm_card_chargeDeclined": {
        "brand": "visa",
        "last4": "0002",
        "decline": ("card_declined", "generic_decline", "Your card was declined."),
    },
    "pm_card_chargeDeclinedInsufficientFunds": {
        "brand": "visa",
        "last4": "9995",
        "decline": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    },
    "pm_card_chargeDeclinedExpiredCard": {
        "brand": "visa",
        "last4": "0069",
        "decline": ("expired_card", None, "Your card has expired."),
    },
    "pm_card_authenticationRequired": {
        "brand": "visa",
        "last4": "3155",
        "decline": (
            "authentication_required",
            "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        ),
    },
}


def sign(payload: bytes | str, secret: str, *, timestamp: int | None = None) -> str:
    """Sign a webhook body as Stripe does: ``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">``."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.{text}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


class StripeFailure(Exception):
    def __init__(self, status: int, error: Json) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def _missing(kind: str, object_id: str) -> StripeFailure:
    return StripeFailure(
        404,
        {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": "id",
            "message": f"No such {kind}: '{object_id}'",
        },
    )


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> StripeFailure:
    return StripeFailure(400, {"type": "invalid_request_error", "code": code, "param": param, "message": message})


def decode_form(pairs: list[tuple[str, str]]) -> Json:
    """Rebuild Stripe's bracketed form keys into nested dicts and lists."""
    root: Json = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "[]":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


class FakeStripe:
    """The fake's state and switches; ``url`` is what the adapter's ``api_base`` points at."""

    def __init__(self) -> None:
        self.objects: dict[str, Json] = {}
        self.idempotent: dict[str, tuple[str, Json, int, Json]] = {}
        self.requests: list[tuple[str, str, Json, dict[str, str]]] = []
        self.charges_made = 0
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._switches: list[tuple[str, Any]] = []
        self._kill_on_charge: int | None = None
        self._server = LocalServer()

    @property
    def url(self) -> str:
        return self._server.address()

    def start(self) -> FakeStripe:
        self._server.start(_handler_for(self))
        return self

    def stop(self) -> None:
        self._server.stop()

    # -- Failure switches (each applies to the next request only) -----------

    def fail_next(self, status: int = 500, *, error_type: str = "api_error", code: str | None = None) -> None:
        """Answer the next request with this status before doing anything (nothing saved under its key)."""
        self._switches.append(("fail", (status, error_type, code)))

    def stall_next(self, seconds: float) -> None:
        """Do the next request's work, then wait before answering: the client may time out."""
        self._switches.append(("stall", seconds))

    def drop_next(self) -> None:
        """Do the next request's work, then close the connection without answering."""
        self._switches.append(("drop", None))

    def kill_on_next_charge(self, pid: int) -> None:
        """Do the next charge (POST /v1/payment_intents), then SIGKILL process `pid` before answering it."""
        self._kill_on_charge = pid

    def _next_switch(self) -> tuple[str, Any] | None:
        with self._lock:
            return self._switches.pop(0) if self._switches else None

    # -- What a payer does on Stripe's hosted pages -------------------------

    def pay_checkout(
        self, session_id: str, payment_method: str = "pm_card_visa", *, asynchronous: bool = False
    ) -> Json:
        """The payer pays on the Checkout page; returns the checkout.session.completed event."""
        with self._lock:
            session = self.objects[session_id]
            line = session["line_items"][0]["price_data"]
            intent_data = session.get("payment_intent_data", {})
            customer = session.get("customer")
            if customer is None and session.get("customer_creation") == "always":
                customer = self._create_customer({"email": session.get("customer_email")})["id"]
            intent = self._create_intent(
                {
                    "amount": line["unit_amount"],
                    "currency": line["currency"],
                    "payment_method": payment_method,
                    "customer": customer,
                    "metadata": intent_data.get("metadata", {}),
                    "setup_future_usage": intent_data.get("setup_future_usage"),
                },
                processing=asynchronous,
            )
            session.update(
                status="complete",
                payment_status="unpaid" if asynchronous else "paid",
                payment_intent=intent["id"],
                customer=customer,
            )
            return self.event("checkout.session.completed", session)

    def complete_setup(self, session_id: str, payment_method: str = "pm_card_visa") -> Json:
        """The payer saves a card on a setup-mode Checkout page; returns setup_intent.succeeded."""
        with self._lock:
            session = self.objects[session_id]
            self._method(payment_method)["customer"] = session["customer"]
            setup = self._store(
                "seti",
                {
                    "object": "setup_intent",
                    "status": "succeeded",
                    "customer": session["customer"],
                    "payment_method": payment_method,
                    "usage": "off_session",
                    "metadata": session.get("setup_intent_data", {}).get("metadata", {}),
                    "last_setup_error": None,
                },
            )
            session.update(status="complete", payment_status="no_payment_required", setup_intent=setup["id"])
            return self.event("setup_intent.succeeded", setup)

    def event(self, event_type: str, obj: Json, *, created: int | None = None) -> Json:
        return {
            "id": f"evt_{next(self._ids):08d}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()) if created is None else created,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": copy.deepcopy(obj)},
        }

    # -- Endpoints ----------------------------------------------------------

    def handle(self, method: str, path: str, params: Json, headers: dict[str, str]) -> tuple[int, Json]:
        routes = [
            ("POST", r"/v1/checkout/sessions", self._create_session),
            ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self._retrieve),
            ("POST", r"/v1/customers", self._create_customer),
            ("POST", r"/v1/payment_intents", self._create_intent),
            ("GET", r"/v1/payment_intents/search", self._search_intents),
            ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._retrieve),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds/(?P<id>[^/]+)", self._retrieve),
            ("GET", r"/v1/setup_intents/(?P<id>[^/]+)", self._retrieve),
            ("GET", r"/v1/payment_methods/(?P<id>[^/]+)", self._retrieve_method),
        ]
        if headers.get("authorization", "") != "Bearer sk_test_fake":
            raise StripeFailure(401, {"type": "invalid_request_error", "message": "Invalid API Key provided"})
        for verb, pattern, action in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                expand = params.pop("expand", [])
                with self._lock:
                    result = action(params, **match.groupdict())
                    return 200, self._expand(copy.deepcopy(result), expand)
        raise _invalid(f"Unrecognized request URL ({method}: {path}).")

    def _create_session(self, params: Json) -> Json:
        mode = params.get("mode")
        for required in ("mode", "success_url"):
            if not params.get(required):
                raise _invalid(f"Missing required param: {required}.", param=required)
        if params.get("customer") and params.get("customer_email"):
            raise _invalid("You may only specify one of these parameters: customer, customer_email.")
        amount_total, currency = None, params.get("currency")
        if mode == "payment":
            price = params["line_items"][0]["price_data"]
            amount_total = int(price["unit_amount"]) * int(params["line_items"][0]["quantity"])
            price["unit_amount"] = int(price["unit_amount"])
            currency = price["currency"]
        session = {
            **params,
            "object": "checkout.session",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount_total,
            "currency": currency,
            "customer": params.get("customer"),
            "payment_intent": None,
            "setup_intent": None,
            "expires_at": int(time.time()) + 86400,
        }
        stored = self._store("cs_test", session)
        stored["url"] = f"{self.url}/c/pay/{stored['id']}"
        return stored

    def _create_customer(self, params: Json) -> Json:
        return self._store("cus", {"object": "customer", "email": params.get("email"), **params})

    def _create_intent(self, params: Json, *, processing: bool = False) -> Json:
        if not params.get("amount") or int(params["amount"]) < 1:
            raise _invalid("Missing required param: amount.", param="amount")
        if params.get("off_session") == "true" and params.get("confirm") != "true":
            raise _invalid("off_session can only be used with confirm=true.", param="off_session")
        method_id = params.get("payment_method")
        method = self._method(method_id)
        amount, currency = int(params["amount"]), params["currency"]
        intent = self._store(
            "pi",
            {
                "object": "payment_intent",
                "amount": amount,
                "currency": currency,
                "customer": params.get("customer"),
                "payment_method": method_id,
                "metadata": params.get("metadata", {}),
                "setup_future_usage": params.get("setup_future_usage"),
                "statement_descriptor_suffix": params.get("statement_descriptor_suffix"),
                "latest_charge": None,
                "last_payment_error": None,
                "status": "requires_confirmation",
                "created": int(time.time()),
            },
        )
        decline = TEST_METHODS.get(method_id, {}).get("decline")
        if decline:
            code, decline_code, message = decline
            error = {"type": "card_error", "code": code, "message": message, "payment_method": method}
            if decline_code:
                error["decline_code"] = decline_code
            intent.update(status="requires_payment_method", last_payment_error=error)
            raise StripeFailure(402, {**error, "payment_intent": copy.deepcopy(intent)})
        if processing:
            intent["status"] = "processing"
            return intent
        self.charges_made += 1
        # Stripe's European card pricing, for a fee to book: 1.5 % + 0.25, in minor units.
        fee = (amount * 15 + 500) // 1000 + 25
        transaction = self._store(
            "txn", {"object": "balance_transaction", "amount": amount, "currency": currency, "fee": fee}
        )
        charge = self._store(
            "ch",
            {
                "object": "charge",
                "amount": amount,
                "amount_refunded": 0,
                "currency": currency,
                "payment_intent": intent["id"],
                "balance_transaction": transaction["id"],
                "metadata": intent["metadata"],
                "refunded": False,
                "status": "succeeded",
            },
        )
        intent.update(status="succeeded", latest_charge=charge["id"])
        return intent

    def _create_refund(self, params: Json) -> Json:
        intent = self.objects.get(params.get("payment_intent", ""))
        if intent is None:
            raise _missing("payment_intent", params.get("payment_intent", ""))
        if intent["status"] != "succeeded":
            raise _invalid("This PaymentIntent does not have a successful charge to refund.", param="payment_intent")
        charge = self.objects[intent["latest_charge"]]
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount", remaining))
        if remaining == 0:
            raise _invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        if amount > remaining:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                param="amount",
            )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return self._store(
            "re",
            {
                "object": "refund",
                "amount": amount,
                "currency": charge["currency"],
                "charge": charge["id"],
                "payment_intent": intent["id"],
                "metadata": params.get("metadata", {}),
                "status": "succeeded",
                "failure_reason": None,
            },
        )

    def _search_intents(self, params: Json) -> Json:
        query = params.get("query", "")
        match = re.fullmatch(r"metadata\['([^']+)'\]:'((?:[^'\\]|\\.)*)'", query)
        if match is None:
            raise _invalid("The fake only understands metadata['key']:'value' queries.", param="query")
        key, value = match.group(1), re.sub(r"\\(.)", r"\1", match.group(2))
        found = [
            copy.deepcopy(obj)
            for obj in self.objects.values()
            if obj.get("object") == "payment_intent" and obj.get("metadata", {}).get(key) == value
        ]
        return {"object": "search_result", "url": "/v1/payment_intents/search", "has_more": False, "data": found}

    def _retrieve(self, params: Json, id: str) -> Json:
        if id not in self.objects:
            raise _missing("object", id)
        return self.objects[id]

    def _retrieve_method(self, params: Json, id: str) -> Json:
        return self._method(id)

    def _method(self, method_id: str | None) -> Json:
        if method_id in self.objects:
            return self.objects[method_id]
        card = TEST_METHODS.get(method_id or "")
        if card is None:
            raise _missing("PaymentMethod", method_id or "")
        method = {
            "id": method_id,
            "object": "payment_method",
            "type": "card",
            "customer": None,
            "card": {"brand": card["brand"], "last4": card["last4"], "exp_month": 12, "exp_year": 2034},
        }
        self.objects[method_id] = method
        return method

    def _store(self, prefix: str, obj: Json) -> Json:
        obj["id"] = f"{prefix}_{next(self._ids):08d}"
        obj.setdefault("livemode", False)
        self.objects[obj["id"]] = obj
        return obj

    def _expand(self, obj: Json, paths: list[str] | Json) -> Json:
        for path in paths.values() if isinstance(paths, dict) else paths:
            self._expand_path(obj, path.split("."))
        return obj

    def _expand_path(self, node: Any, fields: list[str]) -> None:
        if not fields or not isinstance(node, dict):
            return
        head, rest = fields[0], fields[1:]
        if head == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand_path(item, rest)
            return
        value = node.get(head)
        if isinstance(value, str) and value in self.objects:
            node[head] = value = copy.deepcopy(self.objects[value])
        self._expand_path(value, rest)

    # -- Idempotency, as Stripe documents it --------------------------------

    def answer(self, method: str, path: str, params: Json, headers: dict[str, str]) -> tuple[int, Json]:
        key = headers.get("idempotency-key") if method == "POST" else None
        if key is not None:
            with self._lock:
                saved = self.idempotent.get(key)
            if saved is not None:
                saved_path, saved_params, status, body = saved
                if (saved_path, saved_params) != (path, params):
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the same parameters "
                            "they were first used with.",
                        }
                    }
                return status, body
        try:
            status, body = self.handle(method, path, copy.deepcopy(params), headers)
        except StripeFailure as failure:
            status, body = failure.status, {"error": failure.error}
            if status == 400 and key is not None:
                return status, body  # validation failed before the endpoint ran: nothing saved
        if key is not None:
            with self._lock:
                self.idempotent[key] = (path, params, status, body)
        return status, body


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = self.rfile.read(length).decode() if length else ""
            pairs = parse_qsl(form if method == "POST" else url.query, keep_blank_values=True)
            params = decode_form(pairs)
            headers = {key.lower(): value for key, value in self.headers.items()}
            fake.requests.append((method, url.path, params, headers))
            switch = fake._next_switch()
            if switch and switch[0] == "fail":
                status, error_type, code = switch[1]
                self._send(status, {"error": {"type": error_type, "code": code, "message": "Fake failure."}})
                return
            status, body = fake.answer(method, url.path, params, headers)
            if method == "POST" and url.path == "/v1/payment_intents" and fake._kill_on_charge:
                pid, fake._kill_on_charge = fake._kill_on_charge, None
                os.kill(pid, signal.SIGKILL)  # the caller dies after our work, before it hears of it
                self.close_connection = True
                return
            if switch and switch[0] == "stall":
                time.sleep(switch[1])
            if switch and switch[0] == "drop":
                self.close_connection = True
                self.connection.close()
                return
            self._send(status, body)

        def _send(self, status: int, body: Json) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_fake{len(fake.requests)}")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)  # fails when the client gave up (a timeout test): nothing left to tell it

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    return Handler
