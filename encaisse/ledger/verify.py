"""Prove the books: every entry balances, the hash chain is intact, sequences have no gap.

Reads entries in sequence order in chunks, so verifying a million entries
needs the memory of one chunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from django.db.models import F, Sum

from encaisse.parties.models import Organisation

from .models import Entry, EntryLine, LedgerHead, Settlement
from .services import entry_hash, line_fingerprint

CHUNK = 2000


@dataclass
class Problem:
    code: str
    message: str
    entry_id: int | None = None

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "entry_id": self.entry_id}


@dataclass
class VerifyReport:
    organisation: str
    entries: int = 0
    lines: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_ledger(organisation: Organisation) -> VerifyReport:
    report = VerifyReport(organisation=organisation.slug)
    prev_hash = "0" * 64
    expected_sequence = 1
    last_id = 0
    journals = dict(organisation.journals.values_list("pk", "code"))
    accounts = dict(organisation.accounts.values_list("pk", "code"))
    while True:
        entries = list(
            Entry.objects.filter(organisation=organisation, sequence__gte=expected_sequence)
            .order_by("sequence")
            .values("pk", "sequence", "journal_id", "date", "label", "idempotency_key", "reverses_id",
                    "prev_hash", "hash")[:CHUNK]
        )
        if not entries:
            break
        ids = [e["pk"] for e in entries]
        lines = EntryLine.objects.filter(entry_id__in=ids).order_by("entry_id", "pk").values_list(
            "entry_id", "account_id", "party_id", "debit_minor", "credit_minor", "currency", "due_on", "label",
            "organisation_id",
        )
        by_entry = {k: list(g) for k, g in groupby(lines, key=lambda row: row[0])}
        for e in entries:
            report.entries += 1
            if e["sequence"] != expected_sequence:
                report.problems.append(Problem(
                    "sequence_gap", f"entry sequence {expected_sequence} is missing before {e['sequence']}",
                    e["pk"]))
            expected_sequence = e["sequence"] + 1
            rows = by_entry.get(e["pk"], [])
            report.lines += len(rows)
            if not rows:
                report.problems.append(Problem("empty_entry", "entry has no lines", e["pk"]))
            debit = sum(r[3] for r in rows)
            credit = sum(r[4] for r in rows)
            if debit != credit:
                report.problems.append(Problem(
                    "unbalanced", f"debits {debit} and credits {credit} differ (minor units)", e["pk"]))
            if any(r[8] != organisation.pk or r[1] not in accounts for r in rows):
                report.problems.append(Problem("foreign_line", "a line belongs to another organisation", e["pk"]))
            digest = entry_hash(
                prev_hash=prev_hash, organisation_id=organisation.pk, sequence=e["sequence"],
                journal_code=journals.get(e["journal_id"], "?"), entry_date=e["date"], label=e["label"],
                key=e["idempotency_key"], reverses_id=e["reverses_id"],
                lines=[line_fingerprint(account_code=accounts.get(r[1], "?"), party_id=r[2], debit=r[3],
                                        credit=r[4], currency=r[5], due_on=r[6], label=r[7]) for r in rows],
            )
            if e["prev_hash"] != prev_hash:
                report.problems.append(Problem(
                    "chain_broken", "the entry does not follow the previous one in the hash chain", e["pk"]))
            if digest != e["hash"]:
                report.problems.append(Problem(
                    "hash_mismatch", "the entry's content no longer matches its hash: it was altered", e["pk"]))
            prev_hash = e["hash"]
            last_id = e["pk"]
    head = LedgerHead.objects.filter(organisation=organisation).first()  # fresh: a cached head may be stale
    if head is not None and head.last_sequence != expected_sequence - 1:
        report.problems.append(Problem(
            "missing_entries",
            f"the chain ends at {expected_sequence - 1} but {head.last_sequence} entries were written",
            last_id or None))
    _verify_settlements(organisation, report)
    return report


def _verify_settlements(organisation: Organisation, report: VerifyReport) -> None:
    """No line may be settled beyond its own amount: otherwise an amount due would go negative."""
    over_debit = (
        EntryLine.objects.filter(organisation=organisation, debit_minor__gt=0)
        .annotate(s=Sum("settled_as_debit__amount_minor")).filter(s__gt=F("debit_minor"))
    )
    over_credit = (
        EntryLine.objects.filter(organisation=organisation, credit_minor__gt=0)
        .annotate(s=Sum("settled_as_credit__amount_minor")).filter(s__gt=F("credit_minor"))
    )
    for line in [*over_debit, *over_credit]:
        report.problems.append(Problem("over_settled", f"line {line.pk} is settled beyond its amount",
                                       line.entry_id))
    negative = (EntryLine.objects.filter(organisation=organisation)
                .annotate(s=Sum("settled_as_debit__amount_minor")).filter(s__lt=0))
    mismatched = Settlement.objects.filter(organisation=organisation, reverses__isnull=False).exclude(
        debit_line_id=F("reverses__debit_line_id"), credit_line_id=F("reverses__credit_line_id"),
        amount_minor=-F("reverses__amount_minor"))
    if negative.exists() or mismatched.exists():
        report.problems.append(Problem("bad_unsettlement", "a settlement is undone by more than it settled"))
    if Settlement.objects.filter(organisation=organisation).exclude(
            debit_line__account_id=F("credit_line__account_id")).exists():
        report.problems.append(Problem("cross_account_settlement", "a settlement joins two different accounts"))

