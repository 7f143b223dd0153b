"""Many rows in one prepared statement: for batch posting, where the ORM's per-row cost dominates.

`bulk_create` and `bulk_update` build one big statement with a CASE per row and
field; posting 100,000 invoices spent most of its time there. These helpers
prepare one INSERT or UPDATE and run it with executemany, converting only the
values whose field needs it (dates, datetimes, JSON). They bypass model
save(): callers are the services that own the invariants of those rows.
"""

from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.db import connections, models, router, transaction
from django.db.models.expressions import RawSQL

# Values of these fields go to the driver as they are.
_RAW = {"AutoField", "BigAutoField", "BigIntegerField", "IntegerField", "PositiveIntegerField",
        "PositiveSmallIntegerField", "SmallIntegerField", "CharField", "TextField", "ForeignKey",
        "OneToOneField", "SlugField", "EmailField", "BooleanField"}


_BY_IDENTITY = object()  # marks cache keys by identity: no real value can equal them
_CONTAINERS = frozenset({tuple, frozenset})  # hashable, yet equal to another holding values of other types
# Types whose equal values are written alike. Others may be equal yet differ: Decimal("1.0") and Decimal("1.00"),
# 0.0 and -0.0, one instant in two time zones; a JSON or text column keeps the difference. Those are keyed by
# their repr as well.
_EXACT = frozenset({str, int, bool, date, UUID, type(None)})
# A datetime column stores the instant (in UTC on SQLite, as timestamptz on PostgreSQL): equal datetimes, even in
# two time zones, are written alike there, though not in a JSON or text column.
_EXACT_INSTANTS = _EXACT | {datetime}


def _prepared(model: type[models.Model], names: tuple[str, ...] | list[str], rows: list[tuple], connection: Any
              ) -> list[tuple]:
    """The rows with each value as the driver takes it, converted column by column (a batch of 100,000 repeats a
    few dates: each distinct value is converted once)."""
    fields = [model._meta.get_field(name) for name in names]
    # A foreign key goes as it is when the key it points to does (an integer id; not a UUID).
    converted = [i for i, f in enumerate(fields)
                 if (f.target_field if f.is_relation else f).get_internal_type() not in _RAW]
    if not converted:
        return rows
    columns = list(zip(*rows, strict=True))
    for i in converted:
        columns[i] = _converted(fields[i], columns[i], connection)
    return list(zip(*columns, strict=True))


def _converted(field: models.Field, values: tuple, connection: Any) -> list[Any]:
    kinds = set(map(type, values))
    exact = _EXACT_INSTANTS if field.get_internal_type() == "DateTimeField" else _EXACT
    if len(kinds) == 1 and kinds <= exact:
        # One type whose equal values are alike, and hashable: a dict by value does (1, True and 1.0 never meet).
        by_value = {value: field.get_db_prep_save(value, connection) for value in set(values)}
        return list(map(by_value.__getitem__, values))
    # Mixed types, tuples, unhashable values or values equal yet unlike: keyed by type and value (and repr, unless
    # the type is exact), tuples and unhashable values by identity (safe while every value stays alive in `values`
    # during the call).
    cache: dict[Any, Any] = {}
    out = []
    for value in values:
        cls = value.__class__
        key = ((_BY_IDENTITY, id(value)) if cls in _CONTAINERS else (cls, value) if cls in exact
               else (cls, value, repr(value)))
        try:
            out.append(cache[key])
        except KeyError:
            out.append(cache.setdefault(key, field.get_db_prep_save(value, connection)))
        except TypeError:
            key = (_BY_IDENTITY, id(value))
            if key not in cache:
                cache[key] = field.get_db_prep_save(value, connection)
            out.append(cache[key])
    return out


def insert_rows(model: type[models.Model], names: tuple[str, ...] | list[str], rows: list[tuple]) -> None:
    """INSERT rows given as tuples of values in the order of `names` (attnames' fields)."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
    with _one_transaction(connection), connection.cursor() as cursor:
        cursor.executemany(sql, _prepared(model, names, rows, connection))


def insert_returning(model: type[models.Model], names: tuple[str, ...] | list[str], rows: list[tuple]) -> list[int]:
    """INSERT a few rows in one statement and return their ids, in the order of `rows`.

    Both databases insert the rows of a multi-row VALUES in order, and the id
    each row gets (SQLite's rowid, max + 1; a PostgreSQL sequence's next
    value) grows with every row inserted. The order RETURNING emits them in
    is another matter, which SQLite's documentation calls arbitrary (Django's
    bulk_create takes it as the VALUES order): the ids are sorted, so the
    first row gets the smallest whatever that order. The caller checks the
    connection's can_return_rows_from_bulk_insert (PostgreSQL; SQLite from
    3.35).
    """
    if not rows:
        return []
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    one_row = f"({', '.join(['%s'] * len(names))})"
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([one_row] * len(rows))} "
           f"RETURNING {quote(model._meta.pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in _prepared(model, names, rows, connection) for value in row])
        return sorted(pk for (pk,) in cursor.fetchall())


def update_rows(model: type[models.Model], names: list[str], rows: list[tuple], *, where: dict[str, Any] | None = None
                ) -> int:
    """UPDATE `names` of rows given as (value, ..., pk); return how many rows changed.

    `where` adds equality conditions (e.g. status="validated") so that only rows
    still in the expected state are written; the caller compares the count.
    """
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(model._meta.get_field(name).column)} = %s" for name in names)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    extra = list((where or {}).items())
    for column, _value in extra:
        sql += f" AND {quote(model._meta.get_field(column).column)} = %s"
    params = _prepared(model, [*names, model._meta.pk.name], rows, connection)
    if extra:
        conditions = tuple(value for _c, value in extra)
        params = [(*values, *conditions) for values in params]
    with _one_transaction(connection), connection.cursor() as cursor:
        cursor.executemany(sql, params)
        return cursor.rowcount


def _one_transaction(connection: Any) -> Any:
    """All rows in one transaction. In autocommit, SQLite commits each row of an executemany on its own (20,000
    run lines took 2.7 s instead of 0.36 s), and a failure halfway would leave half the rows."""
    return nullcontext() if connection.in_atomic_block else transaction.atomic(using=connection.alias)


def column_in(model: type[models.Model], name: str, values: list[int] | list[str]) -> RawSQL:
    """A filter `name IN values` for a queryset of `model`, the values passed to the driver as they are.

    For batch paths reading thousands of rows by id or key: Django prepares
    each value of `name__in` through its field (about 5 µs per value, more
    than the query itself). Only for plain ints and strings; the caller keeps
    each list within the databases' parameter limits (a few thousand).
    """
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    column = f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(name).column)}"
    if not values:
        return RawSQL("1 = 0", (), output_field=models.BooleanField())
    return RawSQL(f"{column} IN ({', '.join(['%s'] * len(values))})", tuple(values),
                  output_field=models.BooleanField())


def in_chunks(values: list, size: int = 5000) -> Iterator[list]:
    """Slices of `values` short enough for one IN (...) list on SQLite and PostgreSQL."""
    for start in range(0, len(values), size):
        yield values[start:start + size]
