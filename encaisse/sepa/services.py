"""Signing and revoking SEPA direct-debit mandates.

A mandate signed online is the creditor's proof that the debtor authorised
the debits: it keeps the exact text the debtor agreed to (creditor name,
identifier and address, the authorisation and refund-right sentences of the
EPC rulebook, the unique mandate reference), the moment and the IP address.
Nothing is written unless every check passes, and the confirmation email is
queued in the same transaction, so a signed mandate always has its email and
a refused one never does.

A customer has one active mandate for collection: signing a new one revokes
the earlier active mandate as replaced (naming the new reference), so that a
collection run never has to guess which account to debit. Mandates are never
deleted; revoking keeps the row, its text and its proof.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.notifications.services import queue_email
from encaisse.parties.models import Customer, Organisation

from .models import Mandate, masked_iban
from .preferences import current_mandate, switch_collect_by


class MandateRefused(DomainError):
    code = "mandate_refused"
    message = _("The mandate cannot be signed: %(reason)s")


class MandateNotRevocable(DomainError):
    code = "mandate_not_revocable"
    message = _("This mandate cannot be revoked: %(reason)s")


# The EPC rulebook fixes this wording (SDD Core and B2B rulebooks, mandate annex); it is kept here word for
# word in both languages rather than in the translation catalogue, where it could drift from the legal text.
# Both schemes share the authorisation sentence; only the refund right differs ("<scheme>_refund").
_WORDING: dict[str, dict[str, str]] = {
    "en": {
        "title": "SEPA Direct Debit Mandate",
        "reference": "Mandate reference (UMR): {reference}",
        "pending_reference": "Mandate reference (UMR): given when you sign",
        "creditor": "Creditor: {name}",
        "creditor_id": "Creditor identifier: {creditor_id}",
        "address": "Creditor address: {address}",
        "debtor": "Debtor: {holder} — account {iban}",
        "scheme": "Type of payment: recurrent",
        "authorise": ("By signing this mandate form, you authorise (A) {name} to send instructions to your bank to "
                       "debit your account and (B) your bank to debit your account in accordance with the "
                       "instructions from {name}."),
        "CORE_refund": ("As part of your rights, you are entitled to a refund from your bank under the terms and "
                        "conditions of your agreement with your bank. A refund must be claimed within 8 weeks "
                        "starting from the date on which your account was debited."),
        "B2B_refund": ("This mandate is only intended for business-to-business transactions. You are not "
                       "entitled to a refund from your bank after your account has been debited, but you are "
                       "entitled to request your bank not to debit your account up until the day on which "
                       "the payment is due."),
    },
    "fr": {
        "title": "Mandat de prélèvement SEPA",
        "reference": "Référence unique du mandat (RUM) : {reference}",
        "pending_reference": "Référence unique du mandat (RUM) : attribuée à la signature",
        "creditor": "Créancier : {name}",
        "creditor_id": "Identifiant créancier SEPA (ICS) : {creditor_id}",
        "address": "Adresse du créancier : {address}",
        "debtor": "Débiteur : {holder} — compte {iban}",
        "scheme": "Type de paiement : récurrent",
        "authorise": ("En signant ce formulaire de mandat, vous autorisez (A) {name} à envoyer des instructions à "
                       "votre banque pour débiter votre compte, et (B) votre banque à débiter votre compte "
                       "conformément aux instructions de {name}."),
        "CORE_refund": ("Vous bénéficiez du droit d'être remboursé par votre banque selon les conditions décrites "
                        "dans la convention que vous avez passée avec elle. Une demande de remboursement doit "
                        "être présentée dans les 8 semaines suivant la date de débit de votre compte pour un "
                        "prélèvement autorisé."),
        "B2B_refund": ("Ce mandat est destiné uniquement aux transactions entre entreprises. Vous ne bénéficiez "
                       "pas du droit au remboursement après le débit de votre compte, mais vous pouvez demander "
                       "à votre banque de ne pas débiter votre compte jusqu'au jour de l'échéance."),
    },
}


def mandate_language(customer: Customer) -> str:
    """The customer's language if the mandate wording exists in it, else the organisation's, else English."""
    return wording_language(customer.language, customer.organisation.language)


def wording_language(*preferred: str) -> str:
    """The first of `preferred` the mandate wording exists in, else English (mandate_language, from values)."""
    return next((language for language in preferred if language in _WORDING), "en")


def mandate_text(organisation: Organisation, *, language: str, scheme: str = Mandate.Scheme.CORE,
                 reference: str = "", holder_name: str = "", iban: str = "") -> str:
    """The mandate as the debtor reads it before signing, and as it is stored and emailed once signed.

    Before signing there is no reference, holder or account yet: the same
    text is shown with "given when you sign" in place of the reference, and
    the debtor line appears once known. The authorisation and refund
    sentences are identical in both, word for word. The account is masked:
    the text is emailed and shown again, and the full IBAN is on the mandate row.
    """
    words = _WORDING.get(language, _WORDING["en"])
    name = organisation.display_legal_name
    lines = [words["title"], "",
             words["reference"].format(reference=reference) if reference else words["pending_reference"],
             words["creditor"].format(name=name),
             words["creditor_id"].format(creditor_id=organisation.creditor_id)]
    if address := ", ".join([*organisation.address_lines(), organisation.country]):
        lines.append(words["address"].format(address=address))
    if holder_name:
        lines.append(words["debtor"].format(holder=holder_name, iban=masked_iban(iban)))
    lines += [words["scheme"], "", words["authorise"].format(name=name), "", words[f"{scheme}_refund"]]
    return "\n".join(lines)


# SEPA allows letters, digits and +?/-:().,' in a UMR; this keeps to upper-case letters, digits and "-",
# which every bank's form accepts. No 0/O/1/I in the random part: people read it out on the phone.
_RANDOM_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _umr_part(value: str, length: int) -> str:
    return "".join(c for c in value.upper() if c.isascii() and c.isalnum())[:length]


def new_mandate_reference(customer: Customer) -> str:
    """A fresh UMR: `<organisation>-<customer ref>-<8 random>`, at most 35 characters, unused by the creditor."""
    prefix = f"{_umr_part(customer.organisation.slug, 8) or 'M'}-{_umr_part(customer.ref, 16) or customer.pk}"
    while True:
        reference = f"{prefix}-{''.join(secrets.choice(_RANDOM_ALPHABET) for _ in range(8))}"[-35:]
        if not Mandate.objects.filter(organisation_id=customer.organisation_id, reference=reference).exists():
            return reference


def _checked_iban(value: str) -> IBAN:
    compact = "".join(value.split()).upper()
    try:
        iban = IBAN(compact)
    except SchwiftyException as error:
        # Masked: a mistyped IBAN is still almost the whole account number, and refusals are shown and logged.
        raise MandateRefused(reason=_("%(iban)s is not a valid IBAN (%(why)s)") % {
            "iban": masked_iban(compact), "why": error}) from error
    if not iban.in_sepa_zone:
        raise MandateRefused(reason=_("accounts in %(country)s cannot be debited by SEPA direct debit") % {
            "country": iban.country_code})
    return iban


def sign_mandate_online(*, customer: Customer, iban: str, holder_name: str, consent: bool, ip: str | None,
                        scheme: str = Mandate.Scheme.CORE, now: datetime | None = None) -> Mandate:
    """Record a mandate the customer signed in the portal and email them the signed mandate; return it.

    Refused (MandateRefused, nothing written): no consent, an empty holder
    name, an invalid IBAN or one outside the SEPA zone, an organisation
    without a creditor identifier. The new mandate becomes the customer's
    active one: an earlier active mandate is revoked as replaced. The
    customer's row is locked meanwhile, so two signatures at once still
    leave one active mandate.
    """
    organisation = customer.organisation
    holder_name = " ".join((holder_name or "").split())
    if not consent:
        raise MandateRefused(reason=_("tick the box to accept the mandate"))
    if not holder_name:
        raise MandateRefused(reason=_("give the account holder's name"))
    if not organisation.creditor_id:
        raise MandateRefused(reason=_("%(organisation)s has no SEPA creditor identifier yet") % {
            "organisation": organisation.name})
    if scheme not in Mandate.Scheme.values:
        raise MandateRefused(reason=_("unknown scheme %(scheme)s") % {"scheme": scheme})
    checked = _checked_iban(iban)
    if not customer.email:
        raise MandateRefused(reason=_("your account has no email address to send the signed mandate to"))
    now = now or timezone.now()
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one signature at a time
        reference = new_mandate_reference(customer)
        try:
            bic = str(checked.bic) if checked.bic else ""
        except SchwiftyException:
            bic = ""  # schwifty knows no bank for this code: the BIC is optional in SEPA
        language = mandate_language(customer)
        mandate = Mandate.objects.create(
            organisation=organisation, customer=customer, reference=reference, iban=checked.compact, bic=bic,
            account_holder=holder_name[:140], signed_on=timezone.localdate(now), scheme=scheme,
            source=Mandate.Source.PORTAL, signed_at=now, signature_ip=ip or None,
            text=mandate_text(organisation, language=language, scheme=scheme, reference=reference,
                              holder_name=holder_name, iban=checked.compact))
        replaced = list(Mandate.objects.select_for_update()
                        .filter(customer=customer, status=Mandate.Status.ACTIVE).exclude(pk=mandate.pk))
        for earlier in replaced:
            _revoke(earlier, reason=f"replaced by {reference}", now=now, by=None)
        record_event(mandate, "mandate_signed", data={"source": "portal", "ip": ip or "",
                                                      "replaced": [m.reference for m in replaced]})
        # Signing authorises the debits: a customer not collected automatically yet now is, by this mandate.
        if switch_collect_by(customer.pk, when=Customer.CollectBy.NOTHING, to=Customer.CollectBy.DIRECT_DEBIT,
                             by=None, why="mandate signed"):
            customer.collect_by = Customer.CollectBy.DIRECT_DEBIT
        queue_email(organisation=organisation, template_code="mandate_signed", to=customer.email,
                    language=language, related=mandate, idempotency_key=f"mandate:{mandate.pk}:signed",
                    context={"customer_name": customer.name, "reference": reference,
                             "masked_iban": mandate.masked_iban, "creditor_id": organisation.creditor_id,
                             "signed_on": mandate.signed_on, "mandate_text": mandate.text})
    return mandate


def _revoke(mandate: Mandate, *, reason: str, now: datetime, by: Any) -> None:
    mandate.status, mandate.revoked_at, mandate.revoked_reason = Mandate.Status.REVOKED, now, reason[:200]
    mandate.save(update_fields=["status", "revoked_at", "revoked_reason"])
    record_event(mandate, "mandate_revoked", by=by, data={"reason": mandate.revoked_reason})


@transaction.atomic
def revoke_mandate(mandate: Mandate, *, reason: str, by: Any = None) -> Mandate:
    """Stop collecting under a mandate (the debtor withdrew it); the row, its text and its proof stay.

    Revoking a revoked mandate changes nothing; a lapsed one is refused
    (it is already unusable, and its status says why). Revoking the last
    active mandate of a customer collected by direct debit stops their
    automatic collection (collect_by back to nothing).
    """
    reason = (reason or "").strip()
    if not reason:
        raise MandateNotRevocable(reason=_("say why it is revoked"))
    # The customer first, as signing does: no mandate is signed meanwhile, and the two never deadlock.
    customer = Customer.objects.select_for_update().get(pk=mandate.customer_id)
    mandate = Mandate.objects.select_for_update().get(pk=mandate.pk)
    if mandate.status == Mandate.Status.REVOKED:
        return mandate
    if mandate.status != Mandate.Status.ACTIVE:
        raise MandateNotRevocable(reason=_("it is %(status)s") % {"status": mandate.get_status_display()})
    _revoke(mandate, reason=reason, now=timezone.now(), by=by)
    if customer.collect_by == Customer.CollectBy.DIRECT_DEBIT and current_mandate(customer) is None:
        switch_collect_by(mandate.customer_id, when=Customer.CollectBy.DIRECT_DEBIT, to=Customer.CollectBy.NOTHING,
                          by=by, why="last mandate revoked")
    return mandate


__all__ = ["MandateNotRevocable", "MandateRefused", "mandate_language", "mandate_text", "new_mandate_reference",
           "revoke_mandate", "sign_mandate_online"]
