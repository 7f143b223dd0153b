"""Portal pages for payment methods: saved cards, SEPA mandates, signing a mandate online.

Views hold no rules: they read through sepa.selectors with viewer= and call
the payments and sepa services. An id in the address that is not the viewer's
answers 404 and is logged (ids only).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from encaisse.core.errors import DomainError
from encaisse.core.http import client_ip
from encaisse.core.origin import origin
from encaisse.payments.methods import revoke_method
from encaisse.payments.models import SavedMethod, SavedMethodStatus
from encaisse.payments.selectors import saved_methods_for
from encaisse.sepa.models import Mandate
from encaisse.sepa.preferences import card_expired, choose_collection_method, collection_method_for, current_mandate
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
    cards = saved_methods_for(viewer=customer).select_related("provider_account")
    chosen = collection_method_for(customer)
    return render(request, "portal/methods.html", {
        "customer": customer,
        "cards": cards,
        "mandates": mandates_for(viewer=customer),
        "active": SavedMethodStatus.ACTIVE,
        "mandate_active": Mandate.Status.ACTIVE,
        "can_sign": bool(customer.organisation.creditor_id),
        "error": request.session.pop("portal.methods.error", ""),
        # The choices offered for automatic collection: the active unexpired cards and the current mandate.
        "collect_cards": [c for c in cards if c.status == SavedMethodStatus.ACTIVE and not card_expired(c)],
        "collect_mandate": current_mandate(customer),
        "chosen": chosen,
    })


def _refused(request: HttpRequest, error: DomainError | str) -> HttpResponseRedirect:
    """Back to the methods page, which shows `error` once, as an alert."""
    request.session["portal.methods.error"] = str(error)
    return _back()


@require_POST
@customer_required
def choose_collection(request: HttpRequest) -> HttpResponse:
    """Save the "Automatic collection" form: one of the viewer's cards, their current mandate, or nothing."""
    customer = request.customer
    what, _sep, pk = request.POST.get("collect", "").partition(":")
    choice: dict[str, Any] = {}
    if what in ("card", "mandate"):
        if not pk.isdigit():
            raise not_yours(request, what, pk)
        queryset = saved_methods_for(viewer=customer) if what == "card" else mandates_for(viewer=customer)
        choice[what] = _own(queryset, request, "saved method" if what == "card" else "mandate", int(pk))
    elif what != "nothing":
        return _refused(request, _("Choose how your invoices are collected."))
    try:
        with origin("portal"):
            chosen = choose_collection_method(customer, by=None, **choice)
    except DomainError as error:
        return _refused(request, error)
    if chosen.card is not None:
        messages.success(request, _("Your invoices will be charged to %(card)s when they fall due.") % {
            "card": card_label(chosen.card)})
    elif chosen.mandate is not None:
        messages.success(request, _("Your invoices will be collected by direct debit from %(iban)s.") % {
            "iban": chosen.mandate.masked_iban})
    else:
        messages.success(request, _("Your invoices will not be collected automatically: you pay each one yourself."))
    return _back()


def card_label(card: SavedMethod) -> str:
    """A card as the portal's messages name it, "Visa •••• 4242": providers send the brand in lower case."""
    if not card.last4:
        return str(card)
    return f"{capfirst(card.brand or card.get_kind_display())} •••• {card.last4}"


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


__all__ = ["card_label", "choose_collection", "methods", "remove", "revoke", "sign", "signed"]
