"""core.bulk writes a batch of rows as one unit, inside or outside the caller's transaction (tried on parties'
tags: core has no table with a unique constraint of its own)."""

import pytest
from django.db import IntegrityError, transaction

from encaisse.core.bulk import column_in, insert_rows, update_rows
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
