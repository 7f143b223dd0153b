"""Reading the bank's answers back: pain.002 rejects and camt.054 returns and refunds, applied once each.

A file is read first (sepa.bankfiles, pure): one that cannot be read is
refused with its reason and nothing is written. A readable file is kept once
per organisation and content (sha256); its facts are matched by end-to-end id
within the organisation, and a whole-file or whole-batch reject stands for
every debit of that file or batch (found by the message id and PmtInfId we
wrote) that has no fact of its own.

A file is imported in one transaction: all of it or nothing. The BankFile row
is its lock, so the same file imported twice at once waits for the first and
is then "already imported". The debits its facts name are locked in id order
before anything is booked, so two different files naming the same debits
cannot deadlock. Each R-transaction is applied once per debit (the
RTransaction row is one-to-one with it, so the same reject in a pain.002 and
then in a camt.054 is applied once):
- a reversing entry: 411 debited for the customer, credited on 5113 while the
  file is not settled yet, on the bank account (512) after;
- the invoice owed again: the lettering of its receivable line with the
  payment line is undone (unsettle), and the payment line is lettered with the
  reversing entry's 411 line instead;
- the bank's fee, if given: 627 / 512;
- the mandate revoked when the reason says the account or mandate is unusable;
- the debit REJECTED / RETURNED / REFUNDED with its reason code, the customer
  told (direct_debit_returned, in their language), an audit event.

What comes next (re-presentation, re-billing of the fee, failing the
collection) is the collection policy's: callers pass report.applied to
encaisse.collection.services.handle_r_transactions, since sepa sits below
collection. A "settled" fact (a camt.054 credit) settles the debit's file
early. Facts that match nothing are reported with why and kept in the
BankFile's report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from encaisse.core.audit import record_event
from encaisse.core.money import Money
from encaisse.ledger.models import Account, Journal, Settlement
from encaisse.ledger.services import (
    EntryDraft,
    LineDraft,
    account_of_kind,
    journal_of_kind,
    post_entry,
    settle,
    unsettle,
)
from encaisse.notifications.services import queue_email
from encaisse.parties.models import Organisation

from .bankfiles import RFact, read_bank_file
from .export import export_settlement_key, settle_debit_file
from .models import BankFile, DebitFile, DirectDebit, Mandate, RTransaction
from .reasons import reason
from .services import mandate_language, revoke_mandate


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    bank_file: BankFile
    already_imported: bool  # the same file (same bytes) came before: nothing changed
    applied: list[RTransaction] = field(default_factory=list)  # new R-transactions, in file order
    already_known: list[str] = field(default_factory=list)  # end-to-end ids whose R-transaction existed
    unmatched: list[dict[str, Any]] = field(default_factory=list)  # facts matching no debit, with why
    settled: list[str] = field(default_factory=list)  # end-to-end ids whose file the bank credited

    def as_dict(self) -> dict[str, Any]:
        """The report as kept on the BankFile and printed by `encaisse bank import --json`."""
        return {
            "file": str(self.bank_file.pk), "kind": self.bank_file.kind, "message_id": self.bank_file.message_id,
            "already_imported": self.already_imported,
            "applied": [{"end_to_end_id": r.direct_debit.end_to_end_id, "kind": r.kind,
                         "reason_code": r.reason_code, "reason": str(reason(r.reason_code).label),
                         "amount": Money(r.amount_minor, r.currency).as_json(),
                         "fee": Money(r.fee_minor, r.currency).as_json(),
                         "invoice": r.direct_debit.invoice.number if r.direct_debit.invoice else None}
                        for r in self.applied],
            "already_known": self.already_known, "unmatched": self.unmatched, "settled": self.settled,
        }



_STATUS_AFTER = {RTransaction.Kind.REJECT: DirectDebit.Status.REJECTED,
                 RTransaction.Kind.RETURN: DirectDebit.Status.RETURNED,
                 RTransaction.Kind.REFUND: DirectDebit.Status.REFUNDED}


def import_bank_file(*, organisation: Organisation, data: bytes, name: str = "", by: Any = None,
                     pay_url_for: Callable[[DirectDebit], str | None] | None = None,
                     today: date | None = None) -> ImportReport:
    """Keep the file, match its facts by end-to-end id and apply each R-transaction once (see the module doc).

    `pay_url_for(debit)` may give the pay link put in the customer's email.
    Raises BankFileInvalid (nothing written) for a file that cannot be read.
    A file imported before (same organisation, same bytes) is reported as
    already imported and changes nothing.
    """
    content = read_bank_file(data)  # BankFileInvalid: nothing written
    digest = hashlib.sha256(data).hexdigest()
    today = today or timezone.localdate()
    with transaction.atomic():
        bank_file, created = _keep(organisation, data, digest, name, content, by)
        if not created:
            return ImportReport(bank_file=bank_file, already_imported=True)
        matched = list(_matched(organisation, content))
        # Locked in id order before any booking (which takes the ledger's lock): no deadlock with another file.
        list(DirectDebit.objects.select_for_update().filter(pk__in={pk for _f, pk, _w in matched if pk})
             .order_by("pk").values_list("pk", flat=True))
        report = ImportReport(bank_file=bank_file, already_imported=False)
        for fact, debit_id, why in matched:
            if debit_id is None:
                report.unmatched.append(why)
            elif fact.kind == "settled":
                debit = DirectDebit.objects.select_related("file").get(pk=debit_id)
                if debit.file_id and debit.status == DirectDebit.Status.EXPORTED:
                    settle_debit_file(debit.file, on=fact.booked_on or today)
                report.settled.append(fact.end_to_end_id or "")
            else:
                outcome = _apply(bank_file, fact, debit_id, by=by, pay_url_for=pay_url_for, today=today)
                if isinstance(outcome, RTransaction):
                    report.applied.append(outcome)
                elif outcome is None:
                    report.already_known.append(fact.end_to_end_id or "")
                else:
                    report.unmatched.append(outcome)
        bank_file.report = report.as_dict()
        bank_file.save(update_fields=["report"])
        record_event(bank_file, "bank_file_imported", by=by, data={
            "applied": len(report.applied), "already_known": len(report.already_known),
            "unmatched": len(report.unmatched), "settled": len(report.settled)})
    return report


def _keep(organisation: Organisation, data: bytes, digest: str, name: str, content: Any, by: Any
          ) -> tuple[BankFile, bool]:
    if existing := BankFile.objects.select_for_update().filter(organisation=organisation, sha256=digest).first():
        return existing, False
    bank_file = BankFile(organisation=organisation, kind=content.kind, name=name[:255],
                         message_id=(content.message_id or "")[:35], sha256=digest,
                         imported_by=by if getattr(by, "is_authenticated", False) else None)
    bank_file.content.save(f"{digest[:16]}.xml", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            bank_file.save()
    except IntegrityError:  # the same file imported at this moment: the insert waited for it, now it is known
        bank_file.content.delete(save=False)
        return BankFile.objects.select_for_update().get(organisation=organisation, sha256=digest), False
    return bank_file, True


def _unmatched(fact: RFact, why: str, message: Any) -> dict[str, Any]:
    return {"end_to_end_id": fact.end_to_end_id, "kind": fact.kind, "reason_code": fact.reason_code,
            "reason": str(reason(fact.reason_code).label) if fact.reason_code else "",
            "amount": fact.amount.as_json() if fact.amount else None, "why": why, "message": str(message)}


def _matched(organisation: Organisation, content: Any):
    """Each fact with the id of its debit in this organisation, or None and why; file/batch rejects expanded."""
    explicit = {f.end_to_end_id for f in content.facts if f.end_to_end_id}
    debits = {row[0]: row[1:] for row in DirectDebit.objects.filter(end_to_end_id__in=explicit).values_list(
        "end_to_end_id", "pk", "organisation_id", "amount_minor", "currency")}  # one query for the whole file
    for fact in content.facts:
        if not fact.end_to_end_id:
            yield fact, None, _unmatched(fact, "no_end_to_end_id", _("the bank gave no end-to-end id"))
            continue
        found = debits.get(fact.end_to_end_id)
        if found is None:
            yield fact, None, _unmatched(fact, "unknown", _("no direct debit has this end-to-end id"))
        elif found[1] != organisation.pk:
            yield fact, None, _unmatched(fact, "other_organisation",
                                         _("this end-to-end id is another organisation's"))
        elif fact.amount is not None and fact.amount != Money(found[2], found[3]):
            yield fact, None, _unmatched(fact, "amount_differs", _("the amount differs from the debit's (%(amount)s)")
                                         % {"amount": Money(found[2], found[3])})
        else:
            yield fact, found[0], None
    if content.kind != "pain.002":
        return
    whole: list[tuple[Any, str, str]] = []  # (queryset of debits, reason code, where)
    if content.file_rejected and content.original_message_id:
        debit_file = DebitFile.objects.filter(organisation=organisation,
                                              message_id=content.original_message_id).first()
        code = content.group_reasons[0] if content.group_reasons else ""
        if debit_file is None:
            yield _synthetic(content.original_message_id, code), None, {
                "end_to_end_id": None, "kind": "reject", "reason_code": code, "why": "unknown_file",
                "message": str(_("file %(id)s is not one of ours") % {"id": content.original_message_id})}
        else:
            whole.append((debit_file.debits.all(), code, content.original_message_id))
    for batch in content.rejected_batches:
        code = batch.reason_codes[0] if batch.reason_codes else ""
        message_id, _sep, _n = batch.payment_info_id.rpartition("-")
        debit_file = DebitFile.objects.filter(organisation=organisation, message_id=message_id).first()
        key = next((k for k, v in (debit_file.payment_info_ids if debit_file else {}).items()
                    if v == batch.payment_info_id), None)
        if key is None:
            yield _synthetic(batch.payment_info_id, code), None, {
                "end_to_end_id": None, "kind": "reject", "reason_code": code, "why": "unknown_batch",
                "message": str(_("batch %(id)s is not one of ours") % {"id": batch.payment_info_id})}
            continue
        sequence, day = key.split("/")
        whole.append((debit_file.debits.filter(sequence_type=sequence, collection_date=date.fromisoformat(day)),
                      code, batch.payment_info_id))
    for debits, code, where in whole:
        for pk, e2e, minor, currency in debits.order_by("pk").values_list("pk", "end_to_end_id", "amount_minor",
                                                                             "currency"):
            if e2e in explicit:
                continue
            explicit.add(e2e)
            fact = RFact(kind="reject", end_to_end_id=e2e, original_message_id=where, original_payment_info_id=None,
                         amount=Money(minor, currency), fee=None, reason_code=code, booked_on=None,
                         mandate_reference=None, bank_reference=None)
            yield fact, pk, None


def _synthetic(where: str, code: str) -> RFact:
    return RFact(kind="reject", end_to_end_id=None, original_message_id=where, original_payment_info_id=None,
                 amount=None, fee=None, reason_code=code, booked_on=None, mandate_reference=None,
                 bank_reference=None)


def _apply(bank_file: BankFile, fact: RFact, debit_id: int, *, by: Any,
           pay_url_for: Callable[[DirectDebit], str | None] | None, today: date
           ) -> RTransaction | dict[str, Any] | None:
    """Apply one fact to its debit; None when its R-transaction exists already."""
    debit = DirectDebit.objects.select_for_update(of=("self",)).select_related(
        "organisation", "customer", "mandate", "invoice", "creditor_account__bank_account", "file").get(pk=debit_id)
    if RTransaction.objects.filter(direct_debit=debit).exists():
        return None
    if debit.status not in (DirectDebit.Status.EXPORTED, DirectDebit.Status.SETTLED):
        return _unmatched(fact, "not_sent", _("this direct debit is %(status)s") % {
            "status": debit.get_status_display()})
    organisation = debit.organisation
    kind = RTransaction.Kind(fact.kind)
    booked_on = fact.booked_on or today
    amount = debit.amount
    zero = Money.zero(amount.currency)
    why = reason(fact.reason_code)
    # Before the file was settled the money is still on 5113; after, it left the bank account.
    credited = (account_of_kind(organisation, Account.Kind.DIRECT_DEBITS) if debit.status == DirectDebit.Status.EXPORTED
                else debit.creditor_account.bank_account)
    receivable = account_of_kind(organisation, Account.Kind.RECEIVABLE)
    journal = journal_of_kind(organisation, Journal.Kind.BANK)
    label = str(_("Direct debit %(e2e)s %(kind)s (%(code)s)")) % {
        "e2e": debit.end_to_end_id, "kind": kind.label, "code": fact.reason_code or "?"}
    entry = post_entry(organisation, EntryDraft(journal=journal, date=booked_on, label=label, lines=(
        LineDraft(account=receivable, debit=amount, credit=zero, party=debit.customer, due_on=booked_on, label=label),
        LineDraft(account=credited, debit=zero, credit=amount, label=label))),
        idempotency_key=f"sepa:r:{debit.pk}", by=by)
    # The invoice is owed again: its lettering with the payment is undone, the payment lettered with the reversal.
    lettering = Settlement.objects.filter(organisation=organisation, idempotency_key=export_settlement_key(debit.pk),
                                          reverses__isnull=True).first()
    if lettering is not None:
        unsettle(settlement=lettering, idempotency_key=f"sepa:r:{debit.pk}:unsettle", by=by)
    r_line = entry.lines.get(account=receivable)
    settle(debit_line_id=r_line.pk, credit_line_id=debit.payment_line_id, idempotency_key=f"sepa:r:{debit.pk}:settle",
           by=by)
    fee_entry = None
    if fact.fee is not None and fact.fee.minor > 0:
        fee_label = str(_("Bank fee for returned direct debit %(e2e)s")) % {"e2e": debit.end_to_end_id}
        fee_entry = post_entry(organisation, EntryDraft(journal=journal, date=booked_on, label=fee_label, lines=(
            LineDraft.signed(account_of_kind(organisation, Account.Kind.EXPENSE), fact.fee, label=fee_label),
            LineDraft.signed(debit.creditor_account.bank_account, -fact.fee, label=fee_label))),
            idempotency_key=f"sepa:r:{debit.pk}:fee", by=by)
    rtx = RTransaction.objects.create(
        organisation=organisation, direct_debit=debit, bank_file=bank_file, kind=kind,
        reason_code=(fact.reason_code or "")[:8], amount_minor=amount.minor,
        fee_minor=fact.fee.minor if fact.fee else 0, currency=amount.currency, booked_on=booked_on, entry=entry,
        fee_entry=fee_entry)
    debit.status, debit.reason_code = _STATUS_AFTER[kind], (fact.reason_code or "")[:8]
    debit.save(update_fields=["status", "reason_code"])
    revoked = False
    if why.revokes_mandate and debit.mandate.status == Mandate.Status.ACTIVE:
        revoke_mandate(debit.mandate, reason=f"{why.code}: {why.label}", by=by)
        revoked = True
    customer = debit.customer
    if customer.email:
        pay_url = pay_url_for(debit) if pay_url_for else None
        queue_email(
            organisation=organisation, template_code="direct_debit_returned", to=customer.email,
            language=mandate_language(customer), related=debit, idempotency_key=f"sepa:r:{debit.pk}:notified",
            context={"customer_name": customer.name, "invoice_number": debit.invoice.number if debit.invoice else "",
                     "amount": amount, "reason": why.label, "reason_code": why.code,
                     "reference": debit.mandate.reference, "mandate_revoked": revoked, "next_step": "",
                     "pay_url": pay_url or ""})
    record_event(debit, f"direct_debit_{debit.status}", by=by, data={
        "reason_code": rtx.reason_code, "reason": str(why.label), "bank_file": str(bank_file.pk),
        "fee": Money(rtx.fee_minor, rtx.currency).as_json(), "mandate_revoked": revoked})
    return rtx


__all__ = ["ImportReport", "import_bank_file"]
