"""The back office of automatic collection: runs, files, bank answers and policies, each organisation's own.

The rows are written with the ORM here, as the collection and SEPA services
would leave them, so the read-only pages are tested on their own.
"""

import re
from datetime import date

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from encaisse.collection.models import Collection, CollectionPolicy, CollectionRun, Method, Outcome, RunItem, SkipReason
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Account
from encaisse.ledger.services import account_of_kind
from encaisse.parties.models import Customer, Membership
from encaisse.sepa.models import BankFile, CreditorAccount, DebitFile, DirectDebit, Mandate, RTransaction

IBAN = "FR7630006000011234567890189"
XML = b'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.008.001.02"/>'


def posted(org, customer, clerk, label="Pressing de mars", price="42.00") -> Invoice:
    invoice = draft_invoice(org, customer, (label, "1", price), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 3, 1))


def sepa_story(org, customer, clerk, *, rejected: bool = True, n: int = 1) -> dict:
    """An invoice collected by direct debit: its collection, the file it went in, the run, the bank's reject.

    `n` numbers the story's references, so that one organisation can hold several.
    """
    invoice = posted(org, customer, clerk)
    mandate = Mandate.objects.create(organisation=org, customer=customer, reference=f"UMR-PRESS-{n}", iban=IBAN,
                                     signed_on=date(2026, 1, 5))
    creditor, _ = CreditorAccount.objects.get_or_create(
        organisation=org, active=True,
        defaults={"name": "Compte principal", "iban": IBAN, "bank_account": account_of_kind(org, Account.Kind.BANK)})
    debit_file = DebitFile(organisation=org, creditor_account=creditor, message_id=f"ENC-20260310-{n:04d}",
                           schema="pain.008.001.02", scheme="CORE", collection_date=date(2026, 3, 10), count=1,
                           control_sum_minor=5040, currency="EUR", sha256=f"{n:064d}")
    debit_file.content.save(f"{debit_file.message_id}.xml", ContentFile(XML), save=False)
    debit_file.save()
    debit = DirectDebit.objects.create(
        organisation=org, customer=customer, mandate=mandate, creditor_account=creditor, invoice=invoice,
        line=invoice.receivable_line, amount_minor=5040, currency="EUR", end_to_end_id=f"ENC7T{n}",
        sequence_type="FRST", collection_date=date(2026, 3, 10), file=debit_file,
        status=DirectDebit.Status.REJECTED if rejected else DirectDebit.Status.EXPORTED,
        reason_code="AM04" if rejected else "")
    collection = Collection.objects.create(organisation=org, invoice=invoice, line=invoice.receivable_line,
                                           customer=customer, method=Method.DIRECT_DEBIT, tries=1,
                                           status=Collection.Status.RETRY, next_try_on=date(2026, 3, 20),
                                           direct_debit=debit)
    run = CollectionRun.objects.create(organisation=org, run_on=date(2026, 3, 1), status=CollectionRun.Status.DONE,
                                       counts={"batched": 1, "skipped": 1})
    RunItem.objects.create(run=run, invoice=invoice, customer=customer, collection=collection, amount_minor=5040,
                           currency="EUR", method=Method.DIRECT_DEBIT, outcome=Outcome.BATCHED, direct_debit=debit)
    other_invoice = posted(org, customer, clerk, label="Retouches")
    RunItem.objects.create(run=run, invoice=other_invoice, customer=customer, amount_minor=1200, currency="EUR",
                           outcome=Outcome.SKIPPED, reason=SkipReason.NO_METHOD)
    story = {"invoice": invoice, "mandate": mandate, "creditor": creditor, "file": debit_file, "debit": debit,
             "collection": collection, "run": run, "skipped_invoice": other_invoice}
    if rejected:
        bank_file = BankFile(organisation=org, kind=BankFile.Kind.PAIN_002, name="rejets.xml",
                             message_id=f"BANK-{n}", sha256=f"{n:063d}1",
                             report={"already_known": ["ENC9T1"],
                                     "unmatched": [{"end_to_end_id": "NOT-OURS", "why": "no debit"}]})
        bank_file.content.save("rejets.xml", ContentFile(b"<Document/>"), save=False)
        bank_file.save()
        story["bank_file"] = bank_file
        story["r"] = RTransaction.objects.create(
            organisation=org, direct_debit=debit, bank_file=bank_file, kind=RTransaction.Kind.REJECT,
            reason_code="AM04", amount_minor=5040, fee_minor=350, currency="EUR", booked_on=date(2026, 3, 11),
            entry=other_invoice.entry)
    return story


@pytest.fixture
def story(org, customer, clerk, media_in_tmp):
    return sepa_story(org, customer, clerk)


def page_of(staff, name, *args, **query) -> str:
    response = staff.get(reverse(name, args=args), query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def section(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}".*?</table>', page, re.S)
    assert found, f"no #{element_id} on the page"
    return found.group(0)


@pytest.mark.django_db
def test_the_run_page_lists_every_invoice_with_its_result_and_filters_by_result(staff, story):
    run, invoice, skipped = story["run"], story["invoice"], story["skipped_invoice"]

    page = page_of(staff, "admin:collection_collectionrun_change", run.pk)
    lines = section(page, "run-items")
    assert invoice.display_name in lines
    assert skipped.display_name in lines
    assert "Added to a direct-debit batch" in lines
    assert "No valid payment method" in lines

    only_skipped = section(page_of(staff, "admin:collection_collectionrun_change", run.pk, outcome="skipped"),
                           "run-items")
    assert skipped.display_name in only_skipped
    assert invoice.display_name not in only_skipped

    listing = page_of(staff, "admin:collection_collectionrun_changelist")
    assert "Skipped: 1" in listing
    assert reverse("staff:collection_run") in listing
    assert page_of(staff, "admin:collection_collectionrun_changelist", outcome="declined").count(
        reverse("admin:collection_collectionrun_change", args=[run.pk])) == 0


@pytest.mark.django_db
def test_the_collection_page_tells_its_debits_and_the_banks_reject(staff, story):
    page = page_of(staff, "admin:collection_collection_change", story["collection"].pk)

    assert "ENC7T1" in section(page, "direct-debits")
    rejects = section(page, "r-transactions")
    assert "AM04 – Insufficient funds" in rejects
    assert "3.50" in rejects
    listing = page_of(staff, "admin:collection_collection_changelist", status="retry", method="direct_debit")
    assert story["invoice"].display_name in listing


@pytest.mark.django_db
def test_the_file_page_shows_its_totals_its_debits_and_their_returns(staff, story):
    page = page_of(staff, "admin:sepa_debitfile_change", story["file"].pk)

    for shown in ("ENC-20260310-0001", "pain.008.001.02", "CORE", "50.40"):
        assert shown in page
    debits = section(page, "file-debits")
    assert "ENC7T1" in debits
    assert "Rejected by the bank" in debits
    assert "Insufficient funds" in debits
    assert reverse("staff:debit_file_download", args=[story["file"].pk]) in page


@pytest.mark.django_db
def test_download_gives_the_frozen_xml_under_its_message_id(staff, story):
    response = staff.get(reverse("staff:debit_file_download", args=[story["file"].pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert 'filename="ENC-20260310-0001.xml"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == XML


@pytest.mark.django_db
def test_the_bank_file_page_reports_applied_known_and_unmatched(staff, story):
    page = page_of(staff, "admin:sepa_bankfile_change", story["bank_file"].pk)

    applied = section(page, "report-applied")
    assert "AM04 – Insufficient funds" in applied
    assert "AM04 – AM04" not in applied
    assert "ENC9T1" in section(page, "report-known")
    assert "NOT-OURS" in section(page, "report-unmatched")


@pytest.mark.django_db
def test_lists_of_debits_r_transactions_and_bank_accounts_render_with_labels_and_masked_ibans(staff, story):
    assert "ENC7T1" in page_of(staff, "admin:sepa_directdebit_changelist", status="rejected")
    r_list = page_of(staff, "admin:sepa_rtransaction_changelist")
    assert "AM04 – Insufficient funds" in r_list
    accounts = page_of(staff, "admin:sepa_creditoraccount_changelist")
    assert "FR76 •••• 0189" in accounts
    assert IBAN not in accounts
    page_of(staff, "admin:sepa_directdebit_change", story["debit"].pk)
    page_of(staff, "admin:sepa_rtransaction_change", story["r"].pk)
    page_of(staff, "admin:sepa_creditoraccount_change", story["creditor"].pk)


@pytest.mark.django_db
def test_the_invoice_page_tells_the_whole_collection_story_and_keeps_its_transactions(staff, story):
    page = page_of(staff, "admin:invoicing_invoice_change", story["invoice"].pk)

    collections = section(page, "collections")
    assert "SEPA direct debit" in collections
    assert "Waiting for a retry" in collections
    debits = section(page, "direct-debits")
    assert "ENC7T1" in debits
    assert "ENC-20260310-0001" in debits
    rejects = section(page, "r-transactions")
    assert "AM04 – Insufficient funds" in rejects
    assert "3.50" in rejects
    assert 'id="transactions"' in page


@pytest.mark.django_db
def test_an_invoice_never_collected_has_no_collection_section(staff, org, customer, clerk):
    invoice = posted(org, customer, clerk)

    assert 'id="collection"' not in page_of(staff, "admin:invoicing_invoice_change", invoice.pk)


@pytest.mark.django_db
def test_another_organisations_runs_files_and_answers_are_404(staff, other_org, other_customer, other_clerk,
                                                              media_in_tmp):
    theirs = sepa_story(other_org, other_customer, other_clerk)

    for name, pk in [("admin:collection_collectionrun_change", theirs["run"].pk),
                     ("admin:collection_collection_change", theirs["collection"].pk),
                     ("admin:sepa_debitfile_change", theirs["file"].pk),
                     ("admin:sepa_directdebit_change", theirs["debit"].pk),
                     ("admin:sepa_bankfile_change", theirs["bank_file"].pk),
                     ("admin:sepa_rtransaction_change", theirs["r"].pk),
                     ("admin:sepa_creditoraccount_change", theirs["creditor"].pk),
                     ("staff:debit_file_download", theirs["file"].pk),
                     ("staff:mandate_change_account", theirs["mandate"].pk)]:
        assert staff.get(reverse(name, args=[pk])).status_code == 404, name
    assert "ENC7T1" not in page_of(staff, "admin:sepa_directdebit_changelist")
    assert "ENC-20260310-0001" not in page_of(staff, "admin:sepa_debitfile_changelist")


@pytest.mark.django_db
def test_staff_pages_of_collection_render_with_their_forms(staff, org):
    for name in ("staff:collection_run", "staff:debits_export", "staff:bank_import"):
        page = page_of(staff, name)
        assert "csrfmiddlewaretoken" in page, name
    assert reverse("staff:bank_import") in page_of(staff, "admin:index")


@pytest.mark.django_db
def test_a_real_run_needs_the_confirmation_and_runs_nothing_without_it(staff, org):
    response = staff.post(reverse("staff:collection_run"), {"organisation": org.pk, "on": "2026-03-01"})

    assert response.status_code == 200
    assert "Tick this box to run for real" in response.content.decode()
    assert not CollectionRun.objects.exists()


# --- policies ---------------------------------------------------------------------------------------------------


def policy_form(org, **changes) -> dict:
    data = {"organisation": org.pk, "invoice_type": "", "active": "on", "start": "due_date", "days_after_issue": 0,
            "minimum_amount": "1.00", "use_cards": "on", "use_direct_debit": "on", "prenotification_days": 14,
            "card_retry_days": "3, 7, 14", "max_card_attempts": 4, "represent_insufficient_funds": "on",
            "send_pay_link_on_failure": "on"}
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_policy_is_saved_with_its_retry_days_and_minimum_and_audited(staff, org):
    response = staff.post(reverse("admin:collection_collectionpolicy_add"),
                          policy_form(org, card_retry_days="2, 5", minimum_amount="5.50"))

    assert response.status_code == 302
    policy = CollectionPolicy.objects.get(organisation=org)
    assert (policy.card_retry_days, policy.minimum_amount_minor, policy.invoice_type_id) == ([2, 5], 550, None)
    page = page_of(staff, "admin:collection_collectionpolicy_change", policy.pk)
    assert 'value="2, 5"' in page
    assert "audit-trail" in page
    assert "created" in section(page, "audit-trail")


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "error"), [
    ({"card_retry_days": "7, 3"}, "increasing order"),
    ({"card_retry_days": "3, 3"}, "increasing order"),
    ({"card_retry_days": "0, 3"}, "positive number of days"),
    ({"card_retry_days": "3, soon"}, "is not a number of days"),
    ({"max_card_attempts": 0}, "At least one attempt"),
])
def test_a_policy_with_bad_retries_is_refused_and_nothing_saved(staff, org, changes, error):
    response = staff.post(reverse("admin:collection_collectionpolicy_add"), policy_form(org, **changes))

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not CollectionPolicy.objects.exists()


# --- the direct-debit bank account ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_managers_edit_the_bank_account_and_only_a_bank_account_of_the_ledger_is_offered(staff, org, clerk):
    page = page_of(staff, "admin:sepa_creditoraccount_add")
    bank = account_of_kind(org, Account.Kind.BANK)
    revenue = org.accounts.get(code="706")
    assert f'value="{bank.pk}"' in page
    assert f'value="{revenue.pk}"' not in page

    response = staff.post(reverse("admin:sepa_creditoraccount_add"), {
        "organisation": org.pk, "name": "Compte", "iban": "fr76 3000 6000 0112 3456 7890 189", "bic": "",
        "schema": "pain.008.001.02", "lead_days": 1, "bank_account": bank.pk, "active": "on"})
    assert response.status_code == 302
    account = CreditorAccount.objects.get(organisation=org)
    assert account.iban == IBAN

    Membership.objects.filter(user=clerk, organisation=org).update(role=Membership.Role.CLERK)
    assert staff.get(reverse("admin:sepa_creditoraccount_add")).status_code == 403
    staff.post(reverse("admin:sepa_creditoraccount_change", args=[account.pk]), {
        "name": "Renamed", "iban": IBAN, "bic": "", "schema": "pain.008.001.02", "lead_days": 1,
        "bank_account": bank.pk, "active": "on"})
    assert CreditorAccount.objects.get(pk=account.pk).name == "Compte"


@pytest.mark.django_db
def test_the_mandate_page_links_to_changing_its_iban_which_is_no_longer_edited_in_place(staff, org, customer):
    mandate = Mandate.objects.create(organisation=org, customer=customer, reference="UMR-1", iban=IBAN,
                                     signed_on=date(2026, 1, 5))

    page = page_of(staff, "admin:sepa_mandate_change", mandate.pk)
    assert reverse("staff:mandate_change_account", args=[mandate.pk]) in page
    assert 'name="iban"' not in page
    assert 'name="iban"' in page_of(staff, "staff:mandate_change_account", mandate.pk)


# --- pages that list rows read them in a fixed number of queries ------------------------------------------------


def queries_of(staff, url: str) -> int:
    staff.get(url)  # warm: the session and the admin's own lookups
    with CaptureQueriesContext(connection) as done:
        assert staff.get(url).status_code == 200, url
    return len(done)


@pytest.mark.django_db
def test_collection_pages_take_no_more_queries_when_their_lists_grow(staff, org, customer, clerk, media_in_tmp,
                                                                     django_assert_max_num_queries):
    first = sepa_story(org, customer, clerk)
    urls = [reverse(f"admin:{name}") for name in (
        "collection_collection_changelist", "collection_collectionrun_changelist", "sepa_debitfile_changelist",
        "sepa_directdebit_changelist", "sepa_bankfile_changelist", "sepa_rtransaction_changelist")] + [
        reverse("admin:collection_collectionrun_change", args=[first["run"].pk]),
        reverse("admin:sepa_debitfile_change", args=[first["file"].pk]),
        reverse("admin:sepa_bankfile_change", args=[first["bank_file"].pk]),
        reverse("admin:invoicing_invoice_change", args=[first["invoice"].pk]),
    ]
    with_one = {url: queries_of(staff, url) for url in urls}

    for n in range(2, 6):
        other = Customer.objects.create(organisation=org, ref=f"C00{n}", name=f"Client {n}")
        story = sepa_story(org, other, clerk, n=n)
        # Their lines join the first run, file and bank file; their collections the first invoice (closed ones).
        RunItem.objects.filter(run=story["run"]).update(run=first["run"])
        DirectDebit.objects.filter(pk=story["debit"].pk).update(file=first["file"])
        RTransaction.objects.filter(pk=story["r"].pk).update(bank_file=first["bank_file"])
        Collection.objects.filter(pk=story["collection"].pk).update(
            invoice=first["invoice"], line=first["invoice"].receivable_line, status=Collection.Status.FAILED)

    for url in urls:
        staff.get(url)
        with django_assert_max_num_queries(with_one[url], info=url):
            staff.get(url)
