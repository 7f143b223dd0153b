"""Prove the invoice numbering: in each series and year, posted numbers run 1..N with no gap.

French law (CGI art. 242 nonies A) wants invoice numbers in one unbroken
sequence. Posting takes numbers under a row lock on the SeriesCounter, so a
gap or a counter that disagrees with the invoices means rows were removed,
renumbered or written around the services. Nothing here writes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from encaisse.parties.models import Organisation

from .models import DepositRequest, Invoice, InvoiceSeries, Quote, SeriesCounter

# A gap report lists at most this many missing numbers; the count says the rest.
MAX_LISTED = 20


@dataclass
class NumberingProblem:
    code: str
    message: str
    series: str
    year: int | None = None
    invoice_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "series": self.series, "year": self.year,
                "invoice_id": self.invoice_id}


@dataclass
class NumberingReport:
    organisation: str
    invoices: int = 0
    series: int = 0
    problems: list[NumberingProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _pattern(series: InvoiceSeries) -> re.Pattern[str]:
    # The inverse of InvoiceSeries.format_number; prefixes are unique per
    # organisation, and the digits anchor the match, so "F" never claims "F-X-…".
    if series.yearly_reset:
        return re.compile(rf"^{re.escape(series.prefix)}-(\d{{4}})-(\d+)$")
    return re.compile(rf"^{re.escape(series.prefix)}-(\d+)$")


def verify_numbering(organisation: Organisation) -> NumberingReport:
    """Check every series of the organisation: numbers 1..N, N equal to the counter, no stray number.

    Reports a `number_gap` (with the missing numbers), a `counter_mismatch`
    when the counter's last value is not the highest number, a
    `duplicate_number` when two invoices carry the same value, and an
    `unknown_number` for a posted invoice whose number belongs to no series.
    """
    report = NumberingReport(organisation=organisation.slug)
    all_series = list(InvoiceSeries.objects.filter(organisation=organisation).order_by("prefix"))
    report.series = len(all_series)
    patterns = [(series, _pattern(series)) for series in all_series]
    # Longest prefix first: with prefixes "A" and "A-B", "A-B-2026-00001" is the latter's.
    patterns.sort(key=lambda pair: -len(pair[0].prefix))
    values: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    posted = (
        Invoice.objects.filter(organisation=organisation, status=Invoice.Status.POSTED)
        .order_by("pk").values_list("pk", "number", "issued_on")
    )
    # Quotes and deposit requests take their numbers from series of their own, with the same counters.
    others = [model.objects.filter(organisation=organisation, number__isnull=False).order_by("pk")
              .values_list("pk", "number", "issued_on") for model in (Quote, DepositRequest)]
    for pk, number, issued_on in chain(posted.iterator(chunk_size=5000), *others):
        report.invoices += 1
        for series, pattern in patterns:
            match = pattern.match(number or "")
            if match is None:
                continue
            if series.yearly_reset:
                year, value = int(match.group(1)), int(match.group(2))
                if issued_on and issued_on.year != year:
                    report.problems.append(NumberingProblem(
                        "year_mismatch", f"{number} was issued on {issued_on.isoformat()}, not in {year}",
                        series.prefix, year, pk))
            else:
                year, value = 0, int(match.group(1))
            seen = values[(series.pk, year)]
            if value in seen:
                report.problems.append(NumberingProblem(
                    "duplicate_number", f"{number} is used by invoices {seen[value]} and {pk}",
                    series.prefix, year or None, pk))
            seen[value] = pk
            break
        else:
            report.problems.append(NumberingProblem(
                "unknown_number", f"{number} belongs to no number series of the organisation", "", None, pk))

    counters = {(c.series_id, c.year): c.last_value
                for c in SeriesCounter.objects.filter(series__organisation=organisation)}
    by_id = {series.pk: series for series in all_series}
    for key in sorted(set(values) | set(counters)):
        series, year = by_id[key[0]], key[1]
        taken = values.get(key, {})
        last = counters.get(key, 0)
        highest = max(taken, default=0)
        missing = [v for v in range(1, max(highest, last) + 1) if v not in taken]
        if missing:
            shown = ", ".join(series.format_number(year=year, value=v) for v in missing[:MAX_LISTED])
            more = f" and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
            report.problems.append(NumberingProblem(
                "number_gap", f"{len(missing)} number(s) missing: {shown}{more}", series.prefix, year or None))
        if highest != last:
            report.problems.append(NumberingProblem(
                "counter_mismatch",
                f"the counter's last value is {last} but the highest number posted is {highest}",
                series.prefix, year or None))
    return report
