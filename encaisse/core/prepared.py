"""Small reads compiled once: for the queries a service makes again and again with other values.

Django compiles a queryset to SQL each time it runs it. For the small reads
that booking one card charge makes (the chain's head under its lock, the
period, what is still open on a line, the settlements of two lines) compiling
costs about ten times what the database spends answering (measured on SQLite:
200 to 800 µs against 20 to 60 µs), and a collection run books thousands of
charges one after another.

A Prepared read is written as an ordinary values_list() queryset, built by a
function of its arguments. It is built with marker values standing for the
arguments and compiled once per connection object (Django's wrapper: one per
thread, which outlives the database connections that CONN_MAX_AGE closes and
opens again, and the test database's rename); each run puts the arguments where
the markers are among the compiled parameters, adapted as the ORM adapts them
(an integer field's wrapper type on PostgreSQL, dates and aware datetimes as the
backend takes them, SQLite's in UTC), and applies the converters the queryset
itself would, so it returns the rows list(queryset) would, as tuples.

Markers are ints, strings, dates or aware datetimes. The query is compiled
twice, with the markers and with other values of the same kinds: the parameters
that change are the arguments' places, so a literal of the query that happens
to equal a marker (a status, a 0) is left alone. Compiling refuses
(ImproperlyConfigured) a query whose SQL changes with the values (an IN list
that drops a repeated one) and a marker the ORM sends otherwise than as it is
(contains sends %value%). An argument of None is refused: the ORM would write
IS NULL, not = NULL.

Whatever the build function computes besides its arguments is frozen at
compilation: the current time, the current time zone (__date lookups, Trunc)
or language must not be part of such a query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.db.transaction import TransactionManagementError
from django.utils import timezone

type Argument = int | str | date  # a datetime is a date


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    params: tuple
    slots: tuple[tuple[int, str, Callable[[Any], Any]], ...]  # (position among params, marker, adapter)
    converters: list
    width: int | None  # the columns asked for, when the SQL selects more
    for_update: bool


class Prepared:
    """A values_list() read compiled once per connection and run with other arguments."""

    def __init__(self, build: Callable[..., QuerySet], **markers: Argument) -> None:
        """`build(**markers)` returns the queryset; each marker is a value no real argument can take."""
        for name, value in markers.items():
            _kind(name, value)
        self._build = build
        self._markers = markers
        self._others = {name: _other(value) for name, value in markers.items()}
        self._alias: str | None = None
        self._compiled: WeakKeyDictionary[BaseDatabaseWrapper, _Compiled] = WeakKeyDictionary()

    def queryset(self, **arguments: Argument) -> QuerySet:
        """The queryset this read stands for, built with these arguments: what rows() returns the rows of."""
        return self._build(**arguments)

    def rows(self, **arguments: Argument) -> list[tuple]:
        """Run the read with these arguments (one per marker, by name); its rows, converted as the ORM would."""
        if arguments.keys() != self._markers.keys():
            raise TypeError(f"arguments {sorted(arguments)} instead of {sorted(self._markers)}")
        if self._alias is None:
            self._alias = self._build(**self._markers).db
        connection = connections[self._alias]
        compiled = self._compiled.get(connection)
        if compiled is None:
            compiled = self._compiled[connection] = self._compile(connection)
        if compiled.for_update and connection.get_autocommit():  # what the ORM says when compiling it there
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(compiled.params)
        for position, name, adapt in compiled.slots:
            params[position] = adapt(arguments[name])
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.width is not None:
            rows = [row[:compiled.width] for row in rows]
        if not compiled.converters:
            return [tuple(row) for row in rows]
        converted = []
        for row in rows:
            values = list(row)
            for position, (functions, expression) in compiled.converters:
                value = values[position]
                for function in functions:
                    value = function(value, expression, connection)
                values[position] = value
            converted.append(tuple(values))
        return converted

    def _compile(self, connection: BaseDatabaseWrapper) -> _Compiled:
        queryset = self._build(**self._markers)
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        other_sql, other_params = self._build(**self._others).query.get_compiler(connection=connection).as_sql()
        if other_sql != sql or len(other_params) != len(params):
            raise ImproperlyConfigured(f"the SQL of this read changes with its arguments: {sql}")
        slots = []
        for position, (value, other) in enumerate(zip(params, other_params, strict=True)):
            if _same(value, other):
                continue  # a literal of the query, even one equal to a marker
            for name, marker in self._markers.items():
                if _same(value, _sent(connection, marker)) and _same(other, _sent(connection, self._others[name])):
                    slots.append((position, name, _adapter(connection, marker, value)))
                    break
        if missing := set(self._markers) - {name for _position, name, _adapt in slots}:
            raise ImproperlyConfigured(f"markers not found in the compiled query as they are: {sorted(missing)}")
        columns = [column for column, _sql, _alias in compiler.select[:compiler.col_count]]
        return _Compiled(
            sql=sql, params=tuple(params), slots=tuple(slots),
            converters=list(compiler.get_converters(columns).items()),
            width=compiler.col_count if compiler.has_extra_select else None,
            for_update=bool(queryset.query.select_for_update) and connection.features.has_select_for_update)


def _kind(name: str, value: Any) -> type:
    """int, str, datetime or date: the kind of a marker or argument. bool and None are none of them."""
    if value is not None and not isinstance(value, bool):
        for kind in (int, str, datetime, date):
            if isinstance(value, kind):
                if kind is datetime and settings.USE_TZ and timezone.is_naive(value):
                    raise ValueError(f"{name}: a naive datetime (the ORM would read it in the current time zone)")
                return kind
    raise TypeError(f"{name}: {value!r} is not an int, a string, a date or a datetime")


def _other(marker: Argument) -> Argument:
    """Another value of the marker's kind, different from it: the second compilation's."""
    if isinstance(marker, int):
        return marker - 1
    if isinstance(marker, str):
        return marker + "\x01"
    try:
        return marker + timedelta(days=1)
    except OverflowError:
        return marker - timedelta(days=1)


def _sent(connection: BaseDatabaseWrapper, value: Argument) -> Any:
    """A value as a field's lookup would send it to the database (before an integer field wraps it)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal as parameters: a date is not its datetime; an int is its Int8 (both stand for the same number)."""
    if isinstance(a, date) or isinstance(b, date):
        return type(a) is type(b) and a == b
    return a == b


def _adapter(connection: BaseDatabaseWrapper, marker: Argument, compiled: Any) -> Callable[[Any], Any]:
    """How an argument goes where `marker` went: refused if it is not of the marker's kind, adapted as it was."""
    kind = _kind("marker", marker)
    if kind is int:
        wrap = type(compiled)  # int, or the integer field's type on PostgreSQL (Int8 for a BigIntegerField)

        def adapt(value: Any) -> Any:
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{value!r} is not an int")
            return value if wrap is int else wrap(value)
    else:
        def adapt(value: Any) -> Any:
            if _kind("argument", value) is not kind:
                raise TypeError(f"{value!r} is not a {kind.__name__}")
            return _sent(connection, value)
    return adapt
