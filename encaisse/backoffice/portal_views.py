"""A customer's portal sign-in link, from the staff customer page: shown to copy, or emailed to the customer.

Staff helping a customer on the phone can hand over a link instead of
explaining the sign-in page. Every link is fresh (15 minutes, single use),
made by a POST (CSRF-checked by the admin's views) and audited through the
portal's services; staff reach only their organisation's customers (404).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from encaisse.core.errors import DomainError
from encaisse.portal.auth import LINK_MINUTES, create_sign_in_link, email_sign_in_link

from .views import scoped_customer


@require_http_methods(["GET", "POST"])
def customer_portal_link(request: HttpRequest, pk: int) -> HttpResponse:
    customer = scoped_customer(request, pk)
    url, sent_to, error = "", "", ""
    if request.method == "POST":
        try:
            if request.POST.get("action") == "email":
                url = email_sign_in_link(customer, by=request.user)
                sent_to = customer.email
            else:
                url = create_sign_in_link(customer, by=request.user)
        except DomainError as refused:
            error = str(refused) if customer.email else gettext("This customer has no email address.")
    context = {
        **admin.site.each_context(request),
        "title": _("Portal sign-in link of %(customer)s") % {"customer": customer},
        "customer": customer, "url": url, "sent_to": sent_to, "error": error, "minutes": LINK_MINUTES,
    }
    return render(request, "backoffice/portal_link.html", context, status=400 if error else 200)


__all__ = ["customer_portal_link"]
