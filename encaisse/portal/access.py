"""Who is signed in to the portal: one customer of one organisation, kept in the session.

The portal has no user accounts: a person proves they own a customer's email
address (one-time link) or knows its password, and the session then holds that
customer's id. Every portal view takes the customer from here and passes it to
selectors as `viewer=`, so no view can reach another customer's records. The
session id changes at sign-in (fixation) and a session idle for longer than
IDLE_SECONDS is signed out.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from encaisse.parties.models import Customer

SESSION_CUSTOMER = "portal.customer_id"
SESSION_SEEN = "portal.last_seen"
SESSION_CHOICES = "portal.choices"  # the customers a link or password opened, when there are several
SESSION_CHOICES_AT = "portal.choices_at"
IDLE_SECONDS = 30 * 60

log = logging.getLogger("encaisse.portal")


def sign_in(request: HttpRequest, customer: Customer) -> None:
    """Start a portal session for this customer, under a new session id."""
    request.session.cycle_key()
    request.session[SESSION_CUSTOMER] = customer.pk
    request.session[SESSION_SEEN] = int(time.time())


def sign_out(request: HttpRequest) -> None:
    for key in (SESSION_CUSTOMER, SESSION_SEEN, SESSION_CHOICES, SESSION_CHOICES_AT):
        request.session.pop(key, None)
    request.session.cycle_key()


def offer_choice(request: HttpRequest, customers: list[Customer]) -> None:
    """Remember the customers one proof opened, for the choose page; the session id changes here too."""
    request.session.cycle_key()
    request.session[SESSION_CHOICES] = [c.pk for c in customers]
    request.session[SESSION_CHOICES_AT] = int(time.time())


def offered_choices(request: HttpRequest) -> list[Customer]:
    """The customers offered by offer_choice, while the offer is younger than IDLE_SECONDS."""
    ids = request.session.get(SESSION_CHOICES) or []
    if not ids or int(time.time()) - int(request.session.get(SESSION_CHOICES_AT, 0)) > IDLE_SECONDS:
        return []
    return list(Customer.objects.select_related("organisation").filter(pk__in=ids)
                .order_by("organisation__name", "name", "pk"))


def current_customer(request: HttpRequest) -> Customer | None:
    """The signed-in customer, or None (never signed in, idle too long, or the customer is gone)."""
    customer_id = request.session.get(SESSION_CUSTOMER)
    if customer_id is None:
        return None
    if int(time.time()) - int(request.session.get(SESSION_SEEN, 0)) > IDLE_SECONDS:
        sign_out(request)
        return None
    customer = Customer.objects.select_related("organisation").filter(pk=customer_id).first()
    if customer is None:
        sign_out(request)
        return None
    request.session[SESSION_SEEN] = int(time.time())
    return customer


def customer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Run the view with `request.customer` set, or send the visitor to the sign-in page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = current_customer(request)
        if customer is None:
            return HttpResponseRedirect(f"{reverse('portal:sign_in')}?{urlencode({'next': request.get_full_path()})}")
        request.customer = customer
        return view(request, *args, **kwargs)

    return wrapper


def not_yours(request: HttpRequest, what: str, pk: object) -> Http404:
    """The 404 for an id the viewer may not see, logged with ids only (a customer trying ids shows up here)."""
    log.warning("portal: customer %s asked for %s %s outside their records (%s)",
                request.customer.pk, what, str(pk)[:32], request.path)
    return Http404(_("Not found."))
