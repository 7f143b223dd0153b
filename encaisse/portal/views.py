"""Portal pages. Views hold no rules: they read through selectors scoped with viewer= and call services."""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from encaisse.core.errors import DomainError
from encaisse.core.http import client_ip
from encaisse.parties.models import Customer

from . import auth
from .access import customer_required, offer_choice, offered_choices, sign_in, sign_out


def _safe_next(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return wanted
    return reverse("portal:home")


def _enter(request: HttpRequest, customers: list[Customer], next_url: str) -> HttpResponse:
    """Sign in the one customer opened, or let the person choose among several."""
    if len(customers) == 1:
        sign_in(request, customers[0])
        return HttpResponseRedirect(next_url)
    offer_choice(request, customers)
    return HttpResponseRedirect(reverse("portal:choose"))


@require_http_methods(["GET", "POST"])
def sign_in_page(request: HttpRequest) -> HttpResponse:
    """Ask for a link by email, or sign in with a password; refusals come back on the same page."""
    context = {"next": _safe_next(request), "email": "", "sent": False, "error": ""}
    status = 200
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        context["email"] = email
        try:
            if not email:
                context["error"] = gettext("Enter your email address.")
                status = 400
            elif request.POST.get("action") == "password":
                customers = auth.sign_in_with_password(email, request.POST.get("password", ""), client_ip(request))
                return _enter(request, customers, context["next"])
            else:
                # The link starts with ENCAISSE_BASE_URL, never with the request's Host header.
                auth.request_sign_in_link(email, client_ip(request))
                context["sent"] = True
        except auth.TooManyAttempts as refused:
            context["error"], status = str(refused), 429
        except DomainError as refused:
            context["error"], status = str(refused), 400
    return render(request, "portal/sign_in.html", context, status=status)


@require_http_methods(["GET", "POST"])
def sign_in_link(request: HttpRequest, token: str) -> HttpResponse:
    """Opening the emailed link shows a button; only the POST uses the link (mail scanners only GET it)."""
    if request.method == "POST":
        try:
            customers = auth.use_sign_in_link(token)
        except auth.InvalidSignInLink as refused:
            return render(request, "portal/sign_in_link.html", {"error": str(refused)}, status=410)
        return _enter(request, customers, reverse("portal:home"))
    if not auth.link_is_usable(token):
        return render(request, "portal/sign_in_link.html", {"error": str(auth.InvalidSignInLink())}, status=410)
    return render(request, "portal/sign_in_link.html", {"error": ""})


@require_http_methods(["GET", "POST"])
def choose(request: HttpRequest) -> HttpResponse:
    """Several customers (organisations or records) for one address: the person picks the one to open."""
    customers = offered_choices(request)
    if not customers:
        return HttpResponseRedirect(reverse("portal:sign_in"))
    if request.method == "POST":
        chosen = next((c for c in customers if str(c.pk) == request.POST.get("customer")), None)
        if chosen is None:
            raise Http404
        sign_in(request, chosen)
        return HttpResponseRedirect(reverse("portal:home"))
    return render(request, "portal/choose.html", {"customers": customers})


@require_POST
def sign_out_view(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    return HttpResponseRedirect(reverse("portal:sign_in"))


@customer_required
@require_http_methods(["GET", "POST"])
def set_password_page(request: HttpRequest) -> HttpResponse:
    """A signed-in customer may choose a password, to sign in later without waiting for an email."""
    error, done = "", False
    if request.method == "POST":
        password = request.POST.get("password", "")
        if password != request.POST.get("confirm", ""):
            error = gettext("The two passwords differ.")
        else:
            try:
                auth.set_password(request.customer, password)
                done = True
            except DomainError as refused:
                error = str(refused)
    return render(request, "portal/sign_in_password.html", {"customer": request.customer, "error": error,
                                                             "done": done}, status=400 if error else 200)
