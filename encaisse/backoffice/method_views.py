"""A customer's saved payment methods: list, choose the default, revoke (written by the saved-methods work)."""

from django.http import Http404, HttpRequest, HttpResponse


def customer_methods(request: HttpRequest, pk: int) -> HttpResponse:
    raise Http404
