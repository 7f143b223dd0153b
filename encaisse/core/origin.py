"""Where the current change comes from: back office, portal, API, CLI, webhook, import, system.

Set once at the edge (middleware, command, task) and read by record_event, so
services do not have to thread it through every call.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_origin: ContextVar[str] = ContextVar("encaisse_origin", default="system")


def current_origin() -> str:
    return _origin.get()


@contextmanager
def origin(name: str) -> Iterator[None]:
    token = _origin.set(name)
    try:
        yield
    finally:
        _origin.reset(token)
