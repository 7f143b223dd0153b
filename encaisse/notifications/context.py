"""An email's template context kept as JSON until the message is rendered, when it is sent.

queue_emails stores each message's context instead of its rendered text
(rendering a collection run's pre-notifications cost more than the rest of
scheduling them). JSON alone would turn an amount into a float and a date into
a string that `|date` cannot format, so the types contexts carry are tagged:

    Money     {"$money": [minor, "EUR"]}      date      {"$date": "2026-03-16"}
    datetime  {"$datetime": "...+00:00"}      Decimal   {"$decimal": "1.50"}
    SafeString {"$safe": "<b>…</b>"}          a dict whose only key starts with "$": {"$dict": {...}}

Lazy translations are written out in the email's language at once (the text
they would have rendered). Any other type is refused when the message is
queued, not discovered when it is sent.

The JSON is kept as text: it is only ever read back whole, and encoding it here
with the C encoder cost half of what the ORM's JSON field did per message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.safestring import SafeString, mark_safe

from encaisse.core.money import Money

_PLAIN = (str, int, float, bool, type(None))
_dumps = json.JSONEncoder(check_circular=False, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


class ContextEncoder:
    """Encodes the contexts of one batch in one language: the same amount or date, met again, is encoded once."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._seen: dict[tuple[type, Any], Any] = {}

    def encode(self, context: Mapping[str, Any]) -> str:
        """The context as JSON text; TypeError (ValueError for NaN) for a value that cannot be kept."""
        return _dumps({key: value if type(value) is str else self._value(value) for key, value in context.items()})

    def _value(self, value: Any) -> Any:
        kind = type(value)
        if kind in _PLAIN:
            return value
        if kind is Money or kind is date:  # not Decimal nor datetime: equal ones may write differently
            key = (kind, value)
            if key not in self._seen:
                self._seen[key] = _tagged(value)
            return self._seen[key]
        if kind is datetime or kind is Decimal:
            return _tagged(value)
        if isinstance(value, SafeString):
            return {"$safe": str(value)}
        if isinstance(value, Promise):
            with translation.override(self.language):
                return str(value)
        if isinstance(value, str):  # a str subclass: a choice, an enum member
            return str(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, list | tuple):
            return [self._value(item) for item in value]
        if isinstance(value, Mapping):
            if not all(isinstance(key, str) for key in value):
                raise TypeError("An email context's dictionaries need string keys")
            data = {key: self._value(item) for key, item in value.items()}
            return {"$dict": data} if len(data) == 1 and next(iter(data)).startswith("$") else data
        raise TypeError(f"An email context cannot keep a {kind.__name__} until the email is sent; "
                        "pass plain values (text, numbers, Money, dates)")


def _tagged(value: Money | date | datetime | Decimal) -> dict[str, Any]:
    if isinstance(value, Money):
        return {"$money": [value.minor, value.currency]}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    return {"$decimal": str(value)}


_DECODERS = {
    "$money": lambda data: Money(data[0], data[1]),
    "$date": date.fromisoformat,
    "$datetime": datetime.fromisoformat,
    "$decimal": Decimal,
    "$safe": mark_safe,
}


def decode_context(text: str) -> dict[str, Any]:
    """What ContextEncoder.encode was given (lazy translations as the text they gave)."""
    return {key: _decoded(value) for key, value in json.loads(text).items()}


def _decoded(value: Any) -> Any:
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$dict":
            return {key: _decoded(item) for key, item in inner.items()}
        if tag in _DECODERS:
            return _DECODERS[tag](inner)
    return {key: _decoded(item) for key, item in value.items()}
