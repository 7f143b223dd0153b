"""Small reads compiled once: the queries the ledger makes for every payment it books.

Django compiles a queryset to SQL each time it runs it. For the small reads
that booking one card charge makes (the chain's head under its lock, the
period, what is still open on a line, the settlements of two lines) compiling
costs about ten times what the database spends answering (measured on SQLite:
200 to 800 µs against 20 to 60 µs), and a collection run books thousands of
charges one after another.

A Prepared read is written as an ordinary values_list() queryset, built with
marker values standing for its arguments. It is compiled once per database
connection; each run puts the arguments where the markers are among the
compiled parameters and applies the converters the queryset itself would, so
it returns the rows list(queryset) would, as tuples. Markers are ints,
strings or dates (a date goes to the database as the backend adapts a
DateField's value), and every marker must show among the compiled
parameters, which is checked when compiling.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet


class Prepared:
    """A values_list() read compiled once per connection and run with other arguments."""

    def __init__(self, build: Callable[..., QuerySet], **markers: int | str | date) -> None:
        """`build(**markers)` returns the queryset; each marker is a value no real argument can take."""
        self._build = build
        self._markers = markers
        self._alias: str | None = None
        self._compiled: WeakKeyDictionary[BaseDatabaseWrapper, tuple] = WeakKeyDictionary()

    def rows(self, **arguments: int | str | date) -> list[tuple]:
        """Run the read with these arguments (one per marker, by name); its rows, converted as the ORM would."""
        if self._alias is None:
            self._alias = self._build(**self._markers).db
        connection = connections[self._alias]
        compiled = self._compiled.get(connection)
        if compiled is None:
            compiled = self._compiled[connection] = self._compile(connection)
        sql, params, slots, converters, width = compiled
        params = list(params)
        for position, name in slots:
            value = arguments[name]
            params[position] = connection.ops.adapt_datefield_value(value) if isinstance(value, date) else value
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if width is not None:
            rows = [row[:width] for row in rows]
        if not converters:
            return [tuple(row) for row in rows]
        converted = []
        for row in rows:
            values = list(row)
            for position, (functions, expression) in converters:
                value = values[position]
                for function in functions:
                    value = function(value, expression, connection)
                values[position] = value
            converted.append(tuple(values))
        return converted

    def _compile(self, connection: BaseDatabaseWrapper) -> tuple[str, tuple, list[tuple[int, str]], list, Any]:
        queryset = self._build(**self._markers)
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        names = {connection.ops.adapt_datefield_value(value) if isinstance(value, date) else value: name
                 for name, value in self._markers.items()}
        slots = [(position, names[value]) for position, value in enumerate(params)
                 if type(value) in (int, str, date) and value in names]
        if missing := set(self._markers) - {name for _position, name in slots}:
            raise ImproperlyConfigured(f"markers not found in the compiled query: {sorted(missing)}")
        columns = [column for column, _sql, _alias in compiler.select[:compiler.col_count]]
        converters = list(compiler.get_converters(columns).items())
        width = compiler.col_count if compiler.has_extra_select else None
        return sql, tuple(params), slots, converters, width
