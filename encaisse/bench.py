"""`make bench`: how fast Encaisse writes, next to what the database itself can do.

Run as ``python -m encaisse.bench [--invoices N] [--only NAME]``. Each benchmark
prints one JSON object on stdout: the figure, a raw baseline measured in the
same run on the same machine, and their ratio. The ratio is what to watch: it
does not move when the machine is faster or slower, only when Encaisse adds or
removes work of its own. Benchmarks are not timed tests; nothing fails on speed.

Every run uses fresh temporary SQLite files with the production settings (WAL,
IMMEDIATE transactions, foreign keys on) and removes them afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

BENCH_DAY = date(2026, 3, 1)
# The tables a posting writes to: the raw baseline inserts the same rows into copies of them.
POSTING_TABLES = ("invoicing_invoice", "invoicing_invoiceline", "ledger_entry", "ledger_entryline")


def _setup_django(workdir: Path) -> None:
    """Point Django at a fresh SQLite file before anything imports the settings."""
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["ENCAISSE_VAR_DIR"] = str(workdir / "var")
    os.environ.setdefault("ENCAISSE_DEBUG", "0")  # DEBUG keeps every query in memory: not production
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "encaisse.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _prepare_invoices(count: int) -> Any:
    """Create an organisation, `count` customers and `count` validated invoices of 3 lines (not timed)."""
    from encaisse.invoicing.models import Invoice, InvoiceLine, InvoiceType, VatRate
    from encaisse.onboarding.organisations import create_organisation
    from encaisse.parties.models import Customer

    organisation = create_organisation(name="Bench", slug="bench")
    invoice_type = InvoiceType.objects.get(organisation=organisation, code="STANDARD")
    rates = [VatRate.objects.get(organisation=organisation, code=code) for code in ("FR20", "FR10", "FR55")]
    revenue = organisation.accounts.get(code="706")
    customers = Customer.objects.bulk_create(
        (Customer(organisation=organisation, ref=f"C{n:07d}", name=f"Customer {n}") for n in range(count)),
        batch_size=2000,
    )
    invoices = Invoice.objects.bulk_create(
        (Invoice(organisation=organisation, invoice_type=invoice_type, party=customer, currency="EUR",
                 status=Invoice.Status.VALIDATED) for customer in customers),
        batch_size=2000,
    )
    # Three lines on three VAT rates with prices that need rounding: the arithmetic is the real one.
    InvoiceLine.objects.bulk_create(
        (
            InvoiceLine(invoice=invoice, position=position, label=label, quantity=Decimal(qty),
                        unit_price=Decimal(price) + Decimal(n % 97) / 100, vat_rate=rate, revenue_account=revenue)
            for n, invoice in enumerate(invoices)
            for position, (label, qty, price), rate in zip(
                (1, 2, 3),
                (("Service", "3", "4.505"), ("Delivery", "1", "12.00"), ("Books", "2.5", "7.99")),
                rates, strict=True,
            )
        ),
        batch_size=3000,
    )
    return organisation


def _raw_posting_baseline(workdir: Path, count: int, schema: list[str]) -> float:
    """Insert the rows a posting writes (invoice, 3 lines, entry, 3 entry lines) with executemany.

    Same table definitions and indexes as the application's database, same
    pragmas, one transaction; the application's foreign keys point at tables
    that are not here, so they are not enforced. Returns the seconds taken.
    """
    connection = sqlite3.connect(workdir / "baseline.sqlite3", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in schema:
        connection.execute(statement)
    now = "2026-03-01 10:00:00"
    day = BENCH_DAY.isoformat()
    due = (BENCH_DAY + timedelta(days=30)).isoformat()
    invoice_lines = (("Service", "3", "4.505", 1352, 1), ("Delivery", "1", "12.00", 1200, 2),
                     ("Books", "2.5", "7.99", 1998, 3))
    rows = {
        "invoicing_invoice": (
            ("id", "kind", "status", "number", "issued_on", "due_on", "currency", "customer_reference", "notes",
             "net_minor", "vat_minor", "total_minor", "created_at", "posted_at", "entry_id", "organisation_id",
             "party_id", "receivable_line_id", "invoice_type_id"),
            [(n, "invoice", "posted", f"F-2026-{n:06d}", day, due, "EUR", "", "", 4550, 500, 5050, now, now, n, 1,
              n, 3 * n, 1) for n in range(1, count + 1)],
        ),
        "invoicing_invoiceline": (
            ("id", "position", "label", "quantity", "unit", "unit_price", "net_minor", "source", "source_key",
             "invoice_id", "revenue_account_id", "vat_rate_id"),
            [(3 * n + k, k + 1, label, qty, "u", price, net, "manual", "", n, 7, rate)
             for n in range(1, count + 1) for k, (label, qty, price, net, rate) in enumerate(invoice_lines)],
        ),
        "ledger_entry": (
            ("id", "sequence", "date", "label", "idempotency_key", "posted_at", "origin", "prev_hash", "hash",
             "organisation_id", "journal_id"),
            [(n, n, day, f"F-2026-{n:06d} Customer {n}", f"invoice:{n}:post", now, "system", "0" * 64, "f" * 64, 1, 1)
             for n in range(1, count + 1)],
        ),
        "ledger_entryline": (
            ("id", "debit_minor", "credit_minor", "currency", "due_on", "label", "account_id", "entry_id",
             "organisation_id", "party_id"),
            [(3 * n + k, debit, credit, "EUR", due if k == 0 else None, f"F-2026-{n:06d}", account, n, 1,
              n if k == 0 else None)
             for n in range(1, count + 1)
             for k, (account, debit, credit) in enumerate(((1, 5050, 0), (7, 0, 4550), (8, 0, 500)))],
        ),
    }
    started = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    for table, (columns, values) in rows.items():
        connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)
    connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def _table_schema(tables: tuple[str, ...]) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements of `tables`, as migrations made them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({', '.join('%s' for _ in tables)}) "
            "AND sql IS NOT NULL ORDER BY type DESC",  # tables before their indexes
            list(tables),
        )
        return [row[0] for row in cursor.fetchall()]


def bench_post_invoices(workdir: Path, count: int) -> dict[str, Any]:
    """Post `count` validated invoices of 3 lines in one post_invoices call."""
    from encaisse.invoicing.models import Invoice
    from encaisse.invoicing.services import post_invoices
    from encaisse.ledger.models import Entry, EntryLine

    organisation = _prepare_invoices(count)
    started, cpu_started = time.perf_counter(), time.process_time()
    report = post_invoices(organisation=organisation, today=BENCH_DAY)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if len(report.posted) != count or report.failed:
        raise SystemExit(f"bench: posted {len(report.posted)} of {count}, failures: {report.failed[:3]}")
    # A fast posting that wrote the wrong rows would be no result: check the counts (not timed).
    written = (Invoice.objects.filter(status=Invoice.Status.POSTED).count(), Entry.objects.count(),
               EntryLine.objects.count())
    if written != (count, count, 3 * count):
        raise SystemExit(f"bench: expected {count} posted invoices, entries and {3 * count} lines, got {written}")

    cpu_started = time.process_time()
    baseline = _raw_posting_baseline(workdir, count, _table_schema(POSTING_TABLES))
    baseline_cpu = time.process_time() - cpu_started
    return {
        "bench": "post_invoices",
        "invoices": count,
        "seconds": round(seconds, 3),
        "invoices_per_s": round(count / seconds, 1),
        "baseline_seconds": round(baseline, 3),
        "baseline_invoices_per_s": round(count / baseline, 1),
        "ratio": round(seconds / baseline, 2),
        # CPU time of this process, steadier than wall time on a shared machine (SQLite runs in-process).
        "cpu_seconds": round(cpu_seconds, 3),
        "baseline_cpu_seconds": round(baseline_cpu, 3),
        "target_ratio": 8,
        "peak_rss_mb": _peak_rss_mb(),
    }


BENCHMARKS: dict[str, Callable[[Path, int], dict[str, Any]]] = {
    "post_invoices": bench_post_invoices,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encaisse.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices to post (default 100000)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run this benchmark only")
    args = parser.parse_args(argv)
    if args.invoices < 1:
        parser.error("--invoices must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="encaisse-bench-"))
    try:
        _setup_django(workdir)
        for name, bench in BENCHMARKS.items():
            if args.only and name != args.only:
                continue
            print(json.dumps(bench(workdir, args.invoices)), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
