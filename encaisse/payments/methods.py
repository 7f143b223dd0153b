"""Saved payment methods: kept with the payer's consent, charged off-session, revoked on request.

Only the provider's token is kept (and what a person needs to recognise the
method: brand, last four digits, expiry). The consent is recorded with the
exact text shown, the time and the payer's IP address, because it is what
allows charging a customer who is not there.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from encaisse.parties.models import Organisation

from .providers.base import SavedMethodInfo


def consent_text(organisation: Organisation) -> str:
    """The sentence the payer agrees to when keeping a method; stored word for word with the consent."""
    return _("I allow %(organisation)s to keep this payment method with its payment provider and to charge it "
             "for my future invoices when they fall due. I can withdraw this permission at any time.") % {
        "organisation": organisation.name}


def keep_saved_method(attempt: Any, info: SavedMethodInfo) -> Any:
    """Record the method a successful checkout kept, with the consent stored on the attempt (idempotent)."""
    raise NotImplementedError  # written by the saved-methods work


__all__ = ["consent_text", "keep_saved_method"]
