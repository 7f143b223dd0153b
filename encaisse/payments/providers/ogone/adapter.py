"""Ogone e-Commerce (Worldline, formerly Ingenico ePayments) through its documented HTTP interface.

- Hosted payment page ``orderstandard_utf8.asp``: the payer's browser carries
  our parameters there, signed with SHA-IN; the card is typed on Ogone's page
  only, and with ALIAS/ALIASUSAGE Ogone keeps it under our alias.
- Return URLs and the server-to-server post-sale request carry the result
  (STATUS, PAYID, ORDERID, AMOUNT, ...) signed with SHA-OUT: parse_webhook()
  refuses anything whose signature does not verify, so a tampered amount or
  status is a ForgedWebhook.
- DirectLink: ``orderdirect.asp`` charges an alias off-session,
  ``maintenancedirect.asp`` refunds, ``querydirect.asp`` looks an order up.
  Answers are one XML element, ``<ncresponse STATUS=".." NCERROR=".." .../>``.

Signature (both ways): the parameters with a non-empty value, names in upper
case, sorted, each written ``NAME=value`` followed by the passphrase, all
concatenated and hashed (SHA-1, SHA-256 or SHA-512), in upper-case hex.
SHA-OUT covers only the parameters Ogone lists for it.

Idempotency: ORDERID is derived from the attempt's idempotency key. Ogone
refuses a second order with an ORDERID it has already processed (NCERROR
50001113), so a replayed charge cannot charge twice, and the adapter answers
it with the first order's result, read back through querydirect.
"""

from __future__ import annotations

import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode

import httpx

from encaisse.core.money import Money, UnknownCurrency
from encaisse.payments.providers.base import (
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
)

DEFAULT_API_BASE = "https://secure.ogone.com/ncol/prod"

HASHES = {"SHA-1": hashlib.sha1, "SHA-256": hashlib.sha256, "SHA-512": hashlib.sha512}

# The parameters Ogone signs with SHA-OUT (transaction feedback guide).
SHA_OUT_KEYS = frozenset(
    [
        "AAVADDRESS",
        "AAVCHECK",
        "AAVMAIL",
        "AAVNAME",
        "AAVPHONE",
        "AAVZIP",
        "ACCEPTANCE",
        "ALIAS",
        "AMOUNT",
        "BIC",
        "BIN",
        "BRAND",
        "CARDNO",
        "CCCTY",
        "CN",
        "COLLECTOR_BIC",
        "COLLECTOR_IBAN",
        "COMPLUS",
        "CREATION_STATUS",
        "CREDITDEBIT",
        "CURRENCY",
        "CVCCHECK",
        "DCC_COMMPERCENTAGE",
        "DCC_CONVAMOUNT",
        "DCC_CONVCCY",
        "DCC_EXCHRATE",
        "DCC_EXCHRATESOURCE",
        "DCC_EXCHRATETS",
        "DCC_INDICATOR",
        "DCC_MARGINPERCENTAGE",
        "DCC_VALIDHOURS",
        "DEVICEID",
        "DIGESTCARDNO",
        "ECI",
        "ED",
        "EMAIL",
        "ENCCARDNO",
        "FXAMOUNT",
        "FXCURRENCY",
        "IP",
        "IPCTY",
        "MANDATEID",
        "MOBILEMODE",
        "NBREMAILUSAGE",
        "NBRIPUSAGE",
        "NBRIPUSAGE_ALLTX",
        "NBRUSAGE",
        "NCERROR",
        "ORDERID",
        "PAYID",
        "PAYIDSUB",
        "PAYMENT_REFERENCE",
        "PM",
        "SCO_CATEGORY",
        "SCORING",
        "SEQUENCETYPE",
        "SIGNDATE",
        "STATUS",
        "SUBBRAND",
        "SUBSCRIPTION_ID",
        "TICKET",
        "TRXDATE",
        "VC",
    ]
)

# STATUS values (Ogone's status list) and what they mean to Encaisse.
PAID = {5: "authorised", 9: "payment requested"}
WAITING = {
    41: "waiting for client payment",
    46: "waiting for authentication",
    50: "authorised, waiting",
    51: "authorisation waiting",
    55: "standby",
    56: "ok with scheduled payments",
    91: "payment processing",
    99: "being processed",
}
UNCERTAIN = {52: "authorisation not known", 92: "payment uncertain"}
REFUSED = {2: "authorisation refused", 93: "payment refused"}
CANCELLED = 1
INVALID = 0
REFUNDED = {8: "refund", 85: "refund handled by merchant"}
REFUND_WAITING = {81: "refund pending"}
REFUND_UNCERTAIN = {82: "refund uncertain"}
REFUND_REFUSED = {83: "refund refused", 84: "refund declined by the acquirer"}

ALREADY_PROCESSED = "50001113"  # this ORDERID was already processed: a replay
UNKNOWN_ORDER = "50001130"  # querydirect: no order with this ORDERID


def sign(parameters: Mapping[str, object], passphrase: str, algorithm: str, keys: frozenset[str] | None = None) -> str:
    """Return Ogone's SHASIGN of the parameters: upper-case hex of the digest."""
    items = sorted((name.upper(), str(value)) for name, value in parameters.items())
    text = "".join(
        f"{name}={value}{passphrase}"
        for name, value in items
        if value != "" and name != "SHASIGN" and (keys is None or name in keys)
    )
    return HASHES[algorithm](text.encode("utf-8")).hexdigest().upper()


def order_id_for(idempotency_key: str) -> str:
    """Return the ORDERID for an attempt: 30 characters, the same on every retry."""
    return "E" + hashlib.sha256(idempotency_key.encode()).hexdigest().upper()[:29]


def alias_for(idempotency_key: str) -> str:
    """Return the alias Ogone keeps the card under when the payer agrees to save it."""
    return "ENC" + hashlib.sha256(f"alias:{idempotency_key}".encode()).hexdigest().upper()[:29]


def amount_field(amount: Money) -> str:
    """Return AMOUNT as Ogone wants it: the amount multiplied by 100, whatever the currency."""
    hundredths = amount.to_decimal() * 100
    if hundredths != hundredths.to_integral_value():
        raise ValueError(f"{amount.currency} amounts with more than two decimals cannot be sent to Ogone.")
    return str(int(hundredths))


def _money(value: str, currency: str) -> Money | None:
    try:
        return Money.of(Decimal(value), currency)
    except (InvalidOperation, ValueError, UnknownCurrency):
        return None


class OgoneProvider:
    code: ClassVar[str] = "ogone"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.HOSTED_CHECKOUT,
            Capability.SAVE_METHOD,
            Capability.SAVED_METHOD,
            Capability.REFUND,
            Capability.PARTIAL_REFUND,
        }
    )

    def __init__(
        self,
        *,
        pspid: str,
        sha_in: str,
        sha_out: str,
        api_user: str,
        api_password: str,
        api_base: str = DEFAULT_API_BASE,
        hash_algorithm: str = "SHA-512",
        timeout_seconds: float = 10.0,
        alias_usage: str = "Automatic payment of your next invoices",
    ) -> None:
        if hash_algorithm not in HASHES:
            raise ValueError(f"hash_algorithm must be one of {sorted(HASHES)}.")
        self.pspid = pspid
        self.sha_in = sha_in
        self.sha_out = sha_out
        self.api_user = api_user
        self.api_password = api_password
        self.api_base = api_base.rstrip("/")
        self.hash_algorithm = hash_algorithm
        self.timeout_seconds = timeout_seconds
        self.alias_usage = alias_usage

    def __repr__(self) -> str:  # keys and password never appear in logs or tracebacks
        return f"OgoneProvider(pspid={self.pspid!r}, api_base={self.api_base!r})"

    # -- the interface ----------------------------------------------------

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Return the hosted page's address with our parameters signed with SHA-IN.

        Nothing is sent to Ogone here: the payer's browser carries the
        parameters (GET form). The ORDERID comes from the idempotency key, so a
        second tab opening the same attempt asks Ogone for the same order,
        which Ogone processes once.
        """
        parameters = {
            "PSPID": self.pspid,
            "ORDERID": order_id_for(request.idempotency_key),
            "AMOUNT": amount_field(request.amount),
            "CURRENCY": request.amount.currency,
            "LANGUAGE": "fr_FR" if request.locale.startswith("fr") else "en_US",
            "EMAIL": request.payer_email,
            "COM": request.description[:100],
            "COMPLUS": request.attempt_id,
            "ACCEPTURL": request.return_url,
            "DECLINEURL": request.return_url,
            "EXCEPTIONURL": request.return_url,
            "CANCELURL": request.cancel_url,
        }
        if request.save_method:
            parameters["ALIAS"] = alias_for(request.idempotency_key)
            parameters["ALIASUSAGE"] = self.alias_usage
        parameters["SHASIGN"] = sign(parameters, self.sha_in, self.hash_algorithm)
        return CheckoutSession(
            redirect_url=f"{self.api_base}/orderstandard_utf8.asp?{urlencode(parameters)}",
            provider_reference=parameters["ORDERID"],
            raw={k: v for k, v in parameters.items() if k != "SHASIGN"},
        )

    def charge(self, request: ChargeRequest) -> ProviderResult:
        """Charge an alias off-session through DirectLink (ECI 9: recurring, from e-commerce)."""
        order_id = order_id_for(request.idempotency_key)
        answer = self._post(
            "orderdirect.asp",
            {
                "PSPID": self.pspid,
                "USERID": self.api_user,
                "PSWD": self.api_password,
                "ORDERID": order_id,
                "AMOUNT": amount_field(request.amount),
                "CURRENCY": request.amount.currency,
                "ALIAS": request.method_token,
                "ECI": "9",
                "OPERATION": "SAL",
                "COM": request.statement_label[:100],
                "COMPLUS": request.attempt_id,
            },
        )
        if isinstance(answer, ProviderResult):
            return answer
        if answer.get("NCERROR") == ALREADY_PROCESSED:
            # A replay of a charge Ogone already processed: answer with the first result.
            return self._query({"ORDERID": order_id})
        return _result_from(answer, order_id=order_id)

    def refund(self, request: RefundRequest) -> ProviderResult:
        """Refund part or all of a payment (maintenance operation RFD).

        RFD refunds and leaves the payment open for more refunds; RFS would
        close it. Both move the same money, and Encaisse cannot know whether
        another refund will follow, so RFD is always used. DirectLink
        maintenance has no idempotency key: after an UNKNOWN refund, look at
        the payment with fetch(provider_reference=PAYID) before refunding again.
        """
        answer = self._post(
            "maintenancedirect.asp",
            {
                "PSPID": self.pspid,
                "USERID": self.api_user,
                "PSWD": self.api_password,
                "PAYID": request.payment_reference,
                "AMOUNT": amount_field(request.amount),
                "OPERATION": "RFD",
            },
        )
        if isinstance(answer, ProviderResult):
            return answer
        return _refund_result_from(answer, request.payment_reference, request.amount.currency)

    def fetch(self, *, idempotency_key: str, provider_reference: str | None) -> ProviderResult:
        """Look an order up with querydirect.

        A refund's reference is ``PAYID/PAYIDSUB``; anything else is looked up
        by the ORDERID derived from the idempotency key, which works even when
        no PAYID ever came back. An ORDERID Ogone does not know means nothing
        was charged under it (NOT_PROCESSED); a payer still on the hosted page
        may yet pay, and the post-sale request will then tell.
        """
        if provider_reference and "/" in provider_reference:
            payid, payidsub = provider_reference.split("/", 1)
            return self._query({"PAYID": payid, "PAYIDSUB": payidsub}, refund=True)
        return self._query({"ORDERID": order_id_for(idempotency_key)})

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEvent | None:
        """Verify a post-sale request (or return-URL parameters) with SHA-OUT and translate it.

        Ogone's parameters carry no timestamp, so there is no staleness check:
        a replayed genuine request yields the same event id and is deduplicated.
        Statuses about refunds or others Encaisse does not follow give None.
        """
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as error:
            raise ForgedWebhook("Ogone feedback is not form data.") from error
        parameters: dict[str, str] = {}
        for name, value in pairs:
            if name.upper() in parameters:
                raise ForgedWebhook(f"Ogone feedback repeats {name.upper()}.")
            parameters[name.upper()] = value
        received = parameters.get("SHASIGN", "")
        expected = sign(parameters, self.sha_out, self.hash_algorithm, SHA_OUT_KEYS)
        if not received or not hmac.compare_digest(received.upper(), expected):
            raise ForgedWebhook("Ogone feedback does not verify against SHA-OUT.")
        try:
            status = int(parameters.get("STATUS", ""))
        except ValueError:
            return None
        outcome = _outcome_of(status)
        if outcome is None:
            return None
        ncerror = parameters.get("NCERROR", "")
        return ProviderEvent(
            event_id=f"{parameters.get('PAYID', '')}:{status}:{ncerror}",
            provider_reference=parameters.get("ORDERID", ""),
            outcome=outcome,
            occurred_at=datetime.now(UTC),
            attempt_id=parameters.get("COMPLUS") or None,
            amount=_money(parameters.get("AMOUNT", ""), parameters.get("CURRENCY", "")),
            decline_code=_decline_code(status, ncerror) if outcome is Outcome.DECLINED else None,
            saved_method=_saved_method(parameters) if outcome is Outcome.SUCCEEDED else None,
            raw=_safe(parameters),
        )

    # -- DirectLink ---------------------------------------------------------

    def _query(self, keys: Mapping[str, str], *, refund: bool = False) -> ProviderResult:
        answer = self._post(
            "querydirect.asp", {"PSPID": self.pspid, "USERID": self.api_user, "PSWD": self.api_password, **keys}
        )
        if isinstance(answer, ProviderResult):
            # A failed lookup changes nothing: the request it asks about stays unknown.
            return ProviderResult(outcome=Outcome.UNKNOWN, message=answer.message)
        if answer.get("NCERROR") == UNKNOWN_ORDER:
            return ProviderResult(
                outcome=Outcome.NOT_PROCESSED,
                decline_code=UNKNOWN_ORDER,
                message="Ogone has no such order.",
                raw=answer,
            )
        if refund:
            return _refund_result_from(answer, keys["PAYID"], answer.get("CURRENCY", ""))
        return _result_from(answer, order_id=keys.get("ORDERID"))

    def _post(self, page: str, parameters: dict[str, str]) -> dict[str, str] | ProviderResult:
        """POST one DirectLink request; return ncresponse's attributes (upper-cased), or a failed result."""
        parameters = {**parameters, "SHASIGN": sign(parameters, self.sha_in, self.hash_algorithm)}
        try:
            response = httpx.post(f"{self.api_base}/{page}", data=parameters, timeout=self.timeout_seconds)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            return ProviderResult(outcome=Outcome.NOT_PROCESSED, message=f"Ogone could not be reached: {error}")
        except httpx.TransportError as error:
            return ProviderResult(outcome=Outcome.UNKNOWN, message=f"Ogone did not answer: {error!r}")
        if response.status_code >= 500:
            return ProviderResult(outcome=Outcome.UNKNOWN, message=f"Ogone answered HTTP {response.status_code}.")
        if response.status_code >= 400:
            return ProviderResult(
                outcome=Outcome.NOT_PROCESSED, message=f"Ogone refused the request (HTTP {response.status_code})."
            )
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError:
            return ProviderResult(outcome=Outcome.UNKNOWN, message="Ogone's answer is not XML.")
        if root.tag.lower() != "ncresponse":
            return ProviderResult(outcome=Outcome.UNKNOWN, message="Ogone's answer is not an ncresponse.")
        return {name.upper(): value for name, value in root.attrib.items()}


def _outcome_of(status: int) -> Outcome | None:
    if status in PAID:
        return Outcome.SUCCEEDED
    if status in WAITING:
        return Outcome.PENDING
    if status in UNCERTAIN:
        return Outcome.UNKNOWN
    if status in REFUSED or status == CANCELLED:
        return Outcome.DECLINED
    if status == INVALID:
        return Outcome.NOT_PROCESSED
    return None


def _decline_code(status: int, ncerror: str) -> str:
    if status == CANCELLED:
        return "cancelled"
    return ncerror or str(status)


def _result_from(answer: dict[str, str], *, order_id: str | None) -> ProviderResult:
    ncerror = answer.get("NCERROR", "")
    try:
        status = int(answer.get("STATUS") or 0)
    except ValueError:
        status = -1
    outcome = _outcome_of(status) or Outcome.UNKNOWN
    return ProviderResult(
        outcome=outcome,
        provider_reference=answer.get("PAYID") or order_id,
        amount=_money(answer.get("AMOUNT", ""), answer.get("CURRENCY", "")),
        decline_code=_decline_code(status, ncerror) if outcome in (Outcome.DECLINED, Outcome.NOT_PROCESSED) else None,
        message=answer.get("NCERRORPLUS", ""),
        saved_method=_saved_method(answer) if outcome is Outcome.SUCCEEDED and answer.get("ALIAS") else None,
        raw=_safe(answer),
    )


def _refund_result_from(answer: dict[str, str], payid: str, currency: str) -> ProviderResult:
    ncerror = answer.get("NCERROR", "")
    try:
        status = int(answer.get("STATUS") or 0)
    except ValueError:
        status = -1
    if status in REFUNDED:
        outcome = Outcome.SUCCEEDED
    elif status in REFUND_WAITING:
        outcome = Outcome.PENDING
    elif status in REFUND_REFUSED:
        outcome = Outcome.DECLINED
    elif status == INVALID:
        outcome = Outcome.NOT_PROCESSED
    else:
        outcome = Outcome.UNKNOWN
    payidsub = answer.get("PAYIDSUB", "")
    return ProviderResult(
        outcome=outcome,
        provider_reference=f"{answer.get('PAYID') or payid}/{payidsub}" if payidsub else None,
        amount=_money(answer.get("AMOUNT", ""), answer.get("CURRENCY") or currency),
        decline_code=(ncerror or str(status)) if outcome in (Outcome.DECLINED, Outcome.NOT_PROCESSED) else None,
        message=answer.get("NCERRORPLUS", ""),
        raw=_safe(answer),
    )


def _saved_method(parameters: Mapping[str, str]) -> SavedMethodInfo | None:
    alias = parameters.get("ALIAS", "")
    if not alias:
        return None
    expiry = parameters.get("ED", "")  # MMYY
    month = int(expiry[:2]) if len(expiry) == 4 and expiry.isdigit() else None
    year = 2000 + int(expiry[2:]) if month else None
    cardno = parameters.get("CARDNO", "")
    return SavedMethodInfo(
        token=alias,
        brand=parameters.get("BRAND", ""),
        last4=cardno[-4:] if cardno[-4:].isdigit() else "",
        exp_month=month,
        exp_year=year,
    )


def _safe(parameters: Mapping[str, str]) -> dict[str, str]:
    """Keep what audit needs; the masked card number is reduced to its last four digits."""
    kept = {k: v for k, v in parameters.items() if k not in {"SHASIGN", "PSWD", "CARDNO", "CN", "IP"}}
    cardno = parameters.get("CARDNO", "")
    if cardno:
        kept["CARD_LAST4"] = cardno[-4:]
    return kept
