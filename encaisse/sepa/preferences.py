"""How a customer is collected automatically: by their default card, their current mandate, or not at all.

The choice is `Customer.collect_by`; *which* card or mandate is not stored a
second time. The card is the customer's default active saved method
(payments keeps at most one), the mandate is their most recently signed
active one (signing online revokes the earlier one). Automatic collection
asks `collection_method_for()` and charges only what comes back `usable`;
anything else carries the reason, for the back office to show.

Every change of the choice goes through `choose_collection_method()` (the
portal and the back office) or through the services that keep it
consistent when a method appears or disappears (payments.methods,
sepa.services, the customer import), and each one is audited on the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from encaisse.core.audit import record_event
from encaisse.core.errors import DomainError
from encaisse.parties.models import Customer
from encaisse.payments.methods import set_default_method
from encaisse.payments.models import SavedMethod, SavedMethodStatus

from .models import Mandate

CollectBy = Customer.CollectBy


class CollectionRefused(DomainError):
    code = "collection_refused"
    message = gettext_lazy("This collection method cannot be chosen: %(reason)s")


@dataclass(frozen=True, slots=True)
class CollectionMethod:
    """What automatic collection would use for a customer now, and why not when it cannot."""

    kind: str  # a Customer.CollectBy value
    card: SavedMethod | None = None
    mandate: Mandate | None = None
    reason: str = ""  # empty when usable

    @property
    def usable(self) -> bool:
        return self.kind != CollectBy.NOTHING and not self.reason


def default_card(customer: Customer) -> SavedMethod | None:
    """The customer's default active saved method (at most one: a database constraint)."""
    return (SavedMethod.objects.select_related("provider_account")
            .filter(customer=customer, organisation_id=customer.organisation_id, status=SavedMethodStatus.ACTIVE,
                    is_default=True).first())


def current_mandate(customer: Customer) -> Mandate | None:
    """The customer's most recently signed active mandate: the one a direct debit is collected under."""
    return (Mandate.objects.filter(customer=customer, organisation_id=customer.organisation_id,
                                   status=Mandate.Status.ACTIVE)
            .order_by("-signed_on", "-signed_at", "-pk").first())


def card_expired(card: SavedMethod) -> bool:
    """Past its expiry month today (the rule is SavedMethod.past_expiry's, shared with off-session charges)."""
    return card.past_expiry(timezone.localdate())


def collection_method_for(customer: Customer) -> CollectionMethod:
    """The method automatic collection uses for `customer`, with the reason when it points to nothing usable."""
    kind = customer.collect_by
    if kind == CollectBy.CARD:
        card = default_card(customer)
        if card is None:
            return CollectionMethod(kind, reason=_("the customer has no active default card"))
        if card_expired(card):
            return CollectionMethod(kind, card=card, reason=_("the default card expired at the end of %(date)s") % {
                "date": f"{card.exp_month:02d}/{card.exp_year}"})
        if not card.provider_account.active:
            return CollectionMethod(kind, card=card, reason=_("the card's payment provider account is disabled"))
        return CollectionMethod(kind, card=card)
    if kind == CollectBy.DIRECT_DEBIT:
        mandate = current_mandate(customer)
        if mandate is None:
            return CollectionMethod(kind, reason=_("the customer has no active direct-debit mandate"))
        if not customer.organisation.creditor_id:
            return CollectionMethod(kind, mandate=mandate,
                                    reason=_("the organisation has no SEPA creditor identifier"))
        return CollectionMethod(kind, mandate=mandate)
    return CollectionMethod(CollectBy.NOTHING, reason=_("the customer pays each invoice themselves"))


def switch_collect_by(customer_id: int, *, when: str, to: str, by: Any, why: str) -> bool:
    """Move collect_by from `when` to `to`, audited; say whether it moved.

    For the services that keep the choice consistent (a first mandate
    signed, the last one revoked, an import): one conditional UPDATE, so a
    choice the customer made meanwhile is never overwritten.
    """
    if not Customer.objects.filter(pk=customer_id, collect_by=when).update(collect_by=to):
        return False
    customer = Customer.objects.only("pk", "organisation_id").get(pk=customer_id)
    record_event(customer, "collection_method_changed", by=by, data={"from": when, "to": to, "why": why})
    return True


@transaction.atomic
def choose_collection_method(customer: Customer, *, card: SavedMethod | None = None,
                             mandate: Mandate | None = None, by: Any) -> CollectionMethod:
    """Collect `customer` automatically by `card`, by `mandate`, or (neither) not at all; return the new method.

    A card must be one of the customer's active, unexpired methods: it
    becomes their default. A mandate must be their current active mandate
    (the one collection would use). Anything else is refused with
    CollectionRefused and changes nothing. The customer's row is locked, so
    two choices at once end as one of them, whole.
    """
    if card is not None and mandate is not None:
        raise CollectionRefused(reason=_("choose a card or a mandate, not both"))
    locked = Customer.objects.select_for_update().select_related("organisation").get(pk=customer.pk)
    before = locked.collect_by
    card_changed = False
    if card is not None:
        own = SavedMethod.objects.filter(pk=card.pk, customer=locked, organisation_id=locked.organisation_id).first()
        if own is None:
            raise CollectionRefused(reason=_("this card is not one of the customer's methods"))
        if own.status != SavedMethodStatus.ACTIVE:
            raise CollectionRefused(reason=_("the card is %(status)s") % {"status": own.get_status_display()})
        if card_expired(own):
            raise CollectionRefused(reason=_("the card has expired"))
        previous_card = default_card(locked)
        card_changed = previous_card is None or previous_card.pk != own.pk
        set_default_method(own, by=by)
        wanted = CollectBy.CARD
    elif mandate is not None:
        own_mandate = Mandate.objects.filter(pk=mandate.pk, customer=locked,
                                             organisation_id=locked.organisation_id).first()
        if own_mandate is None:
            raise CollectionRefused(reason=_("this mandate is not one of the customer's mandates"))
        if own_mandate.status != Mandate.Status.ACTIVE:
            raise CollectionRefused(reason=_("the mandate is %(status)s") % {
                "status": own_mandate.get_status_display()})
        current = current_mandate(locked)
        if current is not None and current.pk != own_mandate.pk:
            raise CollectionRefused(reason=_("mandate %(reference)s is replaced by %(current)s") % {
                "reference": own_mandate.reference, "current": current.reference})
        wanted = CollectBy.DIRECT_DEBIT
    else:
        wanted = CollectBy.NOTHING
    if before != wanted:
        locked.collect_by = wanted
        locked.save(update_fields=["collect_by"])
    if before != wanted or card_changed:
        record_event(locked, "collection_method_changed", by=by, data={
            "from": before, "to": wanted, "why": "chosen",
            "card": card.pk if card is not None else None, "mandate": mandate.pk if mandate is not None else None})
    customer.collect_by = wanted
    return collection_method_for(locked)


__all__ = ["CollectionMethod", "CollectionRefused", "card_expired", "choose_collection_method",
           "collection_method_for", "current_mandate", "default_card", "switch_collect_by"]
