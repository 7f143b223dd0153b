"""encaisse collect: one JSON object listing every invoice considered, the same list in a dry run; exit codes."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from encaisse.parties.models import Customer
from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account

from ..models import CollectionPolicy, CollectionRun, RunItem
from .helpers import card_customer, due, eur, invoice_for


def run(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("collect", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def invoices(org, clerk):
    sandbox = sandbox_account(org)
    paying = card_customer(org, clerk, sandbox, ref="C1")
    by_hand = Customer.objects.create(organisation=org, ref="N1", name="By hand", email="n@example.org")
    return invoice_for(org, paying, clerk), invoice_for(org, by_hand, clerk)


@pytest.mark.django_db
def test_collect_json_lists_every_invoice_considered_and_a_dry_run_lists_the_same(org, invoices):
    charged, skipped = invoices
    on = charged.due_on.isoformat()

    code, out, _err = run("--on", on, "--dry-run", "--json")

    assert code == 0
    dry = json.loads(out)
    assert (dry["dry_run"], dry["run"], dry["status"], dry["on"]) == (True, None, "done", on)
    assert CollectionRun.objects.count() == 0
    assert due(charged) == eur("60.00")

    code, out, _err = run("--on", on, "--json", "--org", "pressing")

    assert code == 0
    answer = json.loads(out)
    assert answer["counts"] == {"charged": 1, "skipped": 1}
    assert answer["items"] == [
        {"invoice": charged.number, "customer": "C1", "amount": "60.00", "method": "card", "outcome": "charged",
         "reason": "", "code": "", "message": ""},
        {"invoice": skipped.number, "customer": "N1", "amount": "60.00", "method": "", "outcome": "skipped",
         "reason": "no_method", "code": "", "message": "the customer pays each invoice themselves"},
    ]
    assert [{k: v for k, v in i.items() if k != "message"} for i in dry["items"]] == [
        {k: v for k, v in i.items() if k != "message"} for i in answer["items"]]
    run_row = CollectionRun.objects.get(pk=answer["run"])
    assert (run_row.trigger, RunItem.objects.filter(run=run_row).count()) == ("cli", 2)
    assert due(charged) == eur("0.00")


@pytest.mark.django_db
def test_collect_prints_a_table_for_people(org, invoices):
    charged, _skipped = invoices

    code, out, _err = run("--on", charged.due_on.isoformat())

    assert code == 0
    assert charged.number in out
    assert "2 invoices considered (charged: 1, skipped: 1)." in out


@pytest.mark.django_db
@pytest.mark.parametrize("args", [("--on", "2026-13-01"), ("--shard", "2/2"), ("--shard", "x"), ("--org", "nope")])
def test_collect_bad_usage_exits_2_and_changes_nothing(org, invoices, args):
    code, out, _err = run(*args, "--json")

    assert code == 2
    assert json.loads(out)["error"]["code"] == "usage"
    assert CollectionRun.objects.count() == 0


@pytest.mark.django_db
def test_a_run_stopped_by_an_error_exits_1_after_printing_what_it_did(org, clerk):
    from encaisse.payments.providers.sandbox.tests.helpers import CARD_CHARGES_DECLINED

    customer = card_customer(org, clerk, sandbox_account(org), card=CARD_CHARGES_DECLINED)
    invoice = invoice_for(org, customer, clerk)
    CollectionPolicy.objects.create(organisation=org, card_retry_days=["three"])  # bad data: the run stops

    code, out, _err = run("--on", invoice.due_on.isoformat(), "--json")

    assert code == 1
    answer = json.loads(out)
    assert answer["status"] == "failed"
    assert "ValueError" in answer["error"]
