"""core.bulk writes a batch of rows as one unit, inside or outside the caller's transaction (tried on parties'
tags: core has no table with a unique constraint of its own)."""

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from encaisse.core.bulk import column_in, insert_returning, insert_rows, update_rows
from encaisse.core.models import AuditEvent
from encaisse.parties.models import Organisation, Tag


def names(organisation):
    return sorted(Tag.objects.filter(organisation=organisation).values_list("name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_batch_outside_any_transaction_is_written_whole_or_not_at_all():
    organisation = Organisation.objects.create(name="Bulk", slug="bulk")
    Tag.objects.create(organisation=organisation, name="c")

    # In autocommit, SQLite would commit "a" and "b" on their own before "c" fails.
    with pytest.raises(IntegrityError):
        insert_rows(Tag, ("organisation", "name"), [(organisation.pk, "a"), (organisation.pk, "b"),
                                                   (organisation.pk, "c")])
    assert names(organisation) == ["c"]

    insert_rows(Tag, ("organisation", "name"), [(organisation.pk, "a"), (organisation.pk, "b")])
    assert names(organisation) == ["a", "b", "c"]


@pytest.mark.django_db(transaction=True)
def test_an_update_batch_outside_any_transaction_is_written_whole_or_not_at_all():
    organisation = Organisation.objects.create(name="Bulk", slug="bulk")
    one = Tag.objects.create(organisation=organisation, name="one")
    two = Tag.objects.create(organisation=organisation, name="two")

    with pytest.raises(IntegrityError):  # the second row takes the first's new name: both are undone
        update_rows(Tag, ["name"], [("same", one.pk), ("same", two.pk)])
    assert names(organisation) == ["one", "two"]


@pytest.mark.django_db
def test_inside_a_transaction_the_rows_belong_to_it():
    organisation = Organisation.objects.create(name="Bulk", slug="bulk")

    def caller_failing_afterwards():
        with transaction.atomic():
            insert_rows(Tag, ("organisation", "name"), [(organisation.pk, "a")])
            raise RuntimeError("the caller fails afterwards")

    with pytest.raises(RuntimeError):
        caller_failing_afterwards()
    assert names(organisation) == []


@pytest.mark.django_db
def test_column_in_reads_the_rows_of_the_values_given():
    organisation = Organisation.objects.create(name="Bulk", slug="bulk")
    tags = {name: Tag.objects.create(organisation=organisation, name=name).pk for name in ("a", "b", "c")}

    picked = Tag.objects.filter(column_in(Tag, "id", [tags["a"], tags["c"]])).values_list("name", flat=True)
    assert sorted(picked) == ["a", "c"]
    assert sorted(Tag.objects.filter(column_in(Tag, "name", ["b", "z"])).values_list("name", flat=True)) == ["b"]
    assert not Tag.objects.filter(column_in(Tag, "id", [])).exists()


@pytest.mark.django_db
def test_values_equal_across_types_are_converted_each_as_itself():
    # 1 == True == 1.0 and (1,) == (True,), each hashing alike: a cache keyed by value alone wrote the first one's
    # JSON for the others.
    tag_type = ContentType.objects.get_for_model(Tag)
    at = timezone.now()
    insert_rows(AuditEvent, ("content_type", "object_id", "verb", "origin", "at", "data"),
                [(tag_type.pk, str(n), "bulk_test", "test", at, value)
                 for n, value in enumerate([1, True, 1.0, (1,), (True,)])])

    data = dict(AuditEvent.objects.filter(verb="bulk_test").values_list("object_id", "data"))
    assert [(data[str(n)], type(data[str(n)])) for n in range(5)] == [(1, int), (True, bool), (1.0, float),
                                                                      ([1], list), ([True], list)]


@pytest.mark.django_db
def test_values_equal_yet_unlike_are_each_written_as_they_are():
    # 0.0 == -0.0 and they hash alike: a dict by value wrote the first one's JSON for the other (SQLite keeps the
    # sign in a JSON column; PostgreSQL's jsonb has no negative zero, so both read 0.0 there).
    tag_type = ContentType.objects.get_for_model(Tag)
    at = timezone.now()
    insert_rows(AuditEvent, ("content_type", "object_id", "verb", "origin", "at", "data"),
                [(tag_type.pk, str(n), "bulk_test", "test", at, value) for n, value in enumerate([0.0, -0.0, 0.0])])

    data = dict(AuditEvent.objects.filter(verb="bulk_test").values_list("object_id", "data"))
    signs = [math.copysign(1, data[str(n)]) for n in range(3)]
    assert signs == ([1, 1, 1] if connection.vendor == "postgresql" else [1, -1, 1])


@pytest.mark.django_db
def test_one_instant_in_two_time_zones_is_one_value_in_a_datetime_column():
    # A datetime column keeps the instant, so equal datetimes share one conversion; the zone they were given in is
    # not lost where it matters, and distinct instants stay distinct.
    tag_type = ContentType.objects.get_for_model(Tag)
    utc = datetime(2026, 3, 16, 8, 30, tzinfo=UTC)
    paris = utc.astimezone(ZoneInfo("Europe/Paris"))
    later = utc + timedelta(microseconds=1)
    insert_rows(AuditEvent, ("content_type", "object_id", "verb", "origin", "at", "data"),
                [(tag_type.pk, str(n), "bulk_test", "test", at, {}) for n, at in enumerate([utc, paris, later, paris])])

    at = dict(AuditEvent.objects.filter(verb="bulk_test").values_list("object_id", "at"))
    assert [at[str(n)] for n in range(4)] == [utc, utc, later, utc]
    assert at["2"] - at["0"] == timedelta(microseconds=1)


@pytest.mark.django_db
def test_insert_returning_gives_each_row_its_own_id_in_the_order_of_the_rows():
    organisation = Organisation.objects.create(name="Bulk", slug="bulk")
    names = [f"tag {n:02d}" for n in range(40, 0, -1)]  # not in the order an index on the name would give

    ids = insert_returning(Tag, ("organisation", "name"), [(organisation.pk, name) for name in names])

    tags = Tag.objects.in_bulk(ids)
    assert [tags[pk].name for pk in ids] == names
