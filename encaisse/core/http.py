"""Facts about the HTTP request that several layers record."""

from __future__ import annotations

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from, as the server saw it (None when unknown).

    One place to read it, so the day a trusted proxy header is honoured, rate
    limits and consent records (signed mandates, kept cards) change together.
    """
    return request.META.get("REMOTE_ADDR") or None
