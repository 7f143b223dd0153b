"""A read compiled once gives what its queryset gives, for every set of arguments, and refuses what it cannot run.

Every read the ledger compiles once is compared with its queryset here, on
SQLite and on PostgreSQL: a new one must be added to READS.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.transaction import TransactionManagementError

from encaisse.core.money import Money
from encaisse.core.prepared import Prepared
from encaisse.ledger import selectors, services
from encaisse.ledger.models import Account, Entry, EntryLine, Journal
from encaisse.ledger.services import create_default_chart, settle
from encaisse.ledger.tests.test_services import MARCH_1, invoice_like, payment, receivable
from encaisse.parties.models import Customer, Organisation

pytestmark = pytest.mark.django_db


def lines_due_by(party_id: int, day: date):
    return (EntryLine.objects.filter(party_id=party_id, due_on__lte=day).order_by("pk")
            .values_list("pk", "due_on", "debit_minor", "currency"))


def test_a_prepared_read_returns_what_its_queryset_returns_whatever_the_arguments(org, customer):
    neighbour = Customer.objects.create(organisation=org, ref="C002", name="Paul Durand")
    invoice_like(org, customer, "120.00", key="a")
    invoice_like(org, neighbour, "30.00", key="b")
    read = Prepared(lines_due_by, party_id=-2_000_000_001, day=date(1, 1, 2))

    for party in (customer, neighbour):
        for day in (date(2026, 2, 28), date(2026, 3, 1)):
            assert read.rows(party_id=party.pk, day=day) == list(lines_due_by(party.pk, day))
    (row,) = read.rows(party_id=customer.pk, day=date(2026, 3, 1))
    assert row[1:] == (date(2026, 3, 1), 12000, "EUR")  # a date, as the ORM converts it, on SQLite too


def test_a_marker_the_compiled_query_does_not_carry_as_it_is_is_refused(org):
    # "contains" sends %marker% to the database: the argument could not take the marker's place.
    read = Prepared(lambda code: Account.objects.filter(organisation=org, code__contains=code).values_list("pk"),
                    code="\x00marker\x00")

    with pytest.raises(ImproperlyConfigured, match="code"):
        read.rows(code="41")


def debit_lines_of_at_least(least: int):
    """Lines with nothing on the credit side (the query's own 0) and at least `least` on the debit side."""
    return EntryLine.objects.filter(credit_minor=0, debit_minor__gte=least).order_by("pk").values_list("pk")


def test_a_literal_of_the_query_equal_to_a_marker_is_left_alone(org, customer):
    # The marker 0 stands for `least`; the query's own 0 must stay 0 whatever `least` is. On PostgreSQL a
    # BigIntegerField's value goes to the driver as an Int8, where the marker is found too.
    invoice_like(org, customer, "120.00", key="a")
    invoice_like(org, customer, "0.50", key="b")
    read = Prepared(debit_lines_of_at_least, least=0)

    for least in (0, 100, 50_000):
        assert read.rows(least=least) == list(debit_lines_of_at_least(least))
    assert len(read.rows(least=0)) == 2
    assert len(read.rows(least=100)) == 1  # 120.00, not 0.50


def entries_posted_by(moment: datetime):
    return Entry.objects.filter(posted_at__lte=moment).order_by("pk").values_list("pk", "posted_at")


def test_an_aware_datetime_is_sent_and_read_back_as_the_orm_does(org, customer, settings):
    settings.TIME_ZONE = "Europe/Paris"  # SQLite stores UTC: the argument is converted on the way in
    invoice_like(org, customer)
    posted_at = Entry.objects.get().posted_at
    read = Prepared(entries_posted_by, moment=datetime(1, 1, 2, tzinfo=UTC))

    for moment in (posted_at, posted_at - timedelta(microseconds=1), posted_at.astimezone(UTC) + timedelta(hours=1)):
        assert read.rows(moment=moment) == list(entries_posted_by(moment))
    assert read.rows(moment=posted_at) == [(Entry.objects.get().pk, posted_at)]
    assert read.rows(moment=posted_at - timedelta(microseconds=1)) == []
    with pytest.raises(ValueError, match="naive"):  # the ORM would read it in the current time zone
        read.rows(moment=datetime(2026, 3, 1, 12))


def test_an_argument_of_none_or_of_another_kind_is_refused(org, customer):
    # The ORM writes IS NULL for None: "= NULL" would find nothing where it finds the lines without a party.
    read = Prepared(lambda party_id: EntryLine.objects.filter(party_id=party_id).values_list("pk"),
                    party_id=-2_000_000_001)

    with pytest.raises(TypeError):
        read.rows(party_id=None)
    with pytest.raises(TypeError):
        read.rows(party_id=str(customer.pk))
    with pytest.raises(TypeError):
        read.rows(party=customer.pk)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_read_under_lock_is_refused_outside_a_transaction_as_the_orm_refuses_it(org):
    read = Prepared(lambda organisation_id: Account.objects.select_for_update()
                    .filter(organisation_id=organisation_id).values_list("pk"), organisation_id=-2_000_000_001)
    with transaction.atomic():
        assert read.rows(organisation_id=org.pk)  # compiled here, inside a transaction

    with pytest.raises(TransactionManagementError, match="outside of a transaction"):
        read.rows(organisation_id=org.pk)  # the lock would be released at once


# --- every read the ledger compiles once, against its queryset ------------------------------------------------------


def _ledger(org, customer):
    """An invoice half paid and settled, a neighbour's invoice, another organisation: rows to find and to miss."""
    neighbour = Customer.objects.create(organisation=org, ref="C002", name="Paul Durand")
    invoice = receivable(invoice_like(org, customer, "120.00", key="inv"))
    paid = receivable(payment(org, customer, "50.00", key="pay"))
    settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="pay:settle")
    other_invoice = receivable(invoice_like(org, neighbour, "30.00", key="inv2"))
    other = Organisation.objects.create(name="Autre", slug="autre")
    create_default_chart(other)
    return neighbour, invoice, paid, other_invoice, other


def _kinds(*kinds: str) -> dict[str, str]:
    """accounts_of_kinds' arguments: its six slots, the ones left over repeating the first kind."""
    return selectors._kind_slots(sorted(kinds))


def _cases(org, customer):
    neighbour, invoice, paid, other_invoice, other = _ledger(org, customer)
    missing = 10**9
    return {
        "services._PERIOD_STATE": [{"organisation_id": o.pk, "day": day} for o in (org, other)
                                   for day in (MARCH_1, date(2026, 12, 31), date(2031, 1, 1))],
        "services._ENTRY_UNDER_KEY": [{"organisation_id": o.pk, "key": key} for o in (org, other)
                                      for key in ("inv", "pay", "nothing")],
        "services._LOCKED_HEAD": [{"organisation_id": o.pk} for o in (org, other)] + [{"organisation_id": missing}],
        "services._LOCKED_LINES": [{"first": invoice.pk, "second": paid.pk}, {"first": paid.pk, "second": paid.pk},
                                   {"first": other_invoice.pk, "second": missing}],
        "services._SETTLED": [{"organisation_id": o.pk, "key": key, "debit": debit, "credit": credit}
                              for o in (org, other) for key in ("pay:settle", "nothing")
                              for debit, credit in ((invoice.pk, paid.pk), (other_invoice.pk, paid.pk),
                                                    (missing, missing))],
        "services._JOURNAL_OF_KIND": [{"organisation_id": o.pk, "kind": kind} for o in (org, other)
                                      for kind in (Journal.Kind.BANK, Journal.Kind.SALES, "nothing")],
        "selectors._OPEN_LINE": [{"customer_id": who.pk, "line_id": line.pk} for who in (customer, neighbour)
                                 for line in (invoice, paid, other_invoice)],
        "selectors._ACCOUNTS_OF_KINDS": [
            dict(organisation_id=o.pk, **_kinds(*kinds)) for o in (org, other) for kinds in (
                (Account.Kind.RECEIVABLE,), (Account.Kind.RECEIVABLE, Account.Kind.ADVANCE, Account.Kind.BANK),
                tuple(Account.Kind)[:6], ("nothing",))],
    }


def test_every_read_the_ledger_compiles_once_returns_what_its_queryset_returns(org, customer):
    cases = _cases(org, customer)
    reads = {f"{module.__name__.rpartition('.')[2]}.{name}": read for module in (services, selectors)
             for name, read in vars(module).items() if isinstance(read, Prepared)}
    assert reads.keys() == cases.keys()  # a new read is compared here too

    found = 0
    for name, read in reads.items():
        for arguments in cases[name]:
            rows = read.rows(**arguments)
            assert rows == list(read.queryset(**arguments)), (name, arguments)
            found += bool(rows)
    assert found > len(cases)  # most cases find something: the comparison is not of empty lists


def test_the_reads_of_booking_a_payment_compiled_once_find_what_it_needs(org, customer):
    neighbour, invoice, paid, _other_invoice, _other = _ledger(org, customer)

    (state,) = services._PERIOD_STATE.rows(organisation_id=org.pk, day=MARCH_1)
    assert state == ("open",)
    ((existing, on_debit, on_credit),) = services._SETTLED.rows(organisation_id=org.pk, key="pay:settle",
                                                                debit=invoice.pk, credit=paid.pk)
    assert (on_debit, on_credit) == (5000, 5000)
    assert existing is not None
    assert selectors.open_debit_lines(customer, [invoice.pk])[0][1] == Money.of("70.00", "EUR")
    assert selectors.open_debit_lines(neighbour, [invoice.pk]) == []  # another customer's line is not found
    assert services.journal_of_kind(org, Journal.Kind.BANK).code == "BQ"
