"""A local stand-in for PayFiP's SOAP web service and payment page.

It speaks the envelopes of the DGFiP guide: ``creerPaiementSecurise`` and
``recupererDetailPaiementSecurise`` in the PaiementSecuriseService namespace,
arguments in an unqualified ``arg0``, answers in ``return``, and errors as SOAP
faults whose detail holds a ``FonctionnelleErreur`` (code, descriptif,
libelle, severite). Codes P1 (unknown idop) and P5 (payment not finished) are
PayFiP's; the validation codes the fake uses for a bad request are its own.

Tests play the payer with pay(idop, "P") and switch failures on for the next
request: stall, 5xx, SOAP fault, dropped connection.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from encaisse.testing.fake_http import FakeHandler, LocalServer

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS_SERVICE = (
    "http://securite.service.tpa.cp.finances.gouv.fr/services/mas_securite/"
    "contrat_paiement_securise/PaiementSecuriseService"
)
NS_REPONSE = "http://securite.service.tpa.cp.finances.gouv.fr/reponse"


@dataclass
class Operation:
    idop: str
    arguments: dict[str, str]
    resultrans: str | None = None  # None until the payer finishes on the page
    dattrans: str = ""
    heurtrans: str = ""
    numauto: str = ""


@dataclass
class Failure:
    kind: str  # "stall", "5xx", "fault", "drop"
    seconds: float = 0.0
    fault_kind: str = "FonctionnelleErreur"
    code: str = ""


@dataclass
class FakePayFiP:
    numcli: str = "012345"
    operations: dict[str, Operation] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # operation names, in order
    _failures: list[Failure] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LocalServer = field(default_factory=LocalServer)

    # -- test controls ------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.address("/tpa")

    def start(self) -> None:
        self._server.start(_Handler, payfip=self)

    def stop(self) -> None:
        self._server.stop()

    def pay(self, idop: str, resultrans: str = "P") -> None:
        """Play the payer on the payment page: P paid, R refused, A abandoned."""
        operation = self.operations[idop]
        operation.resultrans = resultrans
        operation.dattrans = time.strftime("%d%m%Y")
        operation.heurtrans = time.strftime("%H%M")
        operation.numauto = f"{len(self.operations):06d}" if resultrans == "P" else ""

    def stall_next(self, seconds: float) -> None:
        """Handle the next request fully, but answer only after some seconds."""
        self._failures.append(Failure("stall", seconds=seconds))

    def fail_next_with_5xx(self) -> None:
        self._failures.append(Failure("5xx"))

    def fault_next(self, code: str, kind: str = "FonctionnelleErreur") -> None:
        self._failures.append(Failure("fault", fault_kind=kind, code=code))

    def drop_next(self) -> None:
        """Read the next request, then close the connection without answering."""
        self._failures.append(Failure("drop"))

    def _next_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    # -- the web service -----------------------------------------------------

    def handle_soap(self, body: bytes) -> tuple[int, bytes]:
        try:
            envelope = ET.fromstring(body)
            call = next(iter(envelope.find(f"{{{SOAP_ENV}}}Body")))
        except (ET.ParseError, StopIteration, TypeError):
            return 500, _fault("TechProtocolaireErreur", "T1", "Requête SOAP illisible")
        operation = call.tag.rsplit("}", 1)[-1]
        if not call.tag.startswith(f"{{{NS_SERVICE}}}"):
            return 500, _fault("TechProtocolaireErreur", "T2", "Espace de noms inconnu")
        arg0 = call.find("arg0")
        arguments = {child.tag: (child.text or "") for child in (arg0 if arg0 is not None else [])}
        self.requests.append(operation)
        if operation == "creerPaiementSecurise":
            return self._creer(arguments)
        if operation == "recupererDetailPaiementSecurise":
            return self._recuperer(arguments)
        return 500, _fault("TechProtocolaireErreur", "T3", f"Opération inconnue {operation}")

    def _creer(self, a: dict[str, str]) -> tuple[int, bytes]:
        if a.get("numcli") != self.numcli:
            return 500, _fault("FonctionnelleErreur", "C1", "Numéro de client inconnu")
        if not re.fullmatch(r"[A-Za-z0-9]{1,30}", a.get("refdet", "")):
            return 500, _fault("FonctionnelleErreur", "C2", "Référence de la dette invalide")
        if not re.fullmatch(r"\d{1,8}", a.get("montant", "")) or not 1 <= int(a["montant"]) <= 10_000_000:
            return 500, _fault("FonctionnelleErreur", "C3", "Montant invalide")
        if "@" not in a.get("mel", "") or not 6 <= len(a["mel"]) <= 80:
            return 500, _fault("FonctionnelleErreur", "C4", "Adresse électronique invalide")
        if a.get("saisie") not in {"T", "X", "W"} or not re.fullmatch(r"\d{4}", a.get("exer", "")):
            return 500, _fault("FonctionnelleErreur", "C5", "Mode de saisie ou exercice invalide")
        with self._lock:
            idop = f"{next(self._ids):08d}-fake-idop"
            self.operations[idop] = Operation(idop=idop, arguments=dict(a))
        return 200, _response("creerPaiementSecurise", {"idOp": idop})

    def _recuperer(self, a: dict[str, str]) -> tuple[int, bytes]:
        operation = self.operations.get(a.get("idOp", ""))
        if operation is None:
            return 500, _fault("FonctionnelleErreur", "P1", "IdOp incorrect")
        if operation.resultrans is None:
            return 500, _fault("FonctionnelleErreur", "P5", "Paiement en cours ou non abouti")
        args = operation.arguments
        return 200, _response(
            "recupererDetailPaiementSecurise",
            {
                "dattrans": operation.dattrans,
                "exer": args["exer"],
                "heurtrans": operation.heurtrans,
                "idOp": operation.idop,
                "mel": args["mel"],
                "montant": args["montant"],
                "numauto": operation.numauto,
                "numcli": args["numcli"],
                "objet": args.get("objet", ""),
                "refdet": args["refdet"],
                "resultrans": operation.resultrans,
                "saisie": args["saisie"],
            },
        )


class _Handler(FakeHandler):
    payfip: FakePayFiP
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlparse(self.path).path != "/tpa/services/securite":
            return self._send(404, b"Not Found", "text/plain")
        failure = self.payfip._next_failure()
        if failure and failure.kind == "drop":
            return self.drop()
        if failure and failure.kind == "5xx":
            return self._send(503, b"<html><body>Service indisponible</body></html>", "text/html")
        if failure and failure.kind == "fault":
            return self._send(500, _fault(failure.fault_kind, failure.code, "Erreur simulée"))
        status, answer = self.payfip.handle_soap(body)
        if failure and failure.kind == "stall":
            time.sleep(failure.seconds)
        self._send(status, answer)  # FakeHandler.reply: a client that gave up waiting is no error

    def do_GET(self) -> None:
        url = urlparse(self.path)
        idop = (parse_qs(url.query).get("idop") or [""])[0]
        if url.path != "/tpa/paiementws.web" or idop not in self.payfip.operations:
            return self._send(404, b"Not Found", "text/plain")
        return self._send(200, b"<html><body>PayFiP (fake)</body></html>", "text/html")

    def _send(self, status: int, body: bytes, content_type: str = "text/xml; charset=utf-8") -> None:
        self.reply(status, body, content_type)


def _envelope_with(body_child: ET.Element) -> bytes:
    ET.register_namespace("S", SOAP_ENV)
    envelope = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    ET.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(body_child)
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=True)


def _response(operation: str, fields: dict[str, str]) -> bytes:
    answer = ET.Element(f"{{{NS_SERVICE}}}{operation}Response")
    returned = ET.SubElement(answer, "return")
    for name, value in fields.items():
        ET.SubElement(returned, f"{{{NS_REPONSE}}}{name}").text = value
    return _envelope_with(answer)


def _fault(kind: str, code: str, text: str) -> bytes:
    fault = ET.Element(f"{{{SOAP_ENV}}}Fault")
    ET.SubElement(fault, "faultcode").text = "S:Server"
    ET.SubElement(fault, "faultstring").text = f"fr.gouv.finances.cp.tpa.webservice.exceptions.{kind}"
    error = ET.SubElement(ET.SubElement(fault, "detail"), f"{{{NS_SERVICE}}}{kind}")
    for name, value in (("code", code), ("descriptif", text), ("libelle", text), ("severite", "2")):
        ET.SubElement(error, name).text = value
    return _envelope_with(fault)
