"""Usage-import benchmark: a partner's monthly file turned into draft invoices, next to what csv + SQLite can do.

Run as ``python -m encaisse.usage_bench [--lines N] [--customers C]``. It prints
one JSON object: the import's time and lines per second, a raw baseline
measured in the same run (the same file parsed with `csv` and one row per line
inserted with `executemany` into a copy of the invoice line table, in one
transaction), their ratio, and peak memory. The ratio is the figure to watch;
nothing fails on speed.

The module sits outside the layers (like encaisse.bench) because it sets up
an organisation with encaisse.onboarding, which encaisse.usage may not import.
`encaisse.bench` can register `bench_usage_import` next to its own benchmarks.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

PERIOD = date(2026, 3, 1)
HEADER = ("N° client", "Prestation", "Quantité", "Prix unitaire", "Date", "Commentaire")
SERVICES = (("PRESSING", "Pressing", "4.50"), ("REPASSAGE", "Repassage", "2.20"), ("MENAGE", "Ménage", "25.00"),
            ("VITRES", "Vitres", "18.00"), ("LIVRAISON", "Livraison", "3.90"))
TARGET_RATIO = 4


def _setup_django(workdir: Path) -> None:
    """Point Django at a fresh SQLite file before anything imports the settings (once per process)."""
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["ENCAISSE_VAR_DIR"] = str(workdir / "var")
    os.environ.setdefault("ENCAISSE_DEBUG", "0")  # DEBUG keeps every query in memory: not production
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "encaisse.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # kilobytes on Linux


def write_usage_file(path: Path, *, lines: int, customers: int) -> None:
    """A partner's file as French software writes it: `;`, decimal comma, dd/mm/yyyy, CRLF.

    Line n bills customer n mod C, so every customer gets lines; the comment
    carries n on every line so no line repeats another (a repeat is billed once,
    and the check below expects every line accepted).
    """
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        for n in range(lines):
            code = SERVICES[n % len(SERVICES)][0]
            price = f"{1 + n % 40},{n % 100:02d}"
            writer.writerow((f"C{n % customers:07d}", code, str(1 + n % 4), price, f"{1 + n % 28:02d}/03/2026",
                             f"Ticket {n}"))


def _prepare(customers: int, slug: str) -> Any:
    """An organisation, its customers, products for the partner's service codes and the partner (not timed)."""
    from encaisse.invoicing.models import InvoiceType, Product, VatRate
    from encaisse.onboarding.organisations import create_organisation
    from encaisse.parties.models import Customer
    from encaisse.usage.models import Partner, ServiceMapping

    organisation = create_organisation(name="Bench usage", slug=slug)
    invoice_type = InvoiceType.objects.get(organisation=organisation, code="STANDARD")
    rate = VatRate.objects.get(organisation=organisation, code="FR20")
    revenue = organisation.accounts.get(code="706")
    for first in range(0, customers, 5000):  # in chunks: bulk_create keeps what it creates in a list
        Customer.objects.bulk_create(
            Customer(organisation=organisation, ref=f"C{n:07d}", name=f"Customer {n}")
            for n in range(first, min(first + 5000, customers)))
    partner = Partner.objects.create(organisation=organisation, code="pressing", name="Pressing du centre",
                                     invoice_type=invoice_type)  # format not declared: detected from the file
    for code, label, price in SERVICES:
        product = Product.objects.create(organisation=organisation, code=code, label=label,
                                         unit_price=Decimal(price), vat_rate=rate, revenue_account=revenue)
        ServiceMapping.objects.create(partner=partner, service_code=code, product=product)
    return partner


def _invoice_line_schema() -> list[str]:
    """CREATE TABLE and CREATE INDEX statements of the invoice line table, as migrations made them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'invoicing_invoiceline' "
                       "AND sql IS NOT NULL ORDER BY type DESC")  # the table before its indexes
        return [row[0] for row in cursor.fetchall()]


def raw_baseline(path: Path, database: Path, schema: list[str]) -> float:
    """Parse the file with `csv` and insert one invoice line per row with executemany; the seconds taken.

    The least an import can do: decode, split, turn the decimal comma into a
    number and write the row. Same table definition and indexes, same pragmas,
    one transaction; foreign keys point at tables that are not there, so they
    are not enforced. Rows are streamed into executemany, as the import does.
    """
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in schema:
        connection.execute(statement)
    columns = ("position", "label", "quantity", "unit", "unit_price", "net_minor", "source", "source_key",
               "source_import_id", "source_line_number", "invoice_id", "revenue_account_id", "vat_rate_id")
    present = {row[1] for row in connection.execute("PRAGMA table_info(invoicing_invoiceline)")}
    columns = tuple(c for c in columns if c in present)

    def rows(reader: Any) -> Any:
        next(reader)  # header
        for number, (customer, service, quantity, price, _day, comment) in enumerate(reader, start=2):
            qty, unit_price = Decimal(quantity.replace(",", ".")), Decimal(price.replace(",", "."))
            values = {"position": number, "label": comment or service, "quantity": str(qty), "unit": "u",
                      "unit_price": str(unit_price), "net_minor": int(qty * unit_price * 100),
                      "source": "import", "source_key": "usage:1:2026-03", "source_import_id": 1,
                      "source_line_number": number, "invoice_id": int(customer[1:]) + 1, "revenue_account_id": 1,
                      "vat_rate_id": 1}
            yield tuple(values[c] for c in columns)

    started = time.perf_counter()
    with path.open("rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), delimiter=";")
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            f"INSERT INTO invoicing_invoiceline ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            rows(reader))
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def bench_usage_import(workdir: Path, lines: int, customers: int | None = None) -> dict[str, Any]:
    """Import a generated file of `lines` lines for `customers` customers (lines // 10 by default).

    Expects Django set up on a fresh database (as `encaisse.bench` does);
    `run_usage_bench` does that for a standalone run.
    """
    from encaisse.invoicing.models import Invoice, InvoiceLine
    from encaisse.usage.services import import_usage_file

    customers = customers or max(1, lines // 10)
    path = workdir / f"usage-{lines}.csv"
    write_usage_file(path, lines=lines, customers=customers)
    partner = _prepare(customers, slug=f"bench-usage-{lines}-{customers}")
    rss_before = _peak_rss_mb()

    started, cpu_started = time.perf_counter(), time.process_time()
    with path.open("rb") as file:
        usage_import = import_usage_file(partner=partner, period=PERIOD, file=file, filename=path.name)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = _peak_rss_mb()

    # A fast import that wrote the wrong rows would be no result: check what it wrote (not timed).
    expected_invoices = min(lines, customers)
    written = (usage_import.status, usage_import.lines_accepted, usage_import.invoices_created,
               InvoiceLine.objects.filter(source_import_id=usage_import.pk).count(),
               Invoice.objects.filter(organisation=partner.organisation, billing_period=PERIOD).count())
    if written != ("succeeded", lines, expected_invoices, lines, expected_invoices):
        rejected = (usage_import.report or {}).get("rejected", [])[:3]
        raise SystemExit(f"usage bench: expected succeeded, {lines} lines and {expected_invoices} invoices, "
                         f"got {written}; first rejections: {rejected}")

    cpu_started = time.process_time()
    baseline = raw_baseline(path, workdir / f"baseline-{lines}.sqlite3", _invoice_line_schema())
    baseline_cpu = time.process_time() - cpu_started
    return {
        "bench": "usage_import",
        "lines": lines,
        "customers": customers,
        "seconds": round(seconds, 3),
        "lines_per_s": round(lines / seconds, 1),
        "baseline_seconds": round(baseline, 3),
        "baseline_lines_per_s": round(lines / baseline, 1),
        "ratio": round(seconds / baseline, 2),
        "target_ratio": TARGET_RATIO,
        # CPU time of this process, steadier than wall time on a shared machine (SQLite runs in-process).
        "cpu_seconds": round(cpu_seconds, 3),
        "baseline_cpu_seconds": round(baseline_cpu, 3),
        # ru_maxrss: the process's peak resident memory (setup included); before: the peak before the import.
        "peak_rss_mb": peak,
        "rss_before_import_mb": rss_before,
        "target_peak_rss_mb": 300,
        "file_mb": round(path.stat().st_size / 1_048_576, 1),
    }


def run_usage_bench(lines: int, customers: int) -> dict[str, Any]:
    """The whole benchmark in a fresh temporary SQLite database, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="encaisse-usage-bench-"))
    try:
        from django.conf import settings

        if not settings.configured:
            _setup_django(workdir)
        return bench_usage_import(workdir, lines, customers)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encaisse.usage_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines in the file (default 1000000)")
    parser.add_argument("--customers", type=int, default=None, help="customers billed (default lines / 10)")
    args = parser.parse_args(argv)
    if args.lines < 1 or (args.customers is not None and args.customers < 1):
        parser.error("--lines and --customers must be at least 1")
    print(json.dumps(run_usage_bench(args.lines, args.customers or max(1, args.lines // 10))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
