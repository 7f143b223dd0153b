"""The SEPA direct-debit file (pain.008) written for the creditor's bank.

Pure: plain dataclasses in, bytes out; no database, no clock.

sepaxml writes the document (one PmtInf block per sequence type and requested
collection date, batch totals, the creditor scheme id). It cannot do three
things we need, so after one export the bytes are parsed once with lxml,
patched, checked against the ISO 20022 schema kept in `xsd/`, and serialised
once:
- our own MsgId (sepaxml draws a random one): the bank's pain.002 answers
  quote it, and a re-used MsgId makes the bank reject the whole file;
- deterministic PmtInfIds (sepaxml draws random ones inside export()):
  "<MsgId>-<n>", so a pain.002 batch status finds its batch;
- mandate amendments (AmdmntInd/AmdmntInfDtls): a new IBAN or a new mandate
  reference must be announced on the next collection.
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

from encaisse.core.errors import DomainError
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

# EPC "restricted character set" for references (ids): banks may refuse anything else.
_SEPA_ID = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]{1,35}")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_BIC = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?")
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
    return (isinstance(value, str) and _SEPA_ID.fullmatch(value) is not None and value[0] not in "/ "
            and value[-1] not in "/ " and "//" not in value)


def _is_reference(value: object) -> bool:
    """A SEPA id that is also free of spaces, as mandate references and creditor ids must be."""
    return is_sepa_id(value) and " " not in value  # type: ignore[operator]


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


def _payment(debit: Debit, position: int) -> tuple[dict, Amendment | None]:
    """Check one debit and return a fresh sepaxml payment dict (sepaxml changes the dict it is given)."""
    if not isinstance(debit, Debit):
        raise InvalidDebit(position=position, e2e="?", reason=_("it is not a Debit"))
    e2e = debit.end_to_end_id

    def refuse(reason: object) -> None:
        raise InvalidDebit(position=position, e2e=e2e, reason=reason)

    if not is_sepa_id(e2e):
        raise InvalidSepaId(field=_("End-to-end id"), value=e2e, where=_("debit no. %(position)s") % {
            "position": position})
    if not _is_reference(debit.mandate_reference):
        raise InvalidSepaId(field=_("Mandate reference"), value=debit.mandate_reference,
                            where=_("debit no. %(position)s") % {"position": position})
    amount = debit.amount
    if not isinstance(amount, Money) or amount.currency != CURRENCY:
        refuse(_("the amount must be in EUR"))
    if not 0 < amount.minor <= MAX_AMOUNT_MINOR:
        refuse(_("the amount %(amount)s must be between 0.01 and 999,999,999.99 EUR") % {
            "amount": amount.to_decimal()})
    if debit.sequence_type not in SEQUENCE_TYPES:
        refuse(_("the sequence type %(value)s is not FRST, RCUR, OOFF or FNAL") % {"value": debit.sequence_type})
    if not _is_plain_date(debit.collection_date):
        refuse(_("the collection date is not a date"))
    if not _is_plain_date(debit.mandate_signed_on):
        refuse(_("the mandate signature date is not a date"))
    if not isinstance(debit.debtor_name, str) or not debit.debtor_name.strip():
        refuse(_("the debtor's name is empty"))
    if not isinstance(debit.remittance, str) or not debit.remittance.strip():
        refuse(_("the remittance information is empty"))
    iban = _compact_iban(debit.iban)
    if iban is None:
        refuse(_("%(iban)s is not a valid IBAN") % {"iban": _masked(str(debit.iban))})
    bic = _compact_bic(debit.bic)
    if bic is False:
        refuse(_("%(bic)s is not a valid BIC") % {"bic": debit.bic})
    amendment = None if debit.amendment is None else _checked_amendment(debit.amendment, refuse)
    payment = {
        "name": debit.debtor_name.strip(),
        "IBAN": iban,
        "amount": amount.minor,  # int cents: sepaxml refuses floats, and sums integers exactly
        "type": debit.sequence_type,
        "collection_date": debit.collection_date,
        "mandate_id": debit.mandate_reference,
        "mandate_date": debit.mandate_signed_on,
        "description": debit.remittance.strip(),
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

    sdd = SepaDD(config, schema=schema, clean=True)  # clean: transliterates names and remittance to Latin
    totals: dict[tuple[str, date], list[int]] = {}  # (SeqTp, date) -> [count, minor units], insertion-ordered
    positions: dict[str, int] = {}
    amendments: dict[str, Amendment] = {}
    for position, debit in enumerate(debits, start=1):
        payment, amendment = _payment(debit, position)
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
    del positions
    if len(message_id) + 1 + len(str(len(totals))) > 35:
        raise InvalidSepaId(field=_("Message id"), value=message_id,
                            where=_("too long to number %(count)s batches within 35 characters") % {
                                "count": len(totals)})

    exported = sdd.export(validate=False)  # once: a second export() would duplicate every batch
    del sdd  # the ElementTree copy of a 100k-debit file weighs ~300 MB; lxml builds its own next
    root = etree.fromstring(exported, _parser())
    del exported

    ns = f"{{urn:iso:std:iso:20022:tech:xsd:{schema}}}"
    initiation = root[0]
    header = initiation.find(f"{ns}GrpHdr")
    header.find(f"{ns}MsgId").text = message_id
    header.find(f"{ns}CreDtTm").text = created_at.isoformat(timespec="seconds")

    batches = []
    count_total = minor_total = 0
    for number, payment_info in enumerate(initiation.iterfind(f"{ns}PmtInf"), start=1):
        key = (payment_info.findtext(f"{ns}PmtTpInf/{ns}SeqTp"),
               date.fromisoformat(payment_info.findtext(f"{ns}ReqdColltnDt")))
        count, minor = totals[key]
        # Cross-check sepaxml's figures against our own integer sums: a mismatch is a bug, never a file.
        if (int(payment_info.findtext(f"{ns}NbOfTxs")) != count
                or _decimal_to_minor(payment_info.findtext(f"{ns}CtrlSum")) != minor):
            raise RuntimeError(f"sepaxml batch totals differ from ours for {key}")
        payment_info_id = f"{message_id}-{number}"
        payment_info.find(f"{ns}PmtInfId").text = payment_info_id
        batches.append(Batch(payment_info_id, key[0], key[1], count, Money(minor, CURRENCY)))
        count_total += count
        minor_total += minor
    if (len(batches) != len(totals) or int(header.findtext(f"{ns}NbOfTxs")) != count_total
            or _decimal_to_minor(header.findtext(f"{ns}CtrlSum")) != minor_total):
        raise RuntimeError("sepaxml group totals differ from ours")

    if amendments:
        _insert_amendments(initiation, ns, amendments)

    _check_schema(root, schema)
    xml = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return DebitFileOutput(
        xml=xml, schema=schema, message_id=message_id, number_of_transactions=count_total,
        control_sum=Money(minor_total, CURRENCY), batches=tuple(batches),
        payment_info_ids={(b.sequence_type, b.collection_date): b.payment_info_id for b in batches},
    )


def _insert_amendments(initiation: etree._Element, ns: str, amendments: dict[str, Amendment]) -> None:
    """Add AmdmntInd and AmdmntInfDtls right after DtOfSgntr, where both schema versions expect them."""
    for end_to_end_id in initiation.iter(f"{ns}EndToEndId"):  # one pass, no per-debit path search
        amendment = amendments.get(end_to_end_id.text)
        if amendment is None:
            continue
        transaction = end_to_end_id.getparent().getparent()
        signed = transaction.find(f"{ns}DrctDbtTx/{ns}MndtRltdInf/{ns}DtOfSgntr")
        indicator = etree.Element(f"{ns}AmdmntInd")
        indicator.text = "true"
        details = etree.Element(f"{ns}AmdmntInfDtls")
        if amendment.original_mandate_reference is not None:
            etree.SubElement(details, f"{ns}OrgnlMndtId").text = amendment.original_mandate_reference
        if amendment.original_iban is not None or amendment.same_mandate_new_account:
            account_id = etree.SubElement(etree.SubElement(details, f"{ns}OrgnlDbtrAcct"), f"{ns}Id")
            if amendment.same_mandate_new_account:
                etree.SubElement(etree.SubElement(account_id, f"{ns}Othr"), f"{ns}Id").text = "SMNDA"
            else:
                etree.SubElement(account_id, f"{ns}IBAN").text = amendment.original_iban
        signed.addnext(indicator)
        indicator.addnext(details)
