"""The benchmarks still run against the current schema (they build their own databases in subprocesses).

Speed is not asserted here: `make bench` measures it. What is asserted is that
each benchmark completes and reports a figure, a same-run baseline and their
ratio, so a model change cannot silently break `make bench`.
"""

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(("module", "args", "names"), [
    ("encaisse.bench", ["--invoices", "300"], ["post_invoices"]),
    ("encaisse.usage_bench", ["--lines", "3000"], ["usage_import"]),
    ("encaisse.collection_bench", ["--debits", "300", "--cards", "30"], ["collect_sepa", "collect_cards"]),
])
def test_a_benchmark_runs_and_reports_its_ratio(module, args, names, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # benchmarks use their own SQLite files
    env["ENCAISSE_VAR_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)

    assert done.returncode == 0, done.stderr[-2000:]
    reports = [json.loads(line) for line in done.stdout.strip().splitlines()[-len(names):]]
    assert [report["bench"] for report in reports] == names
    for report in reports:
        assert report["baseline_seconds"] > 0
        assert report["ratio"] > 0
