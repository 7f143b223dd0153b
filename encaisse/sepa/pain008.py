"""The SEPA direct-debit file (pain.008) written for the creditor's bank.

Pure: plain dataclasses in, bytes out; no database, no clock.

sepaxml writes the document (one PmtInf block per sequence type and requested
collection date, batch totals, the creditor scheme id). It cannot do three
things we need, so they are spliced into the bytes of its one export, which
are then parsed once with lxml, cross-checked and checked against the ISO 20022
schema kept in `xsd/` (lxml would write the same bytes back, so there is no
second serialisation):
- our own MsgId (sepaxml draws a random one): the bank's pain.002 answers
  quote it, and a re-used MsgId makes the bank reject the whole file;
- deterministic PmtInfIds (sepaxml draws random ones inside export()):
  "<MsgId>-<n>", so a pain.002 batch status finds its batch;
- mandate amendments (AmdmntInd/AmdmntInfDtls): a new IBAN or a new mandate
  reference must be announced on the next collection.
Names and remittance information are transliterated to Latin here, exactly
as sepaxml's clean=True does, but once per distinct character.
sepaxml's own validation is off: it uses xmlschema, takes ~14 s for 30,000
debits and gives up at about 100,000 (MAX_XML_ELEMENTS); lxml checks the same
45 MB file in under half a second.

Everything the XSD cannot see is checked before the file is built, with an
error naming the debit: identifiers in the EPC restricted character set,
positive EUR amounts, IBAN check digits, one end-to-end id per collection.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from django.utils.translation import gettext_lazy as _
from lxml import etree
from sepaxml import SepaDD
from text_unidecode import unidecode

from encaisse.core.errors import DomainError
from encaisse.core.heap import long_lived_set_aside
from encaisse.core.money import Money

Scheme = Literal["CORE", "B2B"]
Schema = Literal["pain.008.001.02", "pain.008.001.08"]
SequenceType = Literal["FRST", "RCUR", "OOFF", "FNAL"]

SCHEMES: frozenset[str] = frozenset({"CORE", "B2B"})
SCHEMAS: tuple[str, ...] = ("pain.008.001.02", "pain.008.001.08")
SEQUENCE_TYPES: frozenset[str] = frozenset({"FRST", "RCUR", "OOFF", "FNAL"})
CURRENCY = "EUR"
# EPC rulebooks: amounts from 0.01 to 999,999,999.99 EUR.
MAX_AMOUNT_MINOR = 999_999_999_99

_XSD_DIR = Path(__file__).resolve().parent / "xsd"

# EPC "restricted character set" for references (ids): banks may refuse anything else. 1 to 35 characters,
# no "/" or space at either end (and no "//", checked apart); references (_REFERENCE) have no space at all.
_SEPA_ID = re.compile(r"[A-Za-z0-9\-?:().,'+](?:[A-Za-z0-9/\-?:().,'+ ]{0,33}[A-Za-z0-9\-?:().,'+])?")
_REFERENCE = re.compile(r"[A-Za-z0-9\-?:().,'+](?:[A-Za-z0-9/\-?:().,'+]{0,33}[A-Za-z0-9\-?:().,'+])?")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_BIC = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?")
# Characters XML 1.0 forbids: the C0 controls but tab, LF and CR.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A=10 … Z=35, for the ISO 13616 mod-97 check.
_IBAN_DIGITS = {ord(c): str(i) for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}


# --- errors ---------------------------------------------------------------------------------------

class InvalidCreditor(DomainError):
    code = "sepa_invalid_creditor"
    message = _("The creditor's %(field)s cannot be used in a direct-debit file: %(reason)s")


class InvalidSepaId(DomainError):
    code = "sepa_invalid_id"
    message = _("%(field)s “%(value)s” (%(where)s) is not a valid SEPA reference: use 1 to 35 of the characters "
                "A-Z a-z 0-9 / - ? : ( ) . , ' + and space, with no “/” or space at either end "
                "and no “//” (mandate references and creditor identifiers: no space at all).")


class InvalidDebit(DomainError):
    code = "sepa_invalid_debit"
    message = _("Debit no. %(position)s (end-to-end id %(e2e)s) cannot be collected: %(reason)s")


class DuplicateEndToEndId(DomainError):
    code = "sepa_duplicate_end_to_end_id"
    message = _("End-to-end id %(e2e)s is used by debits no. %(first)s and %(second)s: each collection needs its "
                "own, or the bank's answers cannot be matched.")


class EmptyDebitFile(DomainError):
    code = "sepa_empty_file"
    message = _("A direct-debit file needs at least one debit.")


class SepaFileInvalid(DomainError):
    code = "sepa_file_invalid"
    message = _("The direct-debit file does not follow the %(schema)s schema: %(errors)s")

    def __init__(self, *, schema: str, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(schema=schema, errors="; ".join(errors))


# --- input and output -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Creditor:
    """Who collects: one file has one creditor account, one scheme and one schema version."""

    name: str
    iban: str
    bic: str | None
    creditor_id: str  # ICS, e.g. FR72ZZZ123456
    scheme: Scheme = "CORE"
    schema: Schema = "pain.008.001.02"


@dataclass(frozen=True, slots=True)
class Amendment:
    """What changed in the mandate since the last collection (announced once, on the next one).

    `same_mandate_new_account` writes the EPC code SMNDA ("same mandate, new
    debtor account"), which since November 2016 covers any new IBAN, at the
    same bank or another; `original_iban` writes the old IBAN instead. One or
    the other, not both.
    """

    original_mandate_reference: str | None = None
    original_iban: str | None = None
    same_mandate_new_account: bool = False


@dataclass(frozen=True, slots=True)
class Debit:
    end_to_end_id: str
    amount: Money
    debtor_name: str
    iban: str
    bic: str | None
    mandate_reference: str
    mandate_signed_on: date
    sequence_type: SequenceType
    collection_date: date
    remittance: str
    amendment: Amendment | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """One PmtInf block: the debits sharing a sequence type and a requested collection date."""

    payment_info_id: str
    sequence_type: str
    collection_date: date
    number_of_transactions: int
    control_sum: Money


@dataclass(frozen=True, slots=True)
class DebitFileOutput:
    xml: bytes
    schema: str
    message_id: str
    number_of_transactions: int
    control_sum: Money
    batches: tuple[Batch, ...]
    payment_info_ids: dict[tuple[str, date], str] = field(default_factory=dict)


# --- checks ---------------------------------------------------------------------------------------

def is_sepa_id(value: object) -> bool:
    """True for a reference every SEPA bank accepts (EPC restricted character set, 1-35 characters)."""
    return isinstance(value, str) and _SEPA_ID.fullmatch(value) is not None and "//" not in value


def _is_reference(value: object) -> bool:
    """A SEPA id that is also free of spaces, as mandate references and creditor ids must be."""
    return isinstance(value, str) and _REFERENCE.fullmatch(value) is not None and "//" not in value


def _masked(iban: str) -> str:
    return f"{iban[:4]} •••• {iban[-4:]}" if len(iban) > 8 else "••••"


def _compact_iban(value: object) -> str | None:
    """Return the IBAN in its compact electronic form, or None when it is malformed or its check digits fail."""
    if not isinstance(value, str):
        return None
    iban = value.replace(" ", "").upper()
    if _IBAN.fullmatch(iban) is None or int((iban[4:] + iban[:4]).translate(_IBAN_DIGITS)) % 97 != 1:
        return None
    return iban


def _compact_bic(value: object) -> str | Literal[False] | None:
    """None when no BIC is given (written as NOTPROVIDED), False when malformed."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return False
    bic = value.strip().upper()
    return bic if _BIC.fullmatch(bic) else False


def _is_plain_date(value: object) -> bool:
    # A datetime is a date too, but sepaxml would write "2026-12-10 00:00:00".
    return isinstance(value, date) and not isinstance(value, datetime)


def _checked_creditor(creditor: Creditor) -> dict:
    if creditor.schema not in SCHEMAS:
        raise InvalidCreditor(field="schema", reason=creditor.schema)
    if creditor.scheme not in SCHEMES:
        raise InvalidCreditor(field="scheme", reason=creditor.scheme)
    if not isinstance(creditor.name, str) or not creditor.name.strip():
        raise InvalidCreditor(field="name", reason=_("it is empty"))
    iban = _compact_iban(creditor.iban)
    if iban is None:
        raise InvalidCreditor(field="IBAN", reason=_("%(iban)s is not a valid IBAN") % {
            "iban": _masked(str(creditor.iban))})
    bic = _compact_bic(creditor.bic)
    if bic is False:
        raise InvalidCreditor(field="BIC", reason=_("%(bic)s is not a valid BIC") % {"bic": creditor.bic})
    if bic is None and creditor.schema == "pain.008.001.02":
        raise InvalidCreditor(field="BIC", reason=_("pain.008.001.02 requires the creditor's BIC"))
    if not _is_reference(creditor.creditor_id):
        raise InvalidSepaId(field=_("Creditor identifier"), value=creditor.creditor_id, where=_("creditor"))
    config = {"name": creditor.name.strip(), "IBAN": iban, "batch": True, "creditor_id": creditor.creditor_id,
              "currency": CURRENCY, "instrument": creditor.scheme}
    if bic:
        config["BIC"] = bic
    return config


def _checked_amendment(amendment: Amendment, refuse: Callable[[object], None]) -> Amendment:
    if not isinstance(amendment, Amendment):
        refuse(_("the amendment is not an Amendment"))
    if amendment.original_mandate_reference is not None and not _is_reference(amendment.original_mandate_reference):
        refuse(_("the original mandate reference %(value)s is not a valid SEPA reference") % {
            "value": amendment.original_mandate_reference})
    original_iban = None
    if amendment.original_iban is not None:
        original_iban = _compact_iban(amendment.original_iban)
        if original_iban is None:
            refuse(_("the original IBAN %(iban)s is not a valid IBAN") % {
                "iban": _masked(str(amendment.original_iban))})
        if amendment.same_mandate_new_account:
            refuse(_("an amendment gives either the original IBAN or SMNDA, not both"))
    if (original_iban is None and not amendment.same_mandate_new_account
            and amendment.original_mandate_reference is None):
        refuse(_("the amendment says nothing changed"))
    return Amendment(amendment.original_mandate_reference, original_iban, amendment.same_mandate_new_account)


def _refuse(position: int, e2e: object, reason: object) -> None:
    raise InvalidDebit(position=position, e2e=e2e, reason=reason)


class _Latin(dict):
    """sepaxml's clean=True transliteration (text_unidecode), one character at a time, for str.translate.

    unidecode walks every character in Python; a file repeats the same few
    accented letters, so each is looked up once per file.
    """

    def __missing__(self, codepoint: int) -> str:
        self[codepoint] = latin = unidecode(chr(codepoint))
        return latin


_UNCHECKED = object()


class _DebitChecks:
    """Checks debits one by one and turns each into a sepaxml payment dict.

    One instance per file: it remembers the IBANs and BICs already checked
    (a customer with several invoices, a shared account), keyed by the exact
    value given, so a value is accepted only if that same value passed the
    full check.
    """

    def __init__(self) -> None:
        self.ibans: dict[str, str | None] = {}
        self.bics: dict[str, str | Literal[False] | None] = {}
        self.latin = _Latin()

    def text(self, value: str, limit: int) -> str | None:
        """What sepaxml's clean=True writes for `value`, as the XML parser reads it back; None if XML cannot hold it.

        The parser turns CR and CRLF into LF: done here so the bytes sepaxml
        writes are already the file's. A control character other than tab and
        line ends (a stray one pasted into a name) has no place in an XML 1.0
        file: sepaxml would write it and the file could not be read back, so
        the caller refuses it, naming the debit.
        """
        # unidecode leaves ASCII as it is (checked by the tests), so only other text is translated.
        text = (value if value.isascii() else value.translate(self.latin))[:limit]
        if not text.isprintable() and _XML_FORBIDDEN.search(text):  # isprintable: a cheap test for the usual text
            return None
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text

    def iban(self, value: object) -> str | None:
        if not isinstance(value, str):
            return None
        iban = self.ibans.get(value, _UNCHECKED)
        if iban is _UNCHECKED:
            iban = self.ibans[value] = _compact_iban(value)
        return iban

    def bic(self, value: object) -> str | Literal[False] | None:
        if not isinstance(value, str):
            return _compact_bic(value)
        bic = self.bics.get(value, _UNCHECKED)
        if bic is _UNCHECKED:
            bic = self.bics[value] = _compact_bic(value)
        return bic

    def __call__(self, debit: Debit, position: int) -> tuple[dict, Amendment | None]:
        """Check one debit and return a fresh sepaxml payment dict (sepaxml changes the dict it is given)."""
        if not isinstance(debit, Debit):
            raise InvalidDebit(position=position, e2e="?", reason=_("it is not a Debit"))
        e2e = debit.end_to_end_id
        if not is_sepa_id(e2e):
            raise InvalidSepaId(field=_("End-to-end id"), value=e2e, where=_("debit no. %(position)s") % {
                "position": position})
        if not _is_reference(debit.mandate_reference):
            raise InvalidSepaId(field=_("Mandate reference"), value=debit.mandate_reference,
                                where=_("debit no. %(position)s") % {"position": position})
        amount = debit.amount
        if not isinstance(amount, Money) or amount.currency != CURRENCY:
            _refuse(position, e2e, _("the amount must be in EUR"))
        if not 0 < amount.minor <= MAX_AMOUNT_MINOR:
            _refuse(position, e2e, _("the amount %(amount)s must be between 0.01 and 999,999,999.99 EUR") % {
                "amount": amount.to_decimal()})
        if debit.sequence_type not in SEQUENCE_TYPES:
            _refuse(position, e2e, _("the sequence type %(value)s is not FRST, RCUR, OOFF or FNAL") % {
                "value": debit.sequence_type})
        if type(debit.collection_date) is not date and not _is_plain_date(debit.collection_date):
            _refuse(position, e2e, _("the collection date is not a date"))
        if type(debit.mandate_signed_on) is not date and not _is_plain_date(debit.mandate_signed_on):
            _refuse(position, e2e, _("the mandate signature date is not a date"))
        name = debit.debtor_name.strip() if isinstance(debit.debtor_name, str) else ""
        if not name:
            _refuse(position, e2e, _("the debtor's name is empty"))
        remittance = debit.remittance.strip() if isinstance(debit.remittance, str) else ""
        if not remittance:
            _refuse(position, e2e, _("the remittance information is empty"))
        iban = self.iban(debit.iban)
        if iban is None:
            _refuse(position, e2e, _("%(iban)s is not a valid IBAN") % {"iban": _masked(str(debit.iban))})
        bic = self.bic(debit.bic)
        if bic is False:
            _refuse(position, e2e, _("%(bic)s is not a valid BIC") % {"bic": debit.bic})
        amendment = None
        if debit.amendment is not None:
            amendment = _checked_amendment(debit.amendment, lambda reason: _refuse(position, e2e, reason))
        name, remittance = self.text(name, 70), self.text(remittance, 140)
        if name is None or remittance is None:
            _refuse(position, e2e, _("the debtor's name or the remittance information holds a control character"))
        payment = {
            "name": name,
            "IBAN": iban,
            "amount": amount.minor,  # int cents: sepaxml refuses floats, and sums integers exactly
            "type": debit.sequence_type,
            "collection_date": debit.collection_date,
            "mandate_id": debit.mandate_reference,
            "mandate_date": debit.mandate_signed_on,
            "description": remittance,
            "endtoend_id": e2e,
        }
        if bic:
            payment["BIC"] = bic
        return payment, amendment


# --- schema ---------------------------------------------------------------------------------------

# lxml schema objects are compiled once per process; validation runs one at a time because the
# schema's error_log is shared state.
_SCHEMA_LOCK = threading.Lock()


@cache
def _xml_schema(schema: str) -> etree.XMLSchema:
    if schema not in SCHEMAS:
        raise ValueError(f"unknown pain.008 schema {schema!r}")
    return etree.XMLSchema(etree.parse(str(_XSD_DIR / f"{schema}.xsd")))


def _parser() -> etree.XMLParser:
    # A 100,000-debit file (45 MB) stays within libxml2's default limits, so huge_tree stays off.
    return etree.XMLParser(resolve_entities=False, no_network=True)


def _check_schema(root: etree._Element, schema: str) -> None:
    xsd = _xml_schema(schema)
    with _SCHEMA_LOCK:
        if xsd.validate(root):
            return
        errors = [f"line {e.line}: {e.message}" for e in xsd.error_log]
    if len(errors) > 20:  # a systematic mistake repeats on every debit: the first lines tell it
        errors = [*errors[:20], f"… {len(errors) - 20} more"]
    raise SepaFileInvalid(schema=schema, errors=errors)


def validate_pain008(xml: bytes, *, schema: str) -> None:
    """Raise SepaFileInvalid, listing line and message per error, unless `xml` follows the pain.008 `schema`."""
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as error:
        raise SepaFileInvalid(schema=schema, errors=[str(error)]) from error
    _check_schema(root, schema)


# --- the writer -----------------------------------------------------------------------------------

_SEPAXML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
_DECLARATION = _SEPAXML_DECLARATION + b"\n"
_END_TO_END_ID = re.compile(rb"<EndToEndId>([^<]*)</EndToEndId>")


def _decimal_to_minor(text: str) -> int:
    return Money.of(Decimal(text), CURRENCY).minor


def write_pain008(*, creditor: Creditor, debits: Iterable[Debit], message_id: str,
                  created_at: datetime) -> DebitFileOutput:
    """Write one pain.008 file for `debits`, grouped in one batch per (sequence type, collection date).

    Batches are numbered in the order their first debit comes in, so the same
    input always gives the same PmtInfIds ("<message_id>-1", "-2", …). Raises a
    DomainError naming the first bad debit before anything is built, and
    SepaFileInvalid (with the schema's error lines) if the result does not
    follow the XSD.
    """
    schema = creditor.schema
    config = _checked_creditor(creditor)
    if not is_sepa_id(message_id):
        raise InvalidSepaId(field=_("Message id"), value=message_id, where=_("file"))
    if not isinstance(created_at, datetime):
        raise TypeError("created_at must be a datetime")

    check = _DebitChecks()
    # Transliterated to Latin here, as sepaxml's clean=True would, but once per distinct character.
    config["name"] = check.text(config["name"], 70)
    if config["name"] is None:
        raise InvalidCreditor(field="name", reason=_("it holds a control character"))
    sdd = SepaDD(config, schema=schema, clean=False)
    totals: dict[tuple[str, date], list[int]] = {}  # (SeqTp, date) -> [count, minor units], insertion-ordered
    positions: dict[str, int] = {}
    amendments: dict[str, Amendment] = {}
    # The debits given (and the rows they came from) are alive all along: set aside while sepaxml builds its tree.
    with long_lived_set_aside():
        for position, debit in enumerate(debits, start=1):
            payment, amendment = check(debit, position)
            e2e = debit.end_to_end_id
            if e2e in positions:
                raise DuplicateEndToEndId(e2e=e2e, first=positions[e2e], second=position)
            positions[e2e] = position
            if amendment is not None:
                amendments[e2e] = amendment
            batch = totals.setdefault((debit.sequence_type, debit.collection_date), [0, 0])
            batch[0] += 1
            batch[1] += debit.amount.minor
            sdd.add_payment(payment)
        if not positions:
            raise EmptyDebitFile()
        del positions, check
        if len(message_id) + 1 + len(str(len(totals))) > 35:
            raise InvalidSepaId(field=_("Message id"), value=message_id,
                                where=_("too long to number %(count)s batches within 35 characters") % {
                                    "count": len(totals)})

        exported = sdd.export(validate=False)  # once: a second export() would duplicate every batch
    del sdd  # the ElementTree copy of a 100k-debit file weighs ~300 MB; lxml builds its own next
    created = created_at.isoformat(timespec="seconds")
    payment_info_ids = [f"{message_id}-{number}" for number in range(1, len(totals) + 1)]
    body = _patched(exported, message_id=message_id, created=created, payment_info_ids=payment_info_ids,
                    amendments=amendments)
    del exported
    batches = _checked_file(body, schema=schema, message_id=message_id, created=created,
                            payment_info_ids=payment_info_ids, totals=totals)
    return DebitFileOutput(
        xml=_DECLARATION + body, schema=schema, message_id=message_id,
        number_of_transactions=sum(b.number_of_transactions for b in batches),
        control_sum=Money(sum(b.control_sum.minor for b in batches), CURRENCY), batches=batches,
        payment_info_ids={(b.sequence_type, b.collection_date): b.payment_info_id for b in batches},
    )


def _checked_file(body: bytes, *, schema: str, message_id: str, created: str, payment_info_ids: list[str],
                  totals: dict[tuple[str, date], list[int]]) -> tuple[Batch, ...]:
    """Parse the file exactly as it will be sent, cross-check its header and totals, validate it; its batches."""
    # Without the XML declaration, as sepaxml wrote it on the document's line: error lines keep their numbers.
    root = etree.fromstring(body, _parser())
    ns = f"{{urn:iso:std:iso:20022:tech:xsd:{schema}}}"
    initiation = root[0]
    header = initiation.find(f"{ns}GrpHdr")
    if header.findtext(f"{ns}MsgId") != message_id or header.findtext(f"{ns}CreDtTm") != created:
        raise RuntimeError("the file's header is not the one we set")
    batches = []
    count_total = minor_total = 0
    for payment_info, payment_info_id in zip(initiation.iterfind(f"{ns}PmtInf"), payment_info_ids, strict=True):
        key = (payment_info.findtext(f"{ns}PmtTpInf/{ns}SeqTp"),
               date.fromisoformat(payment_info.findtext(f"{ns}ReqdColltnDt")))
        count, minor = totals[key]
        # Cross-check sepaxml's figures against our own integer sums: a mismatch is a bug, never a file.
        if (int(payment_info.findtext(f"{ns}NbOfTxs")) != count
                or _decimal_to_minor(payment_info.findtext(f"{ns}CtrlSum")) != minor):
            raise RuntimeError(f"sepaxml batch totals differ from ours for {key}")
        if payment_info.findtext(f"{ns}PmtInfId") != payment_info_id:
            raise RuntimeError(f"the batch {key} is not numbered {payment_info_id}")
        batches.append(Batch(payment_info_id, key[0], key[1], count, Money(minor, CURRENCY)))
        count_total += count
        minor_total += minor
    if (len({(b.sequence_type, b.collection_date) for b in batches}) != len(totals)
            or int(header.findtext(f"{ns}NbOfTxs")) != count_total
            or _decimal_to_minor(header.findtext(f"{ns}CtrlSum")) != minor_total):
        raise RuntimeError("sepaxml group totals differ from ours")
    _check_schema(root, schema)
    return tuple(batches)


def _patched(exported: bytes, *, message_id: str, created: str, payment_info_ids: list[str],
             amendments: dict[str, Amendment]) -> bytes:
    """sepaxml's document, without its XML declaration, with our MsgId, CreDtTm, PmtInfIds and amendments.

    Spliced into the bytes rather than set on a parsed tree: lxml writes a
    parsed sepaxml document back byte for byte, so serialising 45 MB again
    only to change a few values was pure cost (~0.4 s at 100,000 debits).
    Tags are safe landmarks since text content never holds a raw "<"; the
    caller reads the values back from the parsed result and validates it.
    """
    if not exported.startswith(_SEPAXML_DECLARATION + b"<Document "):
        raise RuntimeError("sepaxml's output does not start as expected")
    edits: list[tuple[int, int, bytes]] = []

    def set_text(tag: bytes, after: int, value: str) -> int:
        start = exported.index(b"<%s>" % tag, after) + len(tag) + 2
        end = exported.index(b"</%s>" % tag, start)
        edits.append((start, end, value.encode()))
        return end

    at = header_end = set_text(b"CreDtTm", set_text(b"MsgId", 0, message_id), created)
    for payment_info_id in payment_info_ids:
        at = set_text(b"PmtInfId", at, payment_info_id)
    if amendments:
        pending = {e2e.encode(): amendment for e2e, amendment in amendments.items()}
        for match in _END_TO_END_ID.finditer(exported, header_end):  # one pass, no search per debit
            amendment = pending.pop(match[1], None)
            if amendment is not None:
                signed = exported.index(b"</DtOfSgntr>", match.end()) + len(b"</DtOfSgntr>")
                edits.append((signed, signed, _amendment_xml(amendment)))
        if pending:
            raise RuntimeError("amended debits missing from sepaxml's output")
        edits.sort()
    view = memoryview(exported)
    pieces: list[bytes | memoryview] = []
    done = len(_SEPAXML_DECLARATION)
    for start, end, text in edits:
        pieces += (view[done:start], text)
        done = end
    pieces.append(view[done:])
    return b"".join(pieces)


def _amendment_xml(amendment: Amendment) -> bytes:
    """AmdmntInd and AmdmntInfDtls, to follow DtOfSgntr where both schema versions expect them.

    Their values are checked references and compact IBANs: nothing to escape.
    """
    details = ""
    if amendment.original_mandate_reference is not None:
        details += f"<OrgnlMndtId>{amendment.original_mandate_reference}</OrgnlMndtId>"
    if amendment.same_mandate_new_account:
        details += "<OrgnlDbtrAcct><Id><Othr><Id>SMNDA</Id></Othr></Id></OrgnlDbtrAcct>"
    elif amendment.original_iban is not None:
        details += f"<OrgnlDbtrAcct><Id><IBAN>{amendment.original_iban}</IBAN></Id></OrgnlDbtrAcct>"
    return f"<AmdmntInd>true</AmdmntInd><AmdmntInfDtls>{details}</AmdmntInfDtls>".encode()
