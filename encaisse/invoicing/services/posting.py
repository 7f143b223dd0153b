"""Posting: the moment a validated invoice becomes a legal one.

After posting an invoice is never edited or deleted; a mistake is corrected by
a credit note. Posting takes the next numbers of a gapless yearly series,
freezes the totals and writes one balanced ledger entry per invoice that puts
the total on the customer's account. All of a posting commits together, or
none of it does.

An invoice made from a quote also deducts the quote's deposit requests, in
the same transaction: see _deduct_deposits.

Lock order, the same on every path so that posters cannot deadlock: invoices
(by id), then the customers of invoices made from quotes (a payment locks the
customer before the ledger head), then series counters (by series id and
year), then the ledger head.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from encaisse.core.audit import record_event, record_events
from encaisse.core.bulk import update_rows
from encaisse.core.errors import DomainError
from encaisse.core.money import Money
from encaisse.ledger.models import Account, EntryLine, Journal, Settlement
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entries, settle
from encaisse.parties.models import Customer, Organisation

from ..errors import EmptyInvoice, InvoiceNotPostable
from ..models import DepositRequest, Invoice, InvoiceLine, InvoiceSeries, InvoiceType, Quote, SeriesCounter, VatRate
from ..totals import LineInput, Totals, compute_totals, totals_from_nets, vat_on

CHUNK_SIZE = 1000  # invoices per transaction: fewer round trips, locks held about a second


def take_numbers(*, series: InvoiceSeries, year: int, count: int = 1) -> list[str]:
    """Take the next `count` numbers of a gapless series, in order.

    The counter row stays locked until the caller's transaction ends: postings
    in one series queue here, and a posting that rolls back gives its numbers
    back. Call it only from inside a posting transaction.
    """
    counter_year = series.counter_year(year)
    SeriesCounter.objects.get_or_create(series=series, year=counter_year)
    counter = SeriesCounter.objects.select_for_update().get(series=series, year=counter_year)
    first = counter.last_value + 1
    counter.last_value += count
    counter.save(update_fields=["last_value"])
    return [series.format_number(year=year, value=v) for v in range(first, first + count)]


def _post_locked(invoices: list[Invoice], *, by: Any, today: date) -> None:
    """Post invoices already locked and known to be validated, all of one organisation.

    Written for batches of thousands: one query per table rather than per
    invoice, plain integers in the loop, and the frozen amounts written back
    with one UPDATE statement per table (executemany) instead of the ORM's
    per-row CASE expressions.
    """
    organisation: Organisation = invoices[0].organisation
    if final := sorted({invoice.party_id for invoice in invoices if invoice.quote_id}):
        # Before the counters and the ledger head: a payment of a deposit locks the customer, then the head.
        list(Customer.objects.select_for_update().filter(pk__in=final).order_by("pk").values_list("pk"))
    receivable = account_of_kind(organisation, Account.Kind.RECEIVABLE)
    sales = journal_of_kind(organisation, Journal.Kind.SALES)
    accounts = {account.pk: account for account in Account.objects.filter(organisation=organisation)}
    rates = {pk: (percent, account_id) for pk, percent, account_id in
             VatRate.objects.filter(organisation=organisation).values_list("pk", "percent", "account_id")}
    lines_by_invoice: dict[int, list[tuple]] = defaultdict(list)
    for row in (
        InvoiceLine.objects.filter(invoice_id__in=[invoice.pk for invoice in invoices])
        .order_by("invoice_id", "position", "pk")
        .values_list("invoice_id", "pk", "quantity", "unit_price", "vat_rate_id", "revenue_account_id",
                     "credited_line_id")
    ):
        lines_by_invoice[row[0]].append(row)

    # Numbers: one counter per (series, year), taken in a fixed order.
    wanted: dict[tuple[int, int], list[Invoice]] = defaultdict(list)
    for invoice in invoices:
        if not lines_by_invoice[invoice.pk]:
            raise EmptyInvoice(invoice=invoice.display_name)
        invoice.issued_on = invoice.issued_on or today
        series = (invoice.invoice_type.credit_note_series if invoice.kind == Invoice.Kind.CREDIT_NOTE
                  else invoice.invoice_type.series)
        wanted[(series.pk, invoice.issued_on.year)].append(invoice)
    series_by_id = {s.pk: s for s in InvoiceSeries.objects.filter(pk__in={k[0] for k in wanted})}
    for (series_id, year), group in sorted(wanted.items()):
        for invoice, number in zip(group, take_numbers(series=series_by_id[series_id], year=year,
                                                      count=len(group)), strict=True):
            invoice.number = number

    drafts = []
    line_nets: list[tuple[int, int]] = []
    for invoice in invoices:
        lines = lines_by_invoice[invoice.pk]
        # The VAT key is the rate, not its account: two rates booked on one
        # account still get their VAT computed each on its own base.
        totals = None
        if invoice.kind == Invoice.Kind.CREDIT_NOTE:
            totals = _closing_credit_note_totals(invoice, lines, rates)
        if totals is None:
            totals = compute_totals(
                (LineInput(quantity=quantity, unit_price=unit_price, vat_percent=rates[rate_id][0],
                           vat_key=rate_id, revenue_key=revenue_id)
                 for _inv, _pk, quantity, unit_price, rate_id, revenue_id, _credited in lines),
                currency=invoice.currency,
            )
        line_nets.extend((net.minor, row[1]) for row, net in zip(lines, totals.line_nets, strict=True))
        invoice.due_on = invoice.due_date_for(invoice.issued_on)
        invoice.net_minor, invoice.vat_minor, invoice.total_minor = (
            totals.net.minor, totals.vat.minor, totals.total.minor)
        vat_by_account: dict[int, Money] = {}
        for rate_id, _base, vat in totals.vat_by_rate:
            account_id = rates[rate_id][1]
            vat_by_account[account_id] = vat_by_account[account_id] + vat if account_id in vat_by_account else vat
        # Credit notes come through here too: their totals are negative, so
        # every amount lands on the other side of the same accounts.
        draft = EntryDraft(
            journal=sales,
            date=invoice.issued_on,
            label=f"{invoice.number} {invoice.party.name}"[:200],
            lines=(
                LineDraft.signed(receivable, totals.total, party=invoice.party, due_on=invoice.due_on,
                                 label=invoice.number),
                *(LineDraft.signed(accounts[account_id], -amount, label=invoice.number)
                  for account_id, amount in totals.revenue_by_account if amount),
                *(LineDraft.signed(accounts[account_id], -vat, label=invoice.number)
                  for account_id, vat in vat_by_account.items() if vat),
            ),
        )
        drafts.append((draft, f"invoice:{invoice.pk}:post"))

    entries = post_entries(organisation, drafts, by=by)
    receivable_lines = dict(
        EntryLine.objects.filter(entry_id__in=[entry.pk for entry in entries], account_id=receivable.pk,
                                 party__isnull=False)
        .values_list("entry_id", "pk")
    )
    now = timezone.now()
    for invoice, entry in zip(invoices, entries, strict=True):
        invoice.entry = entry
        invoice.receivable_line_id = receivable_lines[entry.pk]
        invoice.status = Invoice.Status.POSTED
        invoice.posted_at = now
    # Lines first: on PostgreSQL a trigger refuses any change to the lines of a posted invoice.
    update_rows(InvoiceLine, ["net_minor"], line_nets)
    frozen = ["status", "number", "issued_on", "due_on", "net_minor", "vat_minor", "total_minor", "entry",
              "receivable_line", "posted_at"]
    written = update_rows(
        Invoice, frozen,
        [(*(getattr(invoice, Invoice._meta.get_field(name).attname) for name in frozen), invoice.pk)
         for invoice in invoices],
        where={"status": Invoice.Status.VALIDATED},
    )
    if written != len(invoices):
        raise RuntimeError(f"posting wrote {written} of {len(invoices)} locked invoices")
    for invoice in invoices:
        invoice._loaded_status = Invoice.Status.POSTED
    record_events(invoices, "posted", by=by)
    for invoice in invoices:
        if invoice.kind == Invoice.Kind.CREDIT_NOTE:
            _apply_credit_note(invoice, by=by)
        elif invoice.quote_id:
            _deduct_deposits(invoice, accounts=accounts, by=by)


def _deduct_deposits(invoice: Invoice, *, accounts: dict[int, Account], by: Any) -> None:
    """Deduct the quote's issued deposit requests from its final invoice, just posted: one entry, then settle.

    Entry invoice:<id>:deposits, dated as the invoice: debit 4191 with every
    issued request's amount; credit 411 with what the customer paid on them
    (at most the invoice's total), settled against the invoice, whose amount
    due drops by that much; credit 419 with what they paid beyond the
    invoice's total (an advance, theirs); credit 411 with each request's unpaid
    part, settled against the request's own line, which closes it: nothing
    more is asked on it, and a payment arriving for it later is an advance.
    Requests still in draft are cancelled, and the quote is invoiced.
    """
    quote = Quote.objects.select_for_update().get(pk=invoice.quote_id)
    deposits = list(DepositRequest.objects.select_for_update().filter(
        quote=quote, status=DepositRequest.Status.ISSUED, deduction_entry__isnull=True).order_by("position", "pk"))
    drafts = list(DepositRequest.objects.filter(quote=quote, status=DepositRequest.Status.DRAFT))
    for draft in drafts:
        draft.status = DepositRequest.Status.CANCELLED
        draft.save(update_fields=["status"])
    record_events(drafts, "cancelled", by=by, data={"reason": "quote invoiced"})
    quote.status = Quote.Status.INVOICED
    quote.save(update_fields=["status"])
    if not deposits:
        return
    settled = dict(Settlement.objects.filter(debit_line_id__in=[d.receivable_line_id for d in deposits])
                   .values("debit_line_id").annotate(s=Sum("amount_minor")).values_list("debit_line_id", "s"))
    currency, party = invoice.currency, invoice.party
    paid = sum(settled.get(d.receivable_line_id, 0) for d in deposits)
    to_invoice = max(min(paid, invoice.total_minor), 0)
    by_kind = {account.kind: account for account in sorted(accounts.values(), key=lambda a: a.code, reverse=True)}
    receivable = by_kind[Account.Kind.RECEIVABLE]
    lines = [LineDraft.signed(by_kind[Account.Kind.DEPOSITS], Money(sum(d.amount_minor for d in deposits), currency),
                              party=party, label=invoice.number)]
    targets: list[int | None] = [None]  # the receivable line each entry line settles, in order
    if to_invoice:
        lines.append(LineDraft.signed(receivable, Money(-to_invoice, currency), party=party, label=invoice.number))
        targets.append(invoice.receivable_line_id)
    if paid > to_invoice:
        lines.append(LineDraft.signed(by_kind[Account.Kind.ADVANCE], Money(to_invoice - paid, currency), party=party,
                                      label=invoice.number))
        targets.append(None)
    for deposit in deposits:
        unpaid = deposit.amount_minor - settled.get(deposit.receivable_line_id, 0)
        if unpaid > 0:
            lines.append(LineDraft.signed(receivable, Money(-unpaid, currency), party=party, label=deposit.number))
            targets.append(deposit.receivable_line_id)
    organisation = invoice.organisation
    key = f"invoice:{invoice.pk}:deposits"
    entry = post_entries(organisation, [(EntryDraft(
        journal=journal_of_kind(organisation, Journal.Kind.SALES), date=invoice.issued_on,
        label=f"{invoice.number} acomptes {quote.number}"[:200], lines=tuple(lines)), key)], by=by)[0]
    for line, target in zip(entry.lines.order_by("pk"), targets, strict=True):
        if target is not None:
            settle(debit_line_id=target, credit_line_id=line.pk, idempotency_key=f"{key}:settle:{target}", by=by)
    for deposit in deposits:
        deposit.deduction_entry = entry
        deposit.save(update_fields=["deduction_entry"])
    record_events(deposits, "deducted", by=by, data={"invoice": invoice.number})
    record_event(invoice, "deposits_deducted", by=by, data={
        "quote": quote.number, "paid": Money(paid, currency).as_json(),
        "deducted": Money(to_invoice, currency).as_json()})


def _closing_credit_note_totals(credit_note: Invoice, lines: list[tuple], rates: dict[int, tuple]) -> Totals | None:
    """Totals of a credit note that credits everything still left on its invoice, or None if it does not.

    Partial credit notes are each rounded on their own, so recomputing the last
    one from its quantities could leave a cent due on an invoice whose every
    quantity was credited. The closing note instead credits exactly what is
    left: per line, the invoice's net minus the earlier notes' nets; per VAT
    rate, the invoice's VAT minus the earlier notes' VAT.
    """
    original_id = credit_note.credited_invoice_id
    originals = {pk: (quantity, net) for pk, quantity, net in
                 InvoiceLine.objects.filter(invoice_id=original_id).values_list("pk", "quantity", "net_minor")}
    this = defaultdict(Decimal)
    for row in lines:
        this[row[6]] += row[2]
    earlier_rows = list(
        InvoiceLine.objects.filter(invoice__credited_invoice_id=original_id, invoice__status=Invoice.Status.POSTED)
        .exclude(invoice_id=credit_note.pk)
        .values_list("invoice_id", "credited_line_id", "quantity", "net_minor", "vat_rate_id")
    )
    left = {pk: quantity for pk, (quantity, _net) in originals.items()}
    for _inv, credited, quantity, _net, _rate in earlier_rows:
        left[credited] += quantity  # credit-note quantities are negative
    if None in this or any(left[pk] + this.get(pk, 0) != 0 for pk in left):
        return None
    residual_net = {pk: net for pk, (_q, net) in originals.items()}
    for _inv, credited, _q, net, _rate in earlier_rows:
        residual_net[credited] += net
    original_rate = dict(InvoiceLine.objects.filter(invoice_id=original_id).values_list("pk", "vat_rate_id"))
    vat_left: dict[int, int] = defaultdict(int)
    for rate_id, base in _bases(((net, original_rate[pk]) for pk, (_q, net) in originals.items())).items():
        vat_left[rate_id] += vat_on(base, rates[rate_id][0])
    by_note: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for inv, _credited, _q, net, rate_id in earlier_rows:
        by_note[inv].append((net, rate_id))
    for note_lines in by_note.values():
        for rate_id, base in _bases(note_lines).items():
            vat_left[rate_id] += vat_on(base, rates[rate_id][0])  # negative bases: VAT already credited
    # Each original line is credited by one line of this note (issue_credit_note makes them so).
    nets = [(-residual_net[row[6]], row[4], rates[row[4]][0], row[5]) for row in lines]
    return totals_from_nets(nets, currency=credit_note.currency,
                            vat_by_rate={rate_id: -vat for rate_id, vat in vat_left.items()})


def _bases(rows: Any) -> dict[int, int]:
    bases: dict[int, int] = defaultdict(int)
    for net, rate_id in rows:
        bases[rate_id] += net
    return bases


def _apply_credit_note(credit_note: Invoice, *, by: Any) -> None:
    """Settle a posted credit note against what is still due on the invoice it corrects.

    What the invoice no longer owes (it was paid already) stays on the
    customer's account as a credit, to be used later or refunded.
    """
    original = credit_note.credited_invoice
    if original.receivable_line_id is None:
        return
    # A credit note or an invoice worth nothing once rounded (a fraction of a
    # cent) has no amount to match: settle() rightly refuses empty lines.
    if credit_note.total_minor >= 0 or original.total_minor <= 0:
        return
    settle(debit_line_id=original.receivable_line_id, credit_line_id=credit_note.receivable_line_id,
           idempotency_key=f"creditnote:{credit_note.pk}:settle", by=by)


# What a batch posting reads of an invoice and its customer; the rest stays unread (from_db
# converts every column it loads, dates and datetimes dearly on SQLite).
BATCH_FIELDS = ("organisation", "invoice_type", "party", "kind", "status", "number", "issued_on", "currency",
                "credited_invoice", "party__name", "party__payment_delay_days", "credited_invoice__receivable_line",
                "credited_invoice__total_minor", "quote")


def _lock(ids: Sequence[int], *, only: Sequence[str] | None = None) -> list[Invoice]:
    """Lock invoices in id order and load what posting reads of them (`only` these fields, if given).

    A batch has one organisation and a handful of invoice types: they are read
    once and shared by the invoices, rather than joined and built again for
    every row.
    """
    query = (Invoice.objects.select_for_update(of=("self",)).filter(pk__in=ids)
             .select_related("party", "credited_invoice").order_by("pk"))
    invoices = list(query.only(*only) if only else query)
    organisations = {o.pk: o for o in Organisation.objects.filter(pk__in={i.organisation_id for i in invoices})}
    types = {t.pk: t for t in InvoiceType.objects.filter(pk__in={i.invoice_type_id for i in invoices})
             .select_related("series", "credit_note_series")}
    organisation_field, type_field = Invoice._meta.get_field("organisation"), Invoice._meta.get_field("invoice_type")
    for invoice in invoices:
        organisation_field.set_cached_value(invoice, organisations[invoice.organisation_id])
        type_field.set_cached_value(invoice, types[invoice.invoice_type_id])
    return invoices


@transaction.atomic
def post_invoice(*, invoice_id: int, by: Any = None, today: date | None = None) -> Invoice:
    """Post a validated invoice and return it.

    Posting an invoice that is already posted returns it unchanged, so a double
    click, a retried task or two clerks at once give one number and one entry.
    The row lock is what puts them in single file.
    """
    (invoice,) = _lock([invoice_id])
    if invoice.status == Invoice.Status.POSTED:
        return invoice
    if invoice.status != Invoice.Status.VALIDATED:
        raise InvoiceNotPostable(invoice=invoice.display_name, status=invoice.get_status_display())
    _post_locked([invoice], by=by, today=today or timezone.localdate())
    return invoice


@dataclass
class PostingReport:
    validated: int = 0
    posted: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"validated": self.validated, "posted": len(self.posted), "numbers": self.posted,
                "failed": self.failed}


def postable_scope(*, organisation: Organisation, period: date | None = None, type_code: str | None = None,
                   invoice_ids: Sequence[int] | None = None):
    scope = Invoice.objects.filter(organisation=organisation,
                                   status__in=[Invoice.Status.DRAFT, Invoice.Status.VALIDATED])
    if period is not None:
        scope = scope.filter(
            Q(billing_period__year=period.year, billing_period__month=period.month)
            | Q(billing_period__isnull=True, issued_on__year=period.year, issued_on__month=period.month)
            | Q(billing_period__isnull=True, issued_on__isnull=True, created_at__year=period.year,
                created_at__month=period.month)
        )
    if type_code:
        scope = scope.filter(invoice_type__code=type_code)
    if invoice_ids is not None:
        scope = scope.filter(pk__in=invoice_ids)
    return scope


def post_invoices(
    *, organisation: Organisation, period: date | None = None, type_code: str | None = None,
    invoice_ids: Sequence[int] | None = None, by: Any = None, today: date | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> PostingReport:
    """Validate and post every draft and validated invoice of the scope, in id order.

    Invoices are posted by chunks, each chunk one transaction, so numbers are
    given in posting order without gaps. An invoice that cannot be posted is
    reported with its reason and the others go on: a chunk that fails is
    posted again invoice by invoice to find the culprit.
    """
    today = today or timezone.localdate()
    report = PostingReport()
    scope = postable_scope(organisation=organisation, period=period, type_code=type_code, invoice_ids=invoice_ids)
    drafts = list(scope.filter(status=Invoice.Status.DRAFT).values_list("pk", flat=True))
    if drafts:
        with_lines = set(InvoiceLine.objects.filter(invoice_id__in=drafts).values_list("invoice_id", flat=True))
        for pk in sorted(set(drafts) - with_lines):
            invoice = Invoice.objects.get(pk=pk)
            report.failed.append({"invoice": invoice.display_name, **EmptyInvoice(
                invoice=invoice.display_name).as_dict()})
        ready = sorted(with_lines)
        for start in range(0, len(ready), chunk_size):
            with transaction.atomic():
                batch = list(Invoice.objects.select_for_update(of=("self",)).filter(
                    pk__in=ready[start:start + chunk_size], status=Invoice.Status.DRAFT).order_by("pk"))
                Invoice.objects.filter(pk__in=[i.pk for i in batch]).update(status=Invoice.Status.VALIDATED)
                record_events(batch, Invoice.Status.VALIDATED, by=by)
                report.validated += len(batch)
    validated = scope.filter(status=Invoice.Status.VALIDATED).order_by("pk")
    # Final invoices of quotes go one by one through post_invoice: each deducts its quote's deposits.
    for pk in validated.filter(quote__isnull=False).values_list("pk", flat=True):
        try:
            report.posted.append(post_invoice(invoice_id=pk, by=by, today=today).number)
        except DomainError as error:
            report.failed.append({"invoice": Invoice.objects.get(pk=pk).display_name, **error.as_dict()})
    ids = list(validated.filter(quote__isnull=True).values_list("pk", flat=True))
    for start in range(0, len(ids), chunk_size):
        chunk = ids[start:start + chunk_size]
        try:
            with transaction.atomic():
                invoices = [i for i in _lock(chunk, only=BATCH_FIELDS) if i.status == Invoice.Status.VALIDATED]
                if invoices:
                    _post_locked(invoices, by=by, today=today)
                report.posted.extend(i.number for i in invoices)
        except DomainError:
            for pk in chunk:
                try:
                    report.posted.append(post_invoice(invoice_id=pk, by=by, today=today).number)
                except DomainError as error:
                    invoice = Invoice.objects.get(pk=pk)
                    report.failed.append({"invoice": invoice.display_name, **error.as_dict()})
    return report
