"""Portal pages for payment methods: saved cards, SEPA mandates, signing a mandate online.

Views hold no rules: they read through sepa.selectors with viewer= and call
the payments and sepa services. An id in the address that is not the viewer's
answers 404 and is logged (ids only).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from encaisse.core.errors import DomainError
from encaisse.core.http import client_ip
from encaisse.core.origin import origin
from encaisse.payments.methods import revoke_method, set_default_method
from encaisse.payments.models import SavedMethodStatus
from encaisse.payments.selectors import saved_methods_for
from encaisse.sepa.models import Mandate
from encaisse.sepa.selectors import mandates_for
from encaisse.sepa.services import mandate_language, mandate_text, revoke_mandate, sign_mandate_online

from .access import customer_required, not_yours


def _own(queryset: QuerySet[Any], request: HttpRequest, what: str, pk: int) -> Any:
    """The record `pk` among the viewer's own, or 404, logged: ids only, never names or account numbers."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise not_yours(request, what, pk)
    return found


def _back() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("portal:methods"))


@customer_required
def methods(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    return render(request, "portal/methods.html", {
        "customer": customer,
        "cards": saved_methods_for(viewer=customer),
        "mandates": mandates_for(viewer=customer),
        "active": SavedMethodStatus.ACTIVE,
        "mandate_active": Mandate.Status.ACTIVE,
        "can_sign": bool(customer.organisation.creditor_id),
        "error": request.session.pop("portal.methods.error", ""),
    })


def _refused(request: HttpRequest, error: DomainError) -> HttpResponseRedirect:
    request.session["portal.methods.error"] = str(error)
    return _back()


@require_POST
@customer_required
def make_default(request: HttpRequest, pk: int) -> HttpResponse:
    method = _own(saved_methods_for(viewer=request.customer), request, "saved method", pk)
    try:
        with origin("portal"):
            set_default_method(method, by=None)
    except DomainError as error:
        return _refused(request, error)
    return _back()


@require_POST
@customer_required
def choose_collection(request: HttpRequest) -> HttpResponse:
    raise NotImplementedError  # built by the "default method for automatic collection" work


@require_POST
@customer_required
def remove(request: HttpRequest, pk: int) -> HttpResponse:
    method = _own(saved_methods_for(viewer=request.customer), request, "saved method", pk)
    with origin("portal"):
        revoke_method(method, reason="removed by the customer in the portal", by=None)
    return _back()


@require_POST
@customer_required
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    mandate = _own(mandates_for(viewer=request.customer), request, "mandate", pk)
    try:
        with origin("portal"):
            revoke_mandate(mandate, reason="revoked by the customer in the portal", by=None)
    except DomainError as error:
        return _refused(request, error)
    return _back()


@customer_required
def sign(request: HttpRequest) -> HttpResponse:
    customer = request.customer
    organisation = customer.organisation
    form = {"holder_name": customer.name, "iban": ""}
    error = ""
    if request.method == "POST":
        form = {"holder_name": request.POST.get("holder_name", ""), "iban": ""}  # never echo the IBAN back
        try:
            with origin("portal"):
                mandate = sign_mandate_online(
                    customer=customer, iban=request.POST.get("iban", ""), holder_name=form["holder_name"],
                    consent=request.POST.get("consent") == "1", ip=client_ip(request))
        except DomainError as refusal:
            error = str(refusal)
        else:
            return HttpResponseRedirect(reverse("portal:mandate_signed", args=[mandate.pk]))
    text = mandate_text(organisation, language=mandate_language(customer)) if organisation.creditor_id else ""
    return render(request, "portal/mandate_sign.html", {
        "customer": customer, "form": form, "error": error, "mandate_text": text,
        "can_sign": bool(organisation.creditor_id)}, status=400 if error else 200)


@customer_required
def signed(request: HttpRequest, pk: int) -> HttpResponse:
    mandate = _own(mandates_for(viewer=request.customer), request, "mandate", pk)
    return render(request, "portal/mandate_signed.html", {"customer": request.customer, "mandate": mandate})


__all__ = ["choose_collection", "make_default", "methods", "remove", "revoke", "sign", "signed"]
