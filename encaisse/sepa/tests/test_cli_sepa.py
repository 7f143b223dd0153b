"""`encaisse sepa export` and `encaisse bank import`: files written, reports printed, exit codes."""

import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from encaisse.invoicing.selectors import amount_due
from encaisse.sepa import tasks
from encaisse.sepa.models import BankFile, DirectDebit, Mandate
from encaisse.sepa.pain008 import validate_pain008

from .bank_answers import pain002
from .debit_fixtures import make_mandate, schedule


def run(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def run_json(*args: str) -> tuple[int, dict]:
    code, out, _err = run(*args, "--json")
    return code, json.loads(out)


@pytest.fixture
def scheduled(mandate, clerk):
    return schedule(mandate, clerk, today=timezone.localdate())


def test_sepa_export_writes_the_files_and_prints_them(scheduled, tmp_path):
    code, answer = run_json("sepa", "export", "--out", str(tmp_path / "out"), "--org", "pressing")

    assert code == 0
    [printed] = answer["files"]
    assert printed["count"] == 1
    assert printed["control_sum"] == "60.00"
    data = (tmp_path / "out" / f"{printed['message_id']}.xml").read_bytes()
    validate_pain008(data, schema="pain.008.001.02")
    assert printed["message_id"].encode() in data
    assert scheduled.end_to_end_id.encode() in data
    scheduled.refresh_from_db()
    assert scheduled.status == DirectDebit.Status.EXPORTED


def test_sepa_export_with_nothing_to_export_says_so(creditor, tmp_path):
    code, out, _err = run("sepa", "export", "--out", str(tmp_path))

    assert code == 0
    assert "Nothing to export" in out


def test_sepa_export_of_another_day_exports_nothing(scheduled, tmp_path):
    code, answer = run_json("sepa", "export", "--out", str(tmp_path), "--collection-date", "2031-01-02")

    assert (code, answer["files"]) == (0, [])
    scheduled.refresh_from_db()
    assert scheduled.status == DirectDebit.Status.SCHEDULED


@pytest.mark.parametrize("args", [["--collection-date", "02/01/2026"], ["--org", "nowhere"]])
def test_sepa_export_bad_usage_exits_2(creditor, tmp_path, args):
    code, answer = run_json("sepa", "export", "--out", str(tmp_path), *args)

    assert code == 2
    assert answer["error"]["code"] == "usage"


def test_sepa_export_without_creditor_identifier_exits_1(org, tmp_path):
    code, answer = run_json("sepa", "export", "--out", str(tmp_path))

    assert code == 1
    assert answer["error"]["code"] == "direct_debit_refused"


def test_bank_import_applies_a_reject_once_and_says_so_the_second_time(scheduled, tmp_path, org):
    run("sepa", "export", "--out", str(tmp_path))
    scheduled.refresh_from_db()
    debit_file = scheduled.file
    path = tmp_path / "sts.xml"
    path.write_bytes(pain002(debit_file.message_id, next(iter(debit_file.payment_info_ids.values())),
                             [(scheduled.end_to_end_id, "AC04", "60.00"), ("NOT-OURS", "AM04", "5.00")]))

    code, answer = run_json("bank", "import", str(path))

    assert code == 0
    assert [(a["end_to_end_id"], a["reason_code"]) for a in answer["applied"]] == [(scheduled.end_to_end_id, "AC04")]
    assert answer["applied"][0]["reason"]
    assert [(u["end_to_end_id"], u["why"]) for u in answer["unmatched"]] == [("NOT-OURS", "unknown")]
    assert amount_due(scheduled.invoice).minor == 6000
    assert Mandate.objects.get(pk=scheduled.mandate_id).status == Mandate.Status.REVOKED

    code, out, _err = run("bank", "import", str(path))
    assert code == 0
    assert "imported before" in out
    assert BankFile.objects.count() == 1


def test_bank_import_of_a_bad_file_exits_1_and_writes_nothing(org, tmp_path):
    path = tmp_path / "bad.xml"
    path.write_bytes(b"not xml at all")

    code, answer = run_json("bank", "import", str(path))

    assert code == 1
    assert answer["error"]["code"] == "bank_file_invalid"
    assert not BankFile.objects.exists()


def test_bank_import_of_a_missing_file_exits_2(org, tmp_path):
    code, _answer = run_json("bank", "import", str(tmp_path / "missing.xml"))

    assert code == 2


def test_daily_tasks_settle_files_and_lapse_mandates(customer, creditor, clerk):
    old = make_mandate(customer, "OLD", signed_on=date(2020, 1, 10))

    assert tasks.lapse_mandates.call() == 1
    assert tasks.settle_direct_debits.call() == 0
    old.refresh_from_db()
    assert old.status == Mandate.Status.LAPSED
