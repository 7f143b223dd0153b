"""Automatic-collection benchmark: due invoices collected by SEPA direct debit and by saved cards.

Run as ``python -m encaisse.collection_bench [--debits N] [--cards M]``. It
prints two JSON objects:

- ``collect_sepa``: N posted invoices due today, each customer with an active
  mandate, collected by ``run_collection`` (collections, direct debits,
  pre-notifications, run lines) then written to pain.008 by
  ``export_direct_debits`` (file validated against the XSD, booked 5113 / 411
  and lettered with the invoices). Baseline, same run: the same transactions
  (names, IBANs, mandates, amounts, end-to-end ids) written by sepaxml alone
  (``add_payment`` then ``export``), which is the least any pain.008 export
  does. Reports invoices/s, the file's size, peak memory and the ratio.
- ``collect_cards``: M due invoices whose customers have a saved sandbox card,
  collected by ``run_collection`` (claim, charge, apply: one ledger entry and
  settlement per charge). Baseline, same run: the sandbox adapter's own
  ``charge`` for the same M charges, i.e. the provider's side alone.

Setting up (customers, mandates, posting the invoices) is not timed. The
module sits outside the layers like encaisse.bench.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from encaisse.bench import _peak_rss_mb, _setup_django

ISSUED = date(2026, 3, 2)  # a Monday; the invoices fall due 30 days later
TARGET_RATIO = 3
IBANS = ("FR7630006000011234567890189", "DE89370400440532013000", "FR1420041010050500013M02606",
         "BE68539007547034", "NL91ABNA0417164300")


def _organisation(slug: str) -> Any:
    from encaisse.ledger.models import Account
    from encaisse.onboarding.organisations import create_organisation
    from encaisse.sepa.models import CreditorAccount

    organisation = create_organisation(name=f"Bench {slug}", slug=slug)
    organisation.creditor_id = "FR72ZZZ123456"
    organisation.save(update_fields=["creditor_id"])
    CreditorAccount.objects.create(organisation=organisation, name="Banque", iban="FR7630001007941234567890185",
                                   bic="BDFEFRPPCCT", bank_account=organisation.accounts.get(kind=Account.Kind.BANK))
    return organisation


def _post_invoices(organisation: Any, customers: list[Any]) -> date:
    """One validated invoice of one line per customer, posted by the batch path; returns the due date."""
    from encaisse.invoicing.models import Invoice, InvoiceLine, InvoiceType, VatRate
    from encaisse.invoicing.services import post_invoices

    invoice_type = InvoiceType.objects.get(organisation=organisation, code="STANDARD")
    rate = VatRate.objects.get(organisation=organisation, code="FR20")
    revenue = organisation.accounts.get(code="706")
    invoices = Invoice.objects.bulk_create(
        (Invoice(organisation=organisation, invoice_type=invoice_type, party=customer, currency="EUR",
                 status=Invoice.Status.VALIDATED) for customer in customers), batch_size=2000)
    InvoiceLine.objects.bulk_create(
        (InvoiceLine(invoice=invoice, position=1, label="Pressing", quantity=Decimal(1 + n % 3),
                     unit_price=Decimal("12.50") + Decimal(n % 89) / 100, vat_rate=rate, revenue_account=revenue)
         for n, invoice in enumerate(invoices)), batch_size=2000)
    report = post_invoices(organisation=organisation, today=ISSUED)
    if len(report.posted) != len(customers) or report.failed:
        raise SystemExit(f"bench: posted {len(report.posted)} of {len(customers)}: {report.failed[:3]}")
    return Invoice.objects.filter(organisation=organisation).order_by("due_on").first().due_on


def _customers_with_mandates(organisation: Any, count: int) -> list[Any]:
    from encaisse.parties.models import Customer
    from encaisse.sepa.models import Mandate

    customers = Customer.objects.bulk_create(
        (Customer(organisation=organisation, ref=f"D{n:07d}", name=f"Débiteur {n}", email=f"d{n}@example.org",
                  collect_by=Customer.CollectBy.DIRECT_DEBIT) for n in range(count)), batch_size=2000)
    Mandate.objects.bulk_create(
        (Mandate(organisation=organisation, customer=customer, reference=f"UMR-BENCH-{n:08d}",
                 iban=IBANS[n % len(IBANS)], account_holder=customer.name, signed_on=date(2025, 1, 15),
                 last_used_on=date(2026, 2, 5) if n % 2 else None) for n, customer in enumerate(customers)),
        batch_size=2000)
    return customers


def _customers_with_cards(organisation: Any, count: int) -> list[Any]:
    from django.utils import timezone

    from encaisse.parties.models import Customer
    from encaisse.payments.models import ProviderAccount, SavedMethod
    from encaisse.payments.providers.sandbox.models import SandboxSavedCard

    account = ProviderAccount.objects.create(organisation=organisation, provider="sandbox", code="bench-sandbox",
                                             name="Carte (sandbox)", settings={"settle_after_seconds": 0})
    customers = Customer.objects.bulk_create(
        (Customer(organisation=organisation, ref=f"K{n:07d}", name=f"Porteur {n}", email=f"k{n}@example.org",
                  collect_by=Customer.CollectBy.CARD) for n in range(count)), batch_size=2000)
    SandboxSavedCard.objects.bulk_create(
        (SandboxSavedCard(token=f"sbx_pm_bench{n:08d}", account_code=account.code,
                          payment_reference=f"sbx_bench{n:08d}", brand="visa", last4="4242", exp_month=12,
                          exp_year=2030) for n in range(count)), batch_size=2000)
    now = timezone.now()
    SavedMethod.objects.bulk_create(
        (SavedMethod(organisation=organisation, customer=customer, provider_account=account,
                     token=f"sbx_pm_bench{n:08d}", brand="visa", last4="4242", exp_month=12, exp_year=2030,
                     is_default=True, consent_text="bench", consent_at=now) for n, customer in enumerate(customers)),
        batch_size=2000)
    return customers


def _sepaxml_baseline(organisation: Any, workdir: Path) -> tuple[float, int]:
    """The exported transactions written again by sepaxml alone; its time and the file's size."""
    from sepaxml import SepaDD

    from encaisse.sepa.models import CreditorAccount, DirectDebit

    creditor = CreditorAccount.objects.get(organisation=organisation, active=True)
    rows = list(DirectDebit.objects.filter(organisation=organisation).select_related("mandate", "customer")
                .order_by("pk"))
    payments = [{"name": row.customer.name, "IBAN": row.mandate.iban, "amount": row.amount_minor,
                 "type": row.sequence_type, "collection_date": row.collection_date,
                 "mandate_id": row.mandate.reference, "mandate_date": row.mandate.signed_on,
                 "description": f"Invoice {row.invoice_id}", "endtoend_id": row.end_to_end_id} for row in rows]
    # Kept alive, the 300,000 model instances read above made each of the cyclic collector's full passes over
    # the heap during sepaxml's run slower: more than half of the baseline's time went there.
    del rows
    gc.collect()
    started = time.perf_counter()
    sdd = SepaDD({"name": organisation.name, "IBAN": creditor.iban, "BIC": creditor.bic, "batch": True,
                  "creditor_id": organisation.creditor_id, "currency": "EUR", "instrument": "CORE"},
                 schema=creditor.schema)
    for payment in payments:
        sdd.add_payment(payment)
    xml = sdd.export(validate=False)
    (workdir / "baseline.xml").write_bytes(xml)
    return time.perf_counter() - started, len(xml)


def bench_sepa(workdir: Path, count: int) -> dict[str, Any]:
    from encaisse.collection.services import run_collection
    from encaisse.sepa.export import export_direct_debits
    from encaisse.sepa.models import DebitFile, DirectDebit

    organisation = _organisation("bench-sepa")
    due = _post_invoices(organisation, _customers_with_mandates(organisation, count))
    # Run on the day the pre-notification must leave, export at once: the file asks for the due date.
    run_on = due - timedelta(days=14)
    gc.collect()  # as before the baseline: each timed part starts from a collected heap
    started = time.perf_counter()
    run = run_collection(organisation=organisation, on=run_on)
    collected = time.perf_counter()
    files = export_direct_debits(organisation=organisation, today=run_on)
    seconds = time.perf_counter() - started
    exported = DirectDebit.objects.filter(organisation=organisation, status=DirectDebit.Status.EXPORTED).count()
    if exported != count or run.counts.get("batched") != count:
        raise SystemExit(f"bench: {exported} of {count} debits exported, run counts {run.counts}")
    size = sum(f.content.size for f in DebitFile.objects.filter(organisation=organisation))
    baseline, baseline_size = _sepaxml_baseline(organisation, workdir)
    return {
        "bench": "collect_sepa", "invoices": count, "files": len(files),
        "seconds": round(seconds, 3), "run_seconds": round(collected - started, 3),
        "export_seconds": round(seconds - (collected - started), 3),
        "invoices_per_s": round(count / seconds, 1), "file_bytes": size,
        "baseline_seconds": round(baseline, 3), "baseline_file_bytes": baseline_size,
        "ratio": round(seconds / baseline, 2), "target_ratio": TARGET_RATIO, "peak_rss_mb": _peak_rss_mb(),
    }


def _adapter_baseline(organisation: Any, count: int) -> float:
    """The sandbox adapter's own charges for the same cards: the provider's work without Encaisse's."""
    from encaisse.core.money import Money
    from encaisse.payments.models import ProviderAccount
    from encaisse.payments.providers import adapter_for
    from encaisse.payments.providers.base import ChargeRequest

    adapter = adapter_for(ProviderAccount.objects.get(organisation=organisation, code="bench-sandbox"))
    requests = [ChargeRequest(attempt_id=str(uuid.uuid4()), idempotency_key=f"baseline:{n}",
                              amount=Money(1500 + n % 89, "EUR"), method_token=f"sbx_pm_bench{n:08d}",
                              customer_token=None, statement_label="Bench") for n in range(count)]
    started = time.perf_counter()
    for request in requests:
        adapter.charge(request)
    return time.perf_counter() - started


def bench_cards(workdir: Path, count: int) -> dict[str, Any]:
    from encaisse.collection.services import run_collection
    from encaisse.payments.models import PaymentAttempt

    organisation = _organisation("bench-cards")
    due = _post_invoices(organisation, _customers_with_cards(organisation, count))
    started = time.perf_counter()
    run = run_collection(organisation=organisation, on=due)
    seconds = time.perf_counter() - started
    charged = PaymentAttempt.objects.filter(organisation=organisation, status="succeeded").count()
    if charged != count or run.counts.get("charged") != count:
        raise SystemExit(f"bench: {charged} of {count} charges succeeded, run counts {run.counts}")
    baseline = _adapter_baseline(organisation, count)
    return {
        "bench": "collect_cards", "invoices": count, "seconds": round(seconds, 3),
        "invoices_per_s": round(count / seconds, 1), "baseline_seconds": round(baseline, 3),
        "ratio": round(seconds / baseline, 2), "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encaisse.collection_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--debits", type=int, default=100_000, help="invoices collected by direct debit")
    parser.add_argument("--cards", type=int, default=10_000, help="invoices collected by saved card")
    args = parser.parse_args(argv)
    if args.debits < 1 or args.cards < 1:
        parser.error("--debits and --cards must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="encaisse-collection-bench-"))
    try:
        _setup_django(workdir)
        print(json.dumps(bench_sepa(workdir, args.debits)), flush=True)
        print(json.dumps(bench_cards(workdir, args.cards)), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
