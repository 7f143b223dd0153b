"""Portal pages. Views hold no rules: they read through selectors scoped with viewer= and call services."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .access import customer_required


@customer_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", {"customer": request.customer})


def sign_in_page(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/sign_in.html", {})
