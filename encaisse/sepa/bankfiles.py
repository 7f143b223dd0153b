"""Read the bank's pain.002 and camt.054 files into plain facts about direct debits.

This module only reads: it touches no database, so the same bytes always give
the same ``BankFileContent`` and the service that applies it can be replayed
safely (it keys each fact on the end-to-end id and the kind). It protects one
invariant: nothing reaches the facts unless the file is well-formed XML of a
supported message and version, valid against the ISO 20022 schema kept in
``sepa/xsd`` when there is one, and free of DTDs (no entity tricks).

Supported messages, picked from the root namespace:

- pain.002.001.03 (validated by XSD) and pain.002.001.10 (no XSD kept: parsed
  strictly, every unknown element refused) — rejects *before* settlement;
- camt.054.001.02 and .04 (validated by XSD) and .08 (parsed strictly) —
  returns, refunds and credits *after* settlement.

What becomes a fact:

- pain.002: every transaction with status RJCT is a ``reject``; a transaction
  without its own reason takes its batch's reason, then the group's. Accepted
  or pending statuses produce no fact. A group status RJCT sets
  ``file_rejected`` (the reasons are ``group_reasons``) and a batch status RJCT
  adds a ``RejectedBatch``: these cover every collection of the original
  file or batch *that has no transaction fact of its own*, and the service
  expands them since only it knows what the file contained.
- camt.054, booked entries only (a pending entry may still change and would
  otherwise be applied twice):

  - a debit entry that is a reversal (``RvslInd``) or carries return
    information gives one fact per ``TxDtls``: ``refund`` when the reason is
    MD06 (the Core scheme's 8-week refund asked by the customer), ``return``
    otherwise. MD01 stays a ``return``: it may be a B2B return or an
    unauthorised refund up to 13 months, and either way its reason revokes
    the mandate (see ``sepa.reasons``);
  - a credit entry that is not a reversal gives ``settled`` facts, one per
    ``TxDtls`` (end-to-end id when the bank gives it) or one for the whole
    entry when it has no details, so settlement can be confirmed;
  - anything else (other debits such as fees alone) is not about direct
    debits and is left out.

  Amounts come from each ``TxDtls`` (an entry may batch several), falling
  back to the entry amount only when the entry holds a single transaction.
  A fee given per transaction stays on its fact; a fee given on the entry
  goes on the entry's first fact, so it is booked exactly once.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

from django.utils.translation import gettext_lazy as _
from lxml import etree
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.parsers.handlers import LxmlEventHandler

from encaisse.core.errors import DomainError
from encaisse.core.money import Money

XSD_DIR = Path(__file__).resolve().parent / "xsd"
MAX_BYTES = 100 * 1024 * 1024  # far above a year of returns; refuses a runaway upload before parsing

_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:"
#: message version -> (kind, XSD file name or None when the schema is not kept)
SUPPORTED: dict[str, tuple[str, str | None]] = {
    "pain.002.001.03": ("pain.002", "pain.002.001.03.xsd"),
    "pain.002.001.10": ("pain.002", None),
    "camt.054.001.02": ("camt.054", "camt.054.001.02.xsd"),
    "camt.054.001.04": ("camt.054", "camt.054.001.04.xsd"),
    "camt.054.001.08": ("camt.054", None),
}

REFUND_CODES = frozenset({"MD06"})
MAX_ERRORS_SHOWN = 5

FactKind = Literal["reject", "return", "refund", "settled"]


class BankFileInvalid(DomainError):
    code = "bank_file_invalid"
    message = _("This bank file cannot be read: %(problem)s")


@dataclass(frozen=True, slots=True, kw_only=True)
class RFact:
    """One thing the bank says happened to one collection (or one credited entry)."""

    kind: FactKind
    end_to_end_id: str | None
    original_message_id: str | None
    original_payment_info_id: str | None
    amount: Money | None
    fee: Money | None
    reason_code: str  # raw bank code (Cd or Prtry), "" when none given
    booked_on: date | None
    mandate_reference: str | None
    bank_reference: str | None
    collection_date: date | None = None  # pain.002 only: the requested collection date echoed back
    additional_info: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectedBatch:
    """A pain.002 batch (PmtInf) rejected as a whole."""

    payment_info_id: str
    reason_codes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BankFileContent:
    kind: Literal["pain.002", "camt.054"]
    version: str  # e.g. "pain.002.001.03"
    message_id: str
    created_at: datetime
    schema_checked: bool  # False when no XSD is kept for this version (strict parsing only)
    original_message_id: str | None = None  # pain.002: our pain.008 MsgId
    original_message_name: str | None = None  # pain.002: "pain.008.001.02"...
    group_status: str | None = None
    group_reasons: tuple[str, ...] = ()
    file_rejected: bool = False
    rejected_batches: tuple[RejectedBatch, ...] = ()
    facts: tuple[RFact, ...] = ()


def read_bank_file(data: bytes) -> BankFileContent:
    """Return the facts a pain.002 or camt.054 file states; refuse anything else with ``BankFileInvalid``.

    Refused: empty or oversized data, non-XML, any DOCTYPE (entity expansion
    and external entities are never processed), another ISO 20022 message or
    version, a file invalid against its XSD (first errors listed with their
    line) and, for versions without an XSD, any element the message does not
    define. Reading the same bytes twice gives equal results.
    """
    if not data or not data.strip():
        raise BankFileInvalid(problem=_("the file is empty."))
    if len(data) > MAX_BYTES:
        raise BankFileInvalid(problem=_("the file is larger than 100 MB."))
    tree = _parse_xml(data)
    version = _message_version(tree.getroot())
    kind, xsd_name = SUPPORTED[version]
    if xsd_name:
        _validate(tree, xsd_name, version)
    document = _bind(tree, version)
    money = _MoneyReader()
    if kind == "pain.002":
        return _read_pain002(document.cstmr_pmt_sts_rpt, version, bool(xsd_name), money)
    return _read_camt054(document.bk_to_cstmr_dbt_cdt_ntfctn, version, bool(xsd_name), money)


# --- XML checks -------------------------------------------------------------------------------------------------


def _parse_xml(data: bytes) -> etree._ElementTree:
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise BankFileInvalid(problem=_("it is not well-formed XML (%(error)s).") % {"error": error}) from error
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        # Bank files never need a DTD; refusing it rules out entity expansion ("billion laughs") and XXE.
        raise BankFileInvalid(problem=_("it declares a DOCTYPE, which bank files never do."))
    return tree


def _message_version(root: etree._Element) -> str:
    namespace = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "Document" or not namespace.startswith(_NAMESPACE):
        raise BankFileInvalid(problem=_("it is not an ISO 20022 message (pain.002 or camt.054 expected)."))
    version = namespace.removeprefix(_NAMESPACE)
    if version not in SUPPORTED:
        raise BankFileInvalid(
            problem=_("%(version)s is not a supported message; expected one of %(supported)s.")
            % {"version": version, "supported": ", ".join(SUPPORTED)}
        )
    return version


@cache
def _schema(xsd_name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(XSD_DIR / xsd_name), parser))


def _validate(tree: etree._ElementTree, xsd_name: str, version: str) -> None:
    schema = _schema(xsd_name)
    if schema.validate(tree):
        return
    errors = [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:MAX_ERRORS_SHOWN]]
    raise BankFileInvalid(
        problem=_("it does not follow the %(version)s schema: %(errors)s")
        % {"version": version, "errors": "; ".join(errors)}
    )


_PARSER = XmlParser(
    config=ParserConfig(fail_on_unknown_properties=True, fail_on_unknown_attributes=True,
                        load_dtd=False, resolve_entities=False),
    handler=LxmlEventHandler,
)


def _bind(tree: etree._ElementTree, version: str) -> Any:
    module = importlib.import_module(f"pyiso20022.{version[:4]}.{version.replace('.', '_')}")
    try:
        return _PARSER.parse(tree, module.Document)
    except (ParserError, ValueError, TypeError) as error:
        raise BankFileInvalid(
            problem=_("it does not follow the %(version)s message (%(error)s).") % {"version": version, "error": error}
        ) from error


# --- reading the messages --------------------------------------------------------------------------------------


def _code(value: Any) -> str:
    """Status codes are enums in the older versions and plain strings in the newer ones."""
    if value is None:
        return ""
    return str(getattr(value, "value", value))


def _reason_code(reason: Any) -> str:
    """Cd, or the bank's proprietary code, of a StatusReason/ReturnReason choice."""
    if reason is None:
        return ""
    return _code(reason.cd) or (reason.prtry or "")


def _reasons(infos: list[Any]) -> tuple[str, ...]:
    return tuple(code for code in (_reason_code(info.rsn) for info in infos) if code)


def _text(infos: list[Any]) -> str:
    return " ".join(" ".join(info.addtl_inf) for info in infos).strip()


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if getattr(value, "dt", None) is not None or getattr(value, "dt_tm", None) is not None:
        value = value.dt or value.dt_tm
    return value.to_date()


class _MoneyReader:
    def __call__(self, amount: Any) -> Money | None:
        if amount is None:
            return None
        try:
            return Money.of(Decimal(amount.value), amount.ccy)
        except DomainError as error:
            raise BankFileInvalid(problem=str(error)) from error

    def total(self, amounts: list[tuple[Any, bool]]) -> Money | None:
        """Sum charges; each pair is (amount, is_credit): a credited charge lowers the fee."""
        total: Money | None = None
        for amount, credit in amounts:
            value = self(amount)
            if value is None:
                continue
            value = -value if credit else value
            total = value if total is None else total + value
        return total


def _read_pain002(report: Any, version: str, checked: bool, money: _MoneyReader) -> BankFileContent:
    group = report.orgnl_grp_inf_and_sts
    group_status = _code(group.grp_sts)
    group_reasons = _reasons(group.sts_rsn_inf)
    facts: list[RFact] = []
    rejected_batches: list[RejectedBatch] = []
    for batch in report.orgnl_pmt_inf_and_sts:
        batch_reasons = _reasons(batch.sts_rsn_inf)
        if _code(batch.pmt_inf_sts) == "RJCT":
            rejected_batches.append(RejectedBatch(payment_info_id=batch.orgnl_pmt_inf_id,
                                                  reason_codes=batch_reasons or group_reasons))
        for tx in batch.tx_inf_and_sts:
            if _code(tx.tx_sts) != "RJCT":
                continue
            ref = tx.orgnl_tx_ref
            amount = ref.amt.instd_amt if ref is not None and ref.amt is not None else None
            mandate = ref.mndt_rltd_inf if ref is not None else None
            codes = _reasons(tx.sts_rsn_inf) or batch_reasons or group_reasons
            facts.append(RFact(
                kind="reject",
                end_to_end_id=tx.orgnl_end_to_end_id,
                original_message_id=group.orgnl_msg_id,
                original_payment_info_id=batch.orgnl_pmt_inf_id,
                amount=money(amount),
                fee=money.total([(charge.amt, False) for charge in tx.chrgs_inf]),
                reason_code=codes[0] if codes else "",
                booked_on=None,
                mandate_reference=mandate.mndt_id if mandate is not None else None,
                bank_reference=tx.acct_svcr_ref or tx.sts_id,
                collection_date=_date(ref.reqd_colltn_dt) if ref is not None else None,
                additional_info=_text(tx.sts_rsn_inf),
            ))
    return BankFileContent(
        kind="pain.002", version=version, message_id=report.grp_hdr.msg_id,
        created_at=report.grp_hdr.cre_dt_tm.to_datetime(), schema_checked=checked,
        original_message_id=group.orgnl_msg_id, original_message_name=group.orgnl_msg_nm_id,
        group_status=group_status or None, group_reasons=group_reasons, file_rejected=group_status == "RJCT",
        rejected_batches=tuple(rejected_batches), facts=tuple(facts),
    )


def _charges(chrgs: Any) -> list[tuple[Any, bool]]:
    """Charges are a list in camt.054.001.02 and a Chrgs/Rcrd block from .04 on."""
    if not chrgs:
        return []
    if isinstance(chrgs, list):
        records = chrgs
    elif chrgs.rcrd:
        records = chrgs.rcrd
    else:
        return [(chrgs.ttl_chrgs_and_tax_amt, False)] if chrgs.ttl_chrgs_and_tax_amt is not None else []
    return [(record.amt, _code(record.cdt_dbt_ind) == "CRDT") for record in records]


def _tx_amount(tx: Any) -> Any:
    details = tx.amt_dtls
    if details is not None and details.tx_amt is not None:
        return details.tx_amt.amt
    if getattr(tx, "amt", None) is not None:  # TxDtls/Amt exists from .04 on
        return tx.amt
    if details is not None and details.instd_amt is not None:
        return details.instd_amt.amt
    return None


def _read_camt054(notification: Any, version: str, checked: bool, money: _MoneyReader) -> BankFileContent:
    facts: list[RFact] = []
    for ntfctn in notification.ntfctn:
        for entry in ntfctn.ntry:
            facts.extend(_entry_facts(entry, money))
    header = notification.grp_hdr
    return BankFileContent(
        kind="camt.054", version=version, message_id=header.msg_id, created_at=header.cre_dt_tm.to_datetime(),
        schema_checked=checked, facts=tuple(facts),
    )


def _entry_facts(entry: Any, money: _MoneyReader) -> list[RFact]:
    if _code(getattr(entry.sts, "cd", entry.sts)) != "BOOK":
        return []
    transactions = [tx for details in entry.ntry_dtls for tx in details.tx_dtls]
    debit = _code(entry.cdt_dbt_ind) == "DBIT"
    reversal = bool(entry.rvsl_ind)
    is_return = debit and (reversal or any(tx.rtr_inf is not None for tx in transactions))
    is_credit = not debit and not reversal
    if not (is_return or is_credit):
        return []
    booked_on = _date(entry.bookg_dt)
    entry_fee = money.total(_charges(entry.chrgs))
    entry_reference = entry.acct_svcr_ref or entry.ntry_ref
    if not transactions:
        batch = next((details.btch for details in entry.ntry_dtls if details.btch is not None), None)
        return [RFact(
            kind="return" if is_return else "settled", end_to_end_id=None,
            original_message_id=batch.msg_id if batch else None,
            original_payment_info_id=batch.pmt_inf_id if batch else None,
            amount=money(entry.amt), fee=entry_fee, reason_code="", booked_on=booked_on,
            mandate_reference=None, bank_reference=entry_reference,
        )]
    facts = []
    for index, tx in enumerate(transactions):
        refs = tx.refs
        code = _reason_code(tx.rtr_inf.rsn) if is_return and tx.rtr_inf is not None else ""
        amount = _tx_amount(tx)
        if amount is None and len(transactions) == 1:
            amount = entry.amt
        fee = money.total(_charges(tx.chrgs))
        if fee is None and index == 0:
            fee = entry_fee
        facts.append(RFact(
            kind=("refund" if code in REFUND_CODES else "return") if is_return else "settled",
            end_to_end_id=refs.end_to_end_id if refs else None,
            original_message_id=refs.msg_id if refs else None,
            original_payment_info_id=refs.pmt_inf_id if refs else None,
            amount=money(amount), fee=fee, reason_code=code, booked_on=booked_on,
            mandate_reference=refs.mndt_id if refs else None,
            bank_reference=(refs.acct_svcr_ref if refs else None) or entry_reference,
            additional_info=" ".join(tx.rtr_inf.addtl_inf).strip() if code else "",
        ))
    return facts
