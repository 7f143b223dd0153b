"""The customer's account statement and the balances overview of all customers."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Account, EntryLine, Journal
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entry, settle
from encaisse.parties.models import Customer, Membership

NBSP, NNBSP = "\xa0", "\u202f"  # babel's fr_FR: no-break space before €, narrow one between thousands


def pay(org, customer, amount: str, on, key: str) -> EntryLine:
    """A bank transfer received from the customer: debit 512, credit the customer's 411."""
    money = Money.of(amount, org.currency)
    zero = Money.zero(org.currency)
    entry = post_entry(org, EntryDraft(
        journal=journal_of_kind(org, Journal.Kind.BANK), date=on, label=f"Virement {customer.name}",
        lines=(LineDraft(account=account_of_kind(org, Account.Kind.BANK), debit=money, credit=zero),
               LineDraft(account=account_of_kind(org, Account.Kind.RECEIVABLE), debit=zero, credit=money,
                         party=customer)),
    ), idempotency_key=key)
    return entry.lines.get(party=customer)


@pytest.fixture
def history(org, customer):
    """Jeanne: 1 200.00 invoiced 60 days ago (due 30 days ago), 245.50 paid 40 days ago, 24.00 invoiced today."""
    today = timezone.localdate()
    old = draft_invoice(org, customer, ("Nettoyage annuel", "1", "1000.00"), status=Invoice.Status.VALIDATED,
                        issued_on=today - timedelta(days=60))
    post_invoice(invoice_id=old.pk, today=today)
    payment = pay(org, customer, "245.50", today - timedelta(days=40), "test:transfer:1")
    old.refresh_from_db()
    settle(debit_line_id=old.receivable_line_id, credit_line_id=payment.pk, idempotency_key="test:settle:1")
    new = draft_invoice(org, customer, ("Repassage", "2", "10.00"), status=Invoice.Status.VALIDATED,
                        issued_on=today)
    post_invoice(invoice_id=new.pk, today=today)
    Customer.objects.create(organisation=org, ref="C002", name="Bob Durand")
    return today


@pytest.mark.django_db
def test_the_statement_shows_every_line_with_the_running_balance(client, clerk, customer, history):
    client.force_login(clerk)  # French, the organisation's language

    page = client.get(reverse("staff:customer_statement", args=[customer.pk])).content.decode()

    # 1 000.00 + VAT 20 % = 1 200.00; − 245.50 = 954.50; + 2 × 10.00 + VAT 4.00 = 24.00 → 978.50.
    amounts = [f"1{NNBSP}200,00{NBSP}€", f"245,50{NBSP}€", f"954,50{NBSP}€", f"24,00{NBSP}€",
               f"978,50{NBSP}€"]
    table = page[page.index('id="statement"'):]
    positions = [table.index(amount) for amount in amounts]
    assert positions == sorted(positions)
    assert f'id="statement-balance">978,50{NBSP}€<' in page


@pytest.mark.django_db
def test_the_customer_page_links_to_the_statement_and_shows_the_balance(staff, customer, history):
    page = staff.get(reverse("admin:parties_customer_change", args=[customer.pk])).content.decode()

    assert reverse("staff:customer_statement", args=[customer.pk]) in page
    assert "€978.50" in page


@pytest.mark.django_db
def test_the_balances_export_has_decimal_amounts(staff, org, customer, history):
    response = staff.get(reverse("staff:balances"), {"format": "csv"})

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    last_payment = (history - timedelta(days=40)).isoformat()
    assert rows == [
        ["ref", "name", "balance", "overdue", "currency", "last_payment_on"],
        ["C002", "Bob Durand", "0.00", "0.00", "EUR", ""],
        # Overdue: the old invoice, 1 200.00 − 245.50 settled = 954.50; today's 24.00 is not due yet.
        ["C001", "Jeanne Martin", "978.50", "954.50", "EUR", last_payment],
    ]


@pytest.mark.django_db
def test_the_balances_overview_sorts_by_any_column(staff, org, customer, history):
    highest_first = staff.get(reverse("staff:balances"), {"o": "-balance"}).content.decode()
    lowest_first = staff.get(reverse("staff:balances"), {"o": "balance", "format": "csv"}).content.decode()

    assert highest_first.index("Jeanne Martin") < highest_first.index("Bob Durand")
    assert "€954.50" in highest_first
    assert lowest_first.index("Bob Durand") < lowest_first.index("Jeanne Martin")


@pytest.mark.django_db
def test_staff_of_several_organisations_choose_one_for_the_balances(staff, clerk, customer, other_org,
                                                                     other_customer):
    Membership.objects.create(organisation=other_org, user=clerk)

    picker = staff.get(reverse("staff:balances")).content.decode()
    bourg = staff.get(reverse("staff:balances"), {"org": "bourg"}).content.decode()

    assert "?org=pressing" in picker
    assert "?org=bourg" in picker
    assert "Paul Secret" in bourg
    assert "Jeanne Martin" not in bourg


@pytest.mark.django_db
def test_the_balances_page_answers_in_french_by_default(client, clerk, customer, history):
    client.force_login(clerk)
    assert settings.LANGUAGE_CODE == "fr"

    page = client.get(reverse("staff:balances")).content.decode()

    assert f"978,50{NBSP}€" in page
