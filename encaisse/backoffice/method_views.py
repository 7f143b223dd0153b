"""A customer's saved payment methods: what was kept and with which consent; make one the default, revoke one.

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
from encaisse.payments.methods import revoke_method, set_default_method
from encaisse.payments.models import SavedMethodStatus

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
            if method is not None and action == "default":
                set_default_method(method, by=request.user)
                messages.success(request, gettext("%(method)s is now the default method of %(customer)s.") % {
                    "method": method, "customer": customer})
                return HttpResponseRedirect(here)
            if method is not None and action == "revoke":
                revoke_method(method, reason=reason, by=request.user)
                messages.success(request, gettext("%(method)s was revoked: it will not be charged again.") % {
                    "method": method})
                return HttpResponseRedirect(here)
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
    }
    return render(request, "backoffice/customer_methods.html", context, status=400 if error else 200)


__all__ = ["customer_methods"]
