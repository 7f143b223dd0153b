"""Refunds from the back office: a provider payment, or a customer's advance (written by the refunds work)."""

from django.http import Http404, HttpRequest, HttpResponse


def attempt_refund(request: HttpRequest, attempt_id: str) -> HttpResponse:
    raise Http404


def advance_refund(request: HttpRequest, pk: int) -> HttpResponse:
    raise Http404
