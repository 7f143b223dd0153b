"""Choosing how a customer is collected automatically, what collection would use, and the choice kept consistent."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from encaisse.core.audit import events_for
from encaisse.parties.models import Customer
from encaisse.payments.methods import expire_methods, revoke_method
from encaisse.payments.models import ProviderAccount, SavedMethod, SavedMethodStatus
from encaisse.sepa.models import Mandate
from encaisse.sepa.preferences import CollectionRefused, choose_collection_method, collection_method_for
from encaisse.sepa.services import revoke_mandate, sign_mandate_online

CollectBy = Customer.CollectBy
COMPACT = "FR7630006000011234567890189"


@pytest.fixture
def creditor(org):
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    return org


@pytest.fixture
def account(org):
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code="pressing-sandbox",
                                          name="Carte (sandbox)")


@pytest.fixture
def neighbour(org):
    return Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")


def card(customer, account, token, *, default=False, expiry=(12, 2030)) -> SavedMethod:
    return SavedMethod.objects.create(
        organisation=customer.organisation, customer=customer, provider_account=account, token=token,
        brand="visa", last4=token[-4:], exp_month=expiry[0], exp_year=expiry[1], is_default=default,
        consent_text="I allow…", consent_at=timezone.now() - timedelta(days=1))


def mandate(customer, reference, *, signed_on=date(2026, 1, 5), status=Mandate.Status.ACTIVE) -> Mandate:
    return Mandate.objects.create(organisation=customer.organisation, customer=customer, reference=reference,
                                  iban=COMPACT, signed_on=signed_on, status=status)


def collect_by(customer) -> str:
    customer.refresh_from_db(fields=["collect_by"])
    return customer.collect_by


def changes(customer) -> list[dict]:
    return [e.data for e in events_for(customer).filter(verb="collection_method_changed").order_by("pk")]


# --- what collection would use -----------------------------------------------------------------------------------

def test_nothing_chosen_is_not_usable_and_says_the_customer_pays_themselves(customer):
    method = collection_method_for(customer)

    assert (method.kind, method.card, method.mandate, method.usable) == (CollectBy.NOTHING, None, None, False)
    assert "pays each invoice" in method.reason


def test_by_card_uses_the_default_active_card(customer, account):
    card(customer, account, "pm_1111")
    default = card(customer, account, "pm_4242", default=True)
    customer.collect_by = CollectBy.CARD

    method = collection_method_for(customer)

    assert (method.card, method.usable, method.reason) == (default, True, "")


@pytest.mark.parametrize(("setup", "reason"), [
    ("none", "no active default card"),
    ("expired", "expired at the end of 01/2020"),
    ("revoked", "no active default card"),
    ("disabled", "provider account is disabled"),
])
def test_by_card_without_a_usable_default_card_says_why(customer, account, setup, reason):
    if setup != "none":
        expiry = (1, 2020) if setup == "expired" else (12, 2030)
        chosen = card(customer, account, "pm_4242", default=True, expiry=expiry)
        if setup == "revoked":
            chosen.status, chosen.is_default = SavedMethodStatus.REVOKED, False
            chosen.save()
        if setup == "disabled":
            account.active = False
            account.save()
    customer.collect_by = CollectBy.CARD

    method = collection_method_for(customer)

    assert not method.usable
    assert reason in method.reason


def test_by_direct_debit_uses_the_most_recently_signed_active_mandate(customer, creditor):
    mandate(customer, "UMR-OLD", signed_on=date(2025, 1, 1))
    newest = mandate(customer, "UMR-NEW", signed_on=date(2026, 2, 1))
    mandate(customer, "UMR-GONE", signed_on=date(2026, 3, 1), status=Mandate.Status.REVOKED)
    customer.collect_by = CollectBy.DIRECT_DEBIT

    method = collection_method_for(customer)

    assert (method.mandate, method.usable) == (newest, True)


def test_by_direct_debit_without_an_active_mandate_or_creditor_id_is_not_usable(customer, org):
    customer.collect_by = CollectBy.DIRECT_DEBIT
    assert "no active direct-debit mandate" in collection_method_for(customer).reason

    mandate(customer, "UMR-1")
    method = collection_method_for(customer)
    assert not method.usable
    assert "creditor identifier" in method.reason


# --- choosing ----------------------------------------------------------------------------------------------------

def test_choosing_a_card_makes_it_the_default_and_collects_by_card(customer, account, clerk):
    first = card(customer, account, "pm_1111", default=True)
    second = card(customer, account, "pm_4242")

    method = choose_collection_method(customer, card=second, by=clerk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert collect_by(customer) == CollectBy.CARD
    assert (method.kind, method.card, method.usable) == (CollectBy.CARD, second, True)
    assert changes(customer) == [{"from": "", "to": "card", "why": "chosen", "card": second.pk, "mandate": None}]
    assert events_for(customer).get(verb="collection_method_changed").by == clerk


def test_choosing_the_mandate_collects_by_direct_debit(customer, creditor, account):
    card(customer, account, "pm_4242", default=True)
    customer.collect_by = CollectBy.CARD
    customer.save()
    current = mandate(customer, "UMR-1")

    method = choose_collection_method(customer, mandate=current, by=None)

    assert collect_by(customer) == CollectBy.DIRECT_DEBIT
    assert (method.mandate, method.usable) == (current, True)
    assert changes(customer)[-1]["to"] == "direct_debit"


def test_choosing_neither_stops_automatic_collection_and_keeps_the_card(customer, account):
    default = card(customer, account, "pm_4242", default=True)
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.CARD)

    method = choose_collection_method(customer, by=None)

    assert collect_by(customer) == CollectBy.NOTHING
    assert (method.kind, method.usable) == (CollectBy.NOTHING, False)
    default.refresh_from_db()
    assert (default.is_default, default.status) == (True, SavedMethodStatus.ACTIVE)


def test_choosing_what_is_already_chosen_records_nothing(customer, account):
    default = card(customer, account, "pm_4242", default=True)
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.CARD)

    choose_collection_method(customer, card=default, by=None)

    assert changes(customer) == []


def _refusals(customer, neighbour, account):
    theirs = card(neighbour, account, "pm_9999", default=True)
    revoked = card(customer, account, "pm_0000")
    revoked.status = SavedMethodStatus.REVOKED
    revoked.save()
    expired = card(customer, account, "pm_2020", expiry=(1, 2020))
    their_mandate = mandate(neighbour, "UMR-PAUL")
    lapsed = mandate(customer, "UMR-LAPSED", status=Mandate.Status.LAPSED)
    older = mandate(customer, "UMR-OLDER", signed_on=date(2025, 1, 1))
    mandate(customer, "UMR-NEWER", signed_on=date(2026, 1, 1))
    mine = card(customer, account, "pm_4242", default=True)
    return {
        "theirs": ({"card": theirs}, "not one of the customer's methods"),
        "revoked": ({"card": revoked}, "the card is Revoked"),
        "expired": ({"card": expired}, "the card has expired"),
        "their mandate": ({"mandate": their_mandate}, "not one of the customer's mandates"),
        "lapsed": ({"mandate": lapsed}, "the mandate is Lapsed"),
        "replaced": ({"mandate": older}, "UMR-OLDER is replaced by UMR-NEWER"),
        "both": ({"card": mine, "mandate": older}, "not both"),
    }


@pytest.mark.parametrize("case", ["theirs", "revoked", "expired", "their mandate", "lapsed", "replaced", "both"])
def test_a_refused_choice_says_why_and_changes_nothing(customer, neighbour, account, case):
    kwargs, message = _refusals(customer, neighbour, account)[case]
    defaults_before = set(SavedMethod.objects.filter(is_default=True).values_list("pk", flat=True))

    with pytest.raises(CollectionRefused, match=message):
        choose_collection_method(customer, by=None, **kwargs)

    assert collect_by(customer) == CollectBy.NOTHING
    assert set(SavedMethod.objects.filter(is_default=True).values_list("pk", flat=True)) == defaults_before
    assert changes(customer) == []


# --- kept consistent when methods change -------------------------------------------------------------------------

def test_revoking_the_default_card_of_a_customer_collected_by_card_stops_collection(customer, account, clerk):
    default = card(customer, account, "pm_4242", default=True)
    other = card(customer, account, "pm_1111")
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.CARD)

    revoke_method(default, reason="lost", by=clerk)

    assert collect_by(customer) == CollectBy.NOTHING
    other.refresh_from_db()
    assert not other.is_default  # no other card takes its place by itself
    assert changes(customer) == [{"from": "card", "to": "", "why": "default card revoked"}]


def test_revoking_another_card_or_a_card_under_direct_debit_keeps_the_choice(customer, account, creditor):
    default = card(customer, account, "pm_4242", default=True)
    other = card(customer, account, "pm_1111")
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.CARD)

    revoke_method(other, reason="old", by=None)
    assert collect_by(customer) == CollectBy.CARD

    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.DIRECT_DEBIT)
    revoke_method(default, reason="lost", by=None)
    assert collect_by(customer) == CollectBy.DIRECT_DEBIT
    assert changes(customer) == []


def test_an_expired_default_card_stops_collection_by_card(customer, neighbour, account):
    card(customer, account, "pm_4242", default=True, expiry=(1, 2026))
    card(neighbour, account, "pm_9999", default=True, expiry=(1, 2026))
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.CARD)
    Customer.objects.filter(pk=neighbour.pk).update(collect_by=CollectBy.DIRECT_DEBIT)

    assert expire_methods(date(2026, 2, 1)) == 2

    assert collect_by(customer) == CollectBy.NOTHING
    assert collect_by(neighbour) == CollectBy.DIRECT_DEBIT
    assert changes(customer) == [{"from": "card", "to": "", "why": "default card expired"}]


def sign(customer):
    return sign_mandate_online(customer=customer, iban=COMPACT, holder_name="Jeanne Martin", consent=True,
                               ip="203.0.113.7", now=datetime(2026, 3, 2, 9, 30, tzinfo=UTC))


def test_signing_a_first_mandate_collects_by_direct_debit(customer, creditor):
    signed = sign(customer)

    assert collect_by(customer) == CollectBy.DIRECT_DEBIT
    assert collection_method_for(customer).mandate == signed
    assert changes(customer) == [{"from": "", "to": "direct_debit", "why": "mandate signed"}]


def test_signing_a_mandate_keeps_a_customer_collected_by_card(customer, creditor):
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.CARD)

    sign(customer)

    assert collect_by(customer) == CollectBy.CARD
    assert changes(customer) == []


def test_revoking_the_last_active_mandate_stops_collection_by_direct_debit(customer, creditor, clerk):
    first = sign(customer)
    second = sign(customer)  # replaces the first: still collected by direct debit
    assert collect_by(customer) == CollectBy.DIRECT_DEBIT

    revoke_mandate(second, reason="the customer closed the account", by=clerk)

    first.refresh_from_db()
    assert first.status == Mandate.Status.REVOKED
    assert collect_by(customer) == CollectBy.NOTHING
    assert changes(customer)[-1] == {"from": "direct_debit", "to": "", "why": "last mandate revoked"}
    assert events_for(customer).filter(verb="collection_method_changed").last().by == clerk


def test_revoking_one_of_two_active_mandates_keeps_direct_debit(customer, creditor):
    older, newer = mandate(customer, "UMR-1", signed_on=date(2025, 1, 1)), mandate(customer, "UMR-2")
    Customer.objects.filter(pk=customer.pk).update(collect_by=CollectBy.DIRECT_DEBIT)

    revoke_mandate(newer, reason="replaced on paper", by=None)

    assert collect_by(customer) == CollectBy.DIRECT_DEBIT
    assert collection_method_for(customer).mandate == older


def test_the_first_card_kept_collects_by_card_a_customer_not_collected_yet(org, customer, neighbour, clerk):
    from encaisse.payments.providers.sandbox.tests.helpers import keep_card, sale, sandbox_account

    account = sandbox_account(org)
    Customer.objects.filter(pk=neighbour.pk).update(collect_by=CollectBy.DIRECT_DEBIT)

    first = keep_card(customer, sale(customer, clerk), account)
    keep_card(customer, sale(customer, clerk, "10.00"), account, "4000 0000 0000 0341")
    keep_card(neighbour, sale(neighbour, clerk), account)

    assert first.is_default
    assert collect_by(customer) == CollectBy.CARD
    assert changes(customer) == [{"from": "", "to": "card", "why": "first card kept"}]
    assert collect_by(neighbour) == CollectBy.DIRECT_DEBIT  # a choice already made stays
    assert changes(neighbour) == []
