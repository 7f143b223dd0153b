"""A customer's saved payment methods: what was kept and with which consent; make one the default, revoke one.

The page also shows how the customer is collected automatically (a card,
their current mandate, or nothing) and whether that choice is usable, and
lets staff change it through sepa.preferences, audited with their name.

Every change is a POST (CSRF-checked by the admin's views) through the
methods service, which records the audit event; a refusal comes back as an
error on the page and writes nothing. Staff reach only their organisation's
customers, and a method only through its own customer (anything else: 404).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from encaisse.core.errors import DomainError
from encaisse.parties.models import Customer
from encaisse.payments.methods import revoke_method, set_default_method
from encaisse.payments.models import SavedMethodStatus
from encaisse.sepa.preferences import (
    CollectionMethod,
    card_expired,
    choose_collection_method,
    collection_method_for,
    current_mandate,
)

from .views import scoped_customer


@require_http_methods(["GET", "POST"])
def customer_methods(request: HttpRequest, pk: int) -> HttpResponse:
    customer = scoped_customer(request, pk)
    methods = customer.saved_methods.select_related("provider_account", "source_attempt")
    here = reverse("staff:customer_methods", args=[customer.pk])
    error, reason = "", ""
    chosen = request.POST.get("method") or request.GET.get("revoke") or ""
    method = None
    if chosen:
        # A method only through its customer: another customer's id is a 404, like another organisation's.
        if not chosen.isdigit():
            raise Http404
        method = get_object_or_404(methods, pk=chosen)
    if request.method == "POST":
        action = request.POST.get("action")
        reason = request.POST.get("reason", "").strip()
        try:
            if action == "collect":
                if _choose_collection(request, customer):
                    return HttpResponseRedirect(here)
                error = gettext("Choose how the customer is collected.")
            elif method is not None and action == "default":
                set_default_method(method, by=request.user)
                messages.success(request, gettext("%(method)s is now the default method of %(customer)s.") % {
                    "method": method, "customer": customer})
                return HttpResponseRedirect(here)
            elif method is not None and action == "revoke":
                revoke_method(method, reason=reason, by=request.user)
                messages.success(request, gettext("%(method)s was revoked: it will not be charged again.") % {
                    "method": method})
                return HttpResponseRedirect(here)
            else:
                error = gettext("Choose a method and an action.")
        except DomainError as refused:
            error = str(refused)
    # "Revoke" first shows this confirmation form (with the reason to give); a revoked method has none.
    to_revoke = method if method is not None and method.status != SavedMethodStatus.REVOKED else None
    context = {
        **admin.site.each_context(request),
        "title": _("Saved payment methods of %(customer)s") % {"customer": customer},
        "customer": customer, "methods": list(methods), "to_revoke": to_revoke, "error": error, "reason": reason,
        "active": SavedMethodStatus.ACTIVE,
        "collection": collection_method_for(customer),
        "collect_cards": [m for m in methods if m.status == SavedMethodStatus.ACTIVE and not card_expired(m)],
        "collect_mandate": current_mandate(customer),
    }
    return render(request, "backoffice/customer_methods.html", context, status=400 if error else 200)


def _choose_collection(request: HttpRequest, customer: Customer) -> bool:
    """Apply the "Automatic collection" form ("card:<id>", "mandate:<id>" or "nothing"); False if none was chosen.

    The card or mandate is looked up among this customer's own (anything else:
    404); the service refuses what cannot collect, with its reason.
    """
    what, _sep, pk = request.POST.get("collect", "").partition(":")
    if what in ("card", "mandate") and not pk.isdigit():
        raise Http404
    if what == "card":
        choose_collection_method(customer, card=get_object_or_404(customer.saved_methods.all(), pk=pk),
                                 by=request.user)
    elif what == "mandate":
        choose_collection_method(customer, mandate=get_object_or_404(customer.mandates.all(), pk=pk),
                                 by=request.user)
    elif what == "nothing":
        choose_collection_method(customer, by=request.user)
    else:
        return False
    chosen = collection_method_for(customer)
    messages.success(request, gettext("%(customer)s is now collected: %(how)s.") % {
        "customer": customer.name, "how": _how(chosen)})
    return True


def _how(chosen: CollectionMethod) -> str:
    if chosen.card is not None:
        return gettext("by the card %(card)s") % {"card": chosen.card}
    if chosen.mandate is not None:
        return gettext("by direct debit under mandate %(mandate)s") % {"mandate": chosen.mandate}
    return gettext("not automatically")


__all__ = ["customer_methods"]
