"""Portal pages for keeping a card without paying: the provider's hosted page in setup mode, and the way back."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse

from .access import customer_required


@customer_required
def add_card(request: HttpRequest) -> HttpResponse:
    raise Http404  # built by the "save a card outside a payment" work


@customer_required
def card_added(request: HttpRequest, attempt_id: str) -> HttpResponse:
    raise Http404
