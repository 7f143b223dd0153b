"""A read compiled once gives what its queryset gives, for every set of arguments, and refuses a marker it lost."""

from datetime import date

import pytest
from django.core.exceptions import ImproperlyConfigured

from encaisse.ledger.models import Account, EntryLine
from encaisse.ledger.prepared import Prepared
from encaisse.ledger.tests.test_services import invoice_like
from encaisse.parties.models import Customer

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
