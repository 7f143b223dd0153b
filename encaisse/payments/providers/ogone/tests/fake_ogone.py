"""A local stand-in for Ogone e-Commerce: hosted page, post-sale feedback and DirectLink.

It checks SHA-IN on every request the way Ogone does, keeps orders by ORDERID
(a second order under a processed ORDERID gets NCERROR 50001113), keeps
aliases created on the hosted page, and answers DirectLink with one
``<ncresponse .../>`` element. The card never reaches it from Encaisse: tests
play the payer with pay_on_page(), which returns the post-sale parameters
signed with SHA-OUT, as Ogone would post them.

Failure switches for the next DirectLink request: stall, 5xx, dropped
connection, decline with an NCERROR.
"""

from __future__ import annotations

import itertools
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qsl, urlparse

from encaisse.payments.providers.ogone import sign
from encaisse.payments.providers.ogone.adapter import SHA_OUT_KEYS
from encaisse.testing.fake_http import FakeHandler, LocalServer

ALREADY_PROCESSED = "50001113"
UNKNOWN_ORDER = "50001130"
BAD_SIGNATURE = "50001111"  # "data validation error", as Ogone answers a wrong SHASIGN
UNKNOWN_ALIAS = "50001184"


@dataclass
class Order:
    order_id: str
    amount: str  # hundredths, as sent
    currency: str
    status: int
    payid: str
    ncerror: str = "0"
    alias: str = ""
    complus: str = ""
    refunds: list[tuple[str, int, str]] = field(default_factory=list)  # (payidsub, status, hundredths)


@dataclass
class Failure:
    kind: str  # "stall", "5xx", "drop", "decline"
    seconds: float = 0.0
    ncerror: str = ""


@dataclass
class FakeOgone:
    pspid: str = "ENCAISSETEST"
    sha_in: str = "Sha-In-Passphrase!2026"
    sha_out: str = "Sha-Out-Passphrase?2026"
    api_user: str = "encaisse_api"
    api_password: str = "api-password-1"
    hash_algorithm: str = "SHA-512"
    orders: dict[str, Order] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # alias -> BRAND, CARDNO (masked), ED
    page_requests: list[dict[str, str]] = field(default_factory=list)
    direct_requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _failures: list[Failure] = field(default_factory=list)
    _payids: itertools.count = field(default_factory=lambda: itertools.count(3_000_000_001))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LocalServer = field(default_factory=LocalServer)

    @property
    def url(self) -> str:
        return self._server.address("/ncol/test")

    def start(self) -> None:
        self._server.start(_Handler, ogone=self)

    def stop(self) -> None:
        self._server.stop()

    # -- switches -------------------------------------------------------------

    def stall_next(self, seconds: float) -> None:
        self._failures.append(Failure("stall", seconds=seconds))

    def fail_next_with_5xx(self) -> None:
        self._failures.append(Failure("5xx"))

    def drop_next(self) -> None:
        self._failures.append(Failure("drop"))

    def decline_next(self, ncerror: str = "30001301") -> None:
        """Refuse the next DirectLink payment with STATUS 2 and this NCERROR."""
        self._failures.append(Failure("decline", ncerror=ncerror))

    def _next_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    # -- the payer, on the hosted page -------------------------------------------

    def pay_on_page(
        self,
        page_url: str,
        *,
        status: int = 9,
        ncerror: str = "0",
        brand: str = "VISA",
        cardno: str = "XXXXXXXXXXXX1111",
        expiry: str = "0428",
    ) -> dict[str, str]:
        """Open the hosted page at page_url, pay, and return the signed post-sale parameters."""
        query = dict(parse_qsl(urlparse(page_url).query, keep_blank_values=True))
        if not self._verify_in(query):
            raise AssertionError("The hosted page refused the parameters: SHA-IN does not verify.")
        self.page_requests.append(query)
        with self._lock:
            order = self.orders.get(query["ORDERID"])
            if order is None or order.status not in (5, 9):
                order = Order(
                    order_id=query["ORDERID"],
                    amount=query["AMOUNT"],
                    currency=query["CURRENCY"],
                    status=status,
                    payid=str(next(self._payids)),
                    ncerror=ncerror,
                    complus=query.get("COMPLUS", ""),
                )
                self.orders[order.order_id] = order
            if query.get("ALIAS") and status in (5, 9):
                order.alias = query["ALIAS"]
                self.aliases[order.alias] = {"BRAND": brand, "CARDNO": cardno, "ED": expiry}
        feedback = {
            "orderID": order.order_id,
            "currency": order.currency,
            "amount": _decimal(order.amount),
            "PM": "CreditCard",
            "ACCEPTANCE": "test123" if order.status in (5, 9) else "",
            "STATUS": str(order.status),
            "CARDNO": cardno,
            "ED": expiry,
            "CN": "Camille Martin",
            "TRXDATE": time.strftime("%m/%d/%y"),
            "PAYID": order.payid,
            "NCERROR": order.ncerror,
            "BRAND": brand,
            "IP": "192.0.2.10",
            "COMPLUS": order.complus,
        }
        if order.alias:
            feedback["ALIAS"] = order.alias
        feedback["SHASIGN"] = sign(feedback, self.sha_out, self.hash_algorithm, SHA_OUT_KEYS)
        return feedback

    def _verify_in(self, parameters: dict[str, str]) -> bool:
        received = parameters.get("SHASIGN", "")
        return received == sign(parameters, self.sha_in, self.hash_algorithm)

    # -- DirectLink -------------------------------------------------------------

    def handle_direct(self, page: str, p: dict[str, str], failure: Failure | None) -> dict[str, str]:
        self.direct_requests.append((page, p))
        if p.get("PSPID") != self.pspid or p.get("USERID") != self.api_user or p.get("PSWD") != self.api_password:
            return {
                "NCSTATUS": "5",
                "NCERROR": "50001119",
                "NCERRORPLUS": "unknown user or wrong password",
                "STATUS": "0",
            }
        if not self._verify_in(p):
            return {"NCSTATUS": "5", "NCERROR": BAD_SIGNATURE, "NCERRORPLUS": "unknown order/1/s", "STATUS": "0"}
        if page == "orderdirect.asp":
            return self._order(p, failure)
        if page == "maintenancedirect.asp":
            return self._maintenance(p)
        return self._query(p)

    def _order(self, p: dict[str, str], failure: Failure | None) -> dict[str, str]:
        with self._lock:
            known = self.orders.get(p.get("ORDERID", ""))
            if known is not None and known.status in (5, 9):
                return {
                    "orderID": known.order_id,
                    "PAYID": "0",
                    "NCSTATUS": "5",
                    "NCERROR": ALREADY_PROCESSED,
                    "NCERRORPLUS": "This order has already been processed",
                    "STATUS": "0",
                }
            card = self.aliases.get(p.get("ALIAS", ""))
            if card is None:
                return {
                    "orderID": p.get("ORDERID", ""),
                    "PAYID": "0",
                    "NCSTATUS": "5",
                    "NCERROR": UNKNOWN_ALIAS,
                    "NCERRORPLUS": "Unknown alias",
                    "STATUS": "0",
                }
            declined = failure is not None and failure.kind == "decline"
            order = Order(
                order_id=p["ORDERID"],
                amount=p["AMOUNT"],
                currency=p["CURRENCY"],
                status=2 if declined else 9,
                payid=str(next(self._payids)),
                ncerror=failure.ncerror if declined and failure else "0",
                alias=p["ALIAS"],
                complus=p.get("COMPLUS", ""),
            )
            self.orders[order.order_id] = order
        return self._describe(order)

    def _maintenance(self, p: dict[str, str]) -> dict[str, str]:
        with self._lock:
            order = next((o for o in self.orders.values() if o.payid == p.get("PAYID")), None)
            if order is None or order.status not in (5, 9):
                return {
                    "PAYID": p.get("PAYID", ""),
                    "NCSTATUS": "5",
                    "NCERROR": "50001127",
                    "NCERRORPLUS": "This order is not authorized",
                    "STATUS": "0",
                }
            refunded = sum(int(r[2]) for r in order.refunds)
            if p.get("OPERATION") not in ("RFD", "RFS") or int(p.get("AMOUNT", "0")) + refunded > int(order.amount):
                return {
                    "PAYID": order.payid,
                    "NCSTATUS": "5",
                    "NCERROR": "50001048",
                    "NCERRORPLUS": "amount too high",
                    "STATUS": "0",
                }
            payidsub = str(len(order.refunds) + 1)
            order.refunds.append((payidsub, 8, p["AMOUNT"]))
        return {
            "orderID": order.order_id,
            "PAYID": order.payid,
            "PAYIDSUB": payidsub,
            "NCSTATUS": "0",
            "NCERROR": "0",
            "NCERRORPLUS": "!",
            "STATUS": "8",
            "amount": _decimal(p["AMOUNT"]),
            "currency": order.currency,
        }

    def _query(self, p: dict[str, str]) -> dict[str, str]:
        if p.get("ORDERID"):
            order = self.orders.get(p["ORDERID"])
        else:
            order = next((o for o in self.orders.values() if o.payid == p.get("PAYID")), None)
        if order is None:
            return {
                "orderID": p.get("ORDERID", ""),
                "PAYID": "0",
                "NCSTATUS": "5",
                "NCERROR": UNKNOWN_ORDER,
                "NCERRORPLUS": "unknown orderid",
                "STATUS": "0",
            }
        if p.get("PAYIDSUB"):
            refund = next((r for r in order.refunds if r[0] == p["PAYIDSUB"]), None)
            if refund is None:
                return {"PAYID": order.payid, "NCSTATUS": "5", "NCERROR": UNKNOWN_ORDER, "STATUS": "0"}
            return {
                "orderID": order.order_id,
                "PAYID": order.payid,
                "PAYIDSUB": refund[0],
                "NCSTATUS": "0",
                "NCERROR": "0",
                "STATUS": str(refund[1]),
                "amount": _decimal(refund[2]),
                "currency": order.currency,
            }
        return self._describe(order)

    def _describe(self, order: Order) -> dict[str, str]:
        answer = {
            "orderID": order.order_id,
            "PAYID": order.payid,
            "NCSTATUS": "0" if order.status == 9 else "3",
            "NCERROR": order.ncerror,
            "NCERRORPLUS": "!",
            "ACCEPTANCE": "test123",
            "STATUS": str(order.status),
            "amount": _decimal(order.amount),
            "currency": order.currency,
            "PM": "CreditCard",
        }
        if order.alias:
            card = self.aliases.get(order.alias, {})
            answer.update(
                {
                    "ALIAS": order.alias,
                    "BRAND": card.get("BRAND", ""),
                    "CARDNO": card.get("CARDNO", ""),
                    "ED": card.get("ED", ""),
                }
            )
        return answer


class _Handler(FakeHandler):
    ogone: FakeOgone
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        page = urlparse(self.path).path.rsplit("/", 1)[-1]
        if page not in ("orderdirect.asp", "maintenancedirect.asp", "querydirect.asp"):
            return self._send(404, b"Not Found", "text/plain")
        failure = self.ogone._next_failure()
        if failure and failure.kind == "drop":
            return self.drop()
        if failure and failure.kind == "5xx":
            return self._send(500, b"<html>Internal Server Error</html>", "text/html")
        answer = self.ogone.handle_direct(page, dict(parse_qsl(body, keep_blank_values=True)), failure)
        if failure and failure.kind == "stall":
            time.sleep(failure.seconds)
        element = ET.Element("ncresponse", answer)
        self._send(200, ET.tostring(element, encoding="utf-8", xml_declaration=True))

    def _send(self, status: int, body: bytes, content_type: str = "text/xml; charset=utf-8") -> None:
        self.reply(status, body, content_type)


def _decimal(hundredths: str) -> str:
    return format(Decimal(hundredths) / 100, "f")
