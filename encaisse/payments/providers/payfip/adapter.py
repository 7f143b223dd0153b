"""PayFiP, the DGFiP's online payment service for public revenue, through its SOAP web service.

The protocol ("PayFiP Régie, web service", DGFiP implementation guide):

1. ``creerPaiementSecurise`` with the régie's client number (``numcli``), the
   year (``exer``), our reference (``refdet``), the amount in cents
   (``montant``), the payer's email (``mel``), ``objet``, the notification and
   return URLs and the mode (``saisie``: T test, X activation, W production)
   answers an operation id, ``idOp``;
2. the payer is sent to ``paiementws.web?idop=<idOp>`` and pays there;
3. PayFiP calls ``urlnotif`` with the ``idop``, and sends the payer back to
   ``urlredirect``;
4. ``recupererDetailPaiementSecurise(idOp)`` tells what happened
   (``resultrans``), for how much, and under which ``refdet``.

Nothing in steps 2 and 3 is signed: anyone can call our notification URL or
return URL with any idop and any extra parameter. So this adapter never takes a
result from them. parse_webhook() only says "ask about this idop"; fetch(),
which calls PayFiP ourselves, is the only source of a result. That is how a
return URL with a tampered amount or status changes nothing here.

PayFiP has no refund, no saved card and no off-session charge in its web
service: refunds go through the régie's accounting, outside Encaisse's reach.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

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
)

DEFAULT_API_BASE = "https://www.payfip.gouv.fr/tpa"
SERVICE_PATH = "/services/securite"
PAYMENT_PAGE_PATH = "/paiementws.web"

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS_SERVICE = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)

SAISIE = {"test": "T", "activation": "X", "production": "W"}

# resultrans, as the guide lists it.
PAID = {"P": "paid by card", "V": "paid by direct debit"}
REFUSED = {"R": "card payment refused", "Z": "direct debit refused", "A": "abandoned by the payer"}

# FonctionnelleErreur codes that say something about the payment itself.
IN_PROGRESS = "P5"  # the payer has not finished (or left) the payment page yet
UNKNOWN_OPERATION = "P1"  # no such idop: never paid, and cleaned up by PayFiP's nightly job

PARIS = ZoneInfo("Europe/Paris")
IDOP_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class CheckoutFailed(CheckoutNotStarted):
    """PayFiP gave no operation id: the payer cannot be sent to pay, and nothing was charged."""

    def __init__(self, outcome: Outcome, message: str, code: str | None = None) -> None:
        super().__init__(ProviderResult(outcome=outcome, message=message, decline_code=code))
        self.outcome = outcome
        self.code = code
        self.message = message


def reference_for(idempotency_key: str) -> str:
    """Return the ``refdet`` for an attempt: 30 characters from [0-9A-F], the same for every retry.

    PayFiP accepts 1 to 30 letters and digits. The key itself may be longer or
    hold dashes, so it is hashed; 120 bits leave no practical chance of two
    attempts sharing a reference.
    """
    return hashlib.sha256(idempotency_key.encode()).hexdigest().upper()[:30]


def objet_for(text: str) -> str:
    """Return ``objet`` as PayFiP takes it: at most 100 characters from [A-Za-z0-9 ]."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9 ]", " ", ascii_text)
    return re.sub(r"\s+", " ", cleaned).strip()[:100]


class _Fault(Exception):
    def __init__(self, kind: str, code: str, message: str) -> None:
        super().__init__(f"{kind} {code}: {message}")
        self.kind = kind  # FonctionnelleErreur, TechDysfonctionnementErreur, ...
        self.code = code
        self.message = message


class _NoAnswer(Exception):
    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _fields(element: ET.Element) -> dict[str, str]:
    return {_local(child.tag): (child.text or "").strip() for child in element}


class PayFiPProvider:
    code: ClassVar[str] = "payfip"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.HOSTED_CHECKOUT})

    def __init__(
        self,
        *,
        client_number: str,
        environment: str = "production",
        api_base: str = DEFAULT_API_BASE,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not (len(client_number) == 6 and client_number.isdigit()):
            raise ValueError("The PayFiP client number (numcli) is six digits.")
        if environment not in SAISIE:
            raise ValueError(f"PayFiP environment must be one of {sorted(SAISIE)}, not {environment!r}.")
        self.client_number = client_number
        self.environment = environment
        self.api_base = api_base.rstrip("/")
        self.timeout_seconds = timeout_seconds

    # -- the interface ----------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Ask PayFiP for an operation id and return the payment page's address.

        The ``refdet`` comes from the idempotency key, so every retry of one
        attempt carries the same reference, and the result read back by fetch()
        can be checked against it. PayFiP itself hands out a fresh idop on each
        call; an idop nobody was sent to pay with expires unpaid.

        Raises CheckoutFailed (UNKNOWN or NOT_PROCESSED) when no idop came back.
        """
        if request.amount.currency != "EUR":
            raise ValueError("PayFiP collects euros only.")
        if request.amount.minor <= 0:
            raise ValueError("PayFiP collects positive amounts only.")
        arguments = {
            "exer": str(datetime.now(PARIS).year),
            "mel": request.payer_email,
            "montant": str(request.amount.minor),
            "numcli": self.client_number,
            "objet": objet_for(f"{request.reference} {request.description}"),
            "refdet": reference_for(request.idempotency_key),
            "saisie": SAISIE[self.environment],
            "urlnotif": request.notify_url,
            "urlredirect": request.return_url,
        }
        try:
            answer = self._call("creerPaiementSecurise", arguments)
        except _NoAnswer as error:
            raise CheckoutFailed(error.outcome, error.message) from error
        except _Fault as fault:
            # A functional error is PayFiP refusing the request as invalid
            # (unknown numcli, bad refdet, amount out of range); a technical
            # one leaves us not knowing, though no payer holds the idop.
            outcome = Outcome.NOT_PROCESSED if fault.kind == "FonctionnelleErreur" else Outcome.UNKNOWN
            raise CheckoutFailed(outcome, fault.message, fault.code) from fault
        idop = answer.get("idOp", "")
        if not IDOP_RE.match(idop):
            raise CheckoutFailed(Outcome.UNKNOWN, "PayFiP answered without an operation id.")
        return CheckoutSession(
            redirect_url=f"{self.api_base}{PAYMENT_PAGE_PATH}?{urlencode({'idop': idop})}",
            provider_reference=idop,
            raw={"idOp": idop, "refdet": arguments["refdet"], "exer": arguments["exer"]},
        )

    def charge(self, request: ChargeRequest) -> ProviderResult:
        """PayFiP keeps no payment method: there is nothing to charge off-session."""
        return ProviderResult(
            outcome=Outcome.NOT_PROCESSED,
            message="PayFiP has no saved payment methods; the payer pays on PayFiP's page.",
        )

    def refund(self, request: RefundRequest) -> ProviderResult:
        """PayFiP's web service cannot refund: the régie refunds through its accounting."""
        return ProviderResult(
            outcome=Outcome.NOT_PROCESSED,
            message="PayFiP has no refund operation; the régie refunds outside PayFiP.",
        )

    def fetch(self, *, idempotency_key: str, provider_reference: str | None) -> ProviderResult:
        """Ask PayFiP what became of an operation: the only source of a PayFiP result.

        Without an idop no payer was ever sent to pay, so nothing was charged
        (NOT_PROCESSED). An answer about another ``refdet`` or another régie
        is not believed (UNKNOWN). ``P5`` (payer still on the page, or gone
        without finishing) is PENDING: PayFiP says so for about 15 minutes
        after the idop was issued, so the caller expires attempts older than
        that itself.
        """
        if not provider_reference:
            return ProviderResult(
                outcome=Outcome.NOT_PROCESSED,
                message="No PayFiP operation id was issued, so the payer never reached PayFiP.",
            )
        idop = provider_reference
        try:
            answer = self._call("recupererDetailPaiementSecurise", {"idOp": idop})
        except _NoAnswer as error:
            return ProviderResult(outcome=Outcome.UNKNOWN, provider_reference=idop, message=error.message)
        except _Fault as fault:
            if fault.code == IN_PROGRESS:
                return ProviderResult(
                    outcome=Outcome.PENDING, provider_reference=idop, decline_code=fault.code, message=fault.message
                )
            if fault.code == UNKNOWN_OPERATION:
                return ProviderResult(
                    outcome=Outcome.DECLINED, provider_reference=idop, decline_code=fault.code, message=fault.message
                )
            return ProviderResult(
                outcome=Outcome.UNKNOWN, provider_reference=idop, decline_code=fault.code, message=fault.message
            )
        return self._result_from_detail(idop, reference_for(idempotency_key), answer)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent | None:
        """Read the idop from a PayFiP notification, and nothing else.

        The notification is an unsigned form post carrying ``idop``. Whatever
        else it holds (a status, an amount) is ignored: the event is always
        PENDING and carries no amount, and the payments service must call
        ``fetch(provider_reference=event.provider_reference)`` to learn the
        result from PayFiP itself. A body without a well-formed idop is refused.
        """
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as error:
            raise ForgedWebhook("PayFiP notification is not UTF-8 form data.") from error
        values = form.get("idop") or form.get("idOp") or []
        if len(values) != 1 or not IDOP_RE.match(values[0]):
            raise ForgedWebhook("PayFiP notification without a well-formed idop.")
        idop = values[0]
        return ProviderEvent(
            event_id=f"payfip-notification:{idop}",
            provider_reference=idop,
            outcome=Outcome.PENDING,
            occurred_at=datetime.now(UTC),
            raw={"idop": idop},
        )

    # -- the web service --------------------------------------------------

    def _result_from_detail(self, idop: str, refdet: str, answer: dict[str, str]) -> ProviderResult:
        raw = dict(answer)
        if answer.get("idOp", idop) != idop or answer.get("numcli") != self.client_number:
            return ProviderResult(
                outcome=Outcome.UNKNOWN,
                provider_reference=idop,
                message="PayFiP's answer is about another operation or régie.",
                raw=raw,
            )
        if answer.get("refdet") != refdet:
            return ProviderResult(
                outcome=Outcome.UNKNOWN,
                provider_reference=idop,
                message="PayFiP's operation carries another reference than this attempt's.",
                raw=raw,
            )
        try:
            amount = Money(int(answer.get("montant", "")), "EUR")
        except ValueError:
            amount = None
        resultrans = answer.get("resultrans", "")
        if resultrans in PAID:
            return ProviderResult(
                outcome=Outcome.SUCCEEDED,
                provider_reference=idop,
                amount=amount,
                message=PAID[resultrans],
                raw=raw,
            )
        if resultrans in REFUSED:
            return ProviderResult(
                outcome=Outcome.DECLINED,
                provider_reference=idop,
                amount=amount,
                decline_code=resultrans,
                message=REFUSED[resultrans],
                raw=raw,
            )
        return ProviderResult(
            outcome=Outcome.UNKNOWN,
            provider_reference=idop,
            amount=amount,
            message=f"Unexpected PayFiP result code {resultrans!r}.",
            raw=raw,
        )

    def _call(self, operation: str, arguments: Mapping[str, str]) -> dict[str, str]:
        """Call one operation; return the fields of its ``return`` element.

        Raises _NoAnswer (with NOT_PROCESSED when the request never left,
        UNKNOWN when it may have been received) or _Fault for a SOAP fault.
        """
        try:
            response = httpx.post(
                f"{self.api_base}{SERVICE_PATH}",
                content=_envelope(operation, arguments),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                timeout=self.timeout_seconds,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise _NoAnswer(Outcome.NOT_PROCESSED, f"PayFiP could not be reached: {error}") from error
        except httpx.TransportError as error:
            raise _NoAnswer(Outcome.UNKNOWN, f"PayFiP did not answer: {error!r}") from error
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError:
            root = None
        if root is not None:
            for element in root.iter():
                if _local(element.tag) == "Fault":
                    raise _fault_from(element)
            if response.status_code == 200:
                for element in root.iter():
                    if _local(element.tag) == "return":
                        return _fields(element)
        if 400 <= response.status_code < 500:
            raise _NoAnswer(Outcome.NOT_PROCESSED, f"PayFiP refused the request (HTTP {response.status_code}).")
        raise _NoAnswer(Outcome.UNKNOWN, f"PayFiP answered HTTP {response.status_code} without a usable result.")


def _envelope(operation: str, arguments: Mapping[str, str]) -> bytes:
    ET.register_namespace("soapenv", SOAP_ENV)
    ET.register_namespace("pai", NS_SERVICE)
    envelope = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    ET.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
    body = ET.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    arg0 = ET.SubElement(ET.SubElement(body, f"{{{NS_SERVICE}}}{operation}"), "arg0")
    for name, value in arguments.items():
        ET.SubElement(arg0, name).text = value
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=True)


def _fault_from(fault: ET.Element) -> _Fault:
    """Read a SOAP fault: the detail holds FonctionnelleErreur (or a Tech...Erreur) with code and text."""
    faultstring = next((e.text or "" for e in fault.iter() if _local(e.tag) == "faultstring"), "")
    for element in fault.iter():
        if _local(element.tag).endswith("Erreur"):
            fields = _fields(element)
            message = fields.get("descriptif") or fields.get("libelle") or faultstring
            return _Fault(_local(element.tag), fields.get("code", ""), message)
    return _Fault("Fault", "", faultstring)
