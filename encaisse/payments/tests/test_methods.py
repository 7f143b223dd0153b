"""Saved methods: kept once with the consent, default, revoked, expired, and charged off-session."""

from datetime import date
from threading import Event

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from encaisse.core.audit import AuditEvent
from encaisse.ledger.models import Entry
from encaisse.ledger.verify import verify_ledger
from encaisse.parties.models import Customer
from encaisse.payments import methods, online, tasks
from encaisse.payments.errors import PaymentRefused
from encaisse.payments.methods import (
    MethodRefused,
    charge_saved_method,
    consent_text,
    expire_methods,
    revoke_method,
    set_default_method,
)
from encaisse.payments.models import PaymentAttempt, ProviderAccount, SandboxPayment, SavedMethod
from encaisse.payments.providers import adapter_for
from encaisse.payments.providers.sandbox.models import SandboxSavedCard
from encaisse.payments.providers.sandbox.tests.helpers import (
    CARD_CHARGE_ANSWER_LOST,
    CARD_CHARGES_DECLINED,
    CARD_CHARGES_NEED_AUTH,
    checkout_keeping,
    due,
    eur,
    keep_card,
    pay_on_sandbox,
    sale,
    sandbox_account,
)
from encaisse.testing.concurrency import others_wait_for_locks, together


@pytest.fixture
def sandbox(org):
    return sandbox_account(org)


def events(obj, verb: str) -> int:
    return AuditEvent.objects.filter(object_id=str(obj.pk), verb=verb).count()


def settle_entries(attempt) -> int:
    return Entry.objects.filter(idempotency_key=f"attempt:{attempt.pk}:settle").count()


# --- keeping a method ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_card_kept_while_paying_is_recorded_with_the_consent_and_becomes_the_default(org, customer, clerk,
                                                                                        sandbox):
    line = sale(customer, clerk)

    method = keep_card(customer, line, sandbox, expiry=(9, 2031))

    attempt = method.source_attempt
    assert (method.customer, method.organisation, method.provider_account) == (customer, org, sandbox)
    assert (method.kind, method.brand, method.last4, method.exp_month, method.exp_year) == ("card", "visa", "4242",
                                                                                           9, 2031)
    assert method.token.startswith("sbx_pm_")
    assert method.consent_text == consent_text(org) == attempt.request["consent"]["text"]
    assert method.consent_at.isoformat() == attempt.request["consent"]["at"]
    assert method.consent_ip == "203.0.113.7"
    assert (method.status, method.is_default) == ("active", True)
    assert events(method, "method_saved") == 1
    assert due(line) == eur("0.00")
    # Neither side keeps the card number: the sandbox keeps its last four digits and its scenario.
    card = SandboxSavedCard.objects.get(token=method.token)
    assert "4242424242424242" not in str(list(SandboxSavedCard.objects.values()) + list(
        SandboxPayment.objects.values()) + list(SavedMethod.objects.values()))
    assert card.last4 == "4242"


@pytest.mark.django_db
def test_the_same_method_brought_by_a_notification_and_a_fetch_is_kept_once(org, customer, clerk, sandbox):
    line = sale(customer, clerk)
    attempt, _session = checkout_keeping(customer, line, sandbox)
    pay_on_sandbox(attempt)
    adapter = adapter_for(sandbox)
    payment = SandboxPayment.objects.get(reference=attempt.provider_reference)
    body, headers = adapter.notification(payment)
    event = adapter.parse_webhook(body, headers)
    fetched = adapter.fetch(idempotency_key=attempt.idempotency_key, provider_reference=attempt.provider_reference)
    assert event.saved_method == fetched.saved_method is not None  # both carry the same card

    for result in (fetched, fetched):  # a notification, then a fetch (or the reverse): the same method
        online.apply_provider_result(attempt_id=attempt.pk, result=result)

    assert SavedMethod.objects.count() == 1
    assert settle_entries(attempt) == 1


@pytest.mark.django_db
def test_without_consent_nothing_is_kept(org, customer, clerk, sandbox):
    line = sale(customer, clerk)
    attempt, _session = checkout_keeping(customer, line, sandbox, with_consent=False)
    pay_on_sandbox(attempt)

    fetched = adapter_for(sandbox).fetch(idempotency_key=attempt.idempotency_key,
                                         provider_reference=attempt.provider_reference)
    online.apply_provider_result(attempt_id=attempt.pk, result=fetched)

    assert fetched.saved_method is None  # the sandbox was not asked to keep it
    assert PaymentAttempt.objects.get(pk=attempt.pk).status == "succeeded"
    assert SavedMethod.objects.count() == 0


@pytest.mark.django_db
def test_a_second_method_is_kept_without_taking_the_default(org, customer, clerk, sandbox):
    first = keep_card(customer, sale(customer, clerk), sandbox)
    second = keep_card(customer, sale(customer, clerk, "12.00"), sandbox, CARD_CHARGES_DECLINED)

    assert (first.is_default, second.is_default) == (True, False)
    assert second.last4 == "0341"


# --- default, revoke, expiry ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_making_a_method_the_default_takes_it_from_the_other(org, customer, clerk, sandbox):
    first = keep_card(customer, sale(customer, clerk), sandbox)
    second = keep_card(customer, sale(customer, clerk, "12.00"), sandbox)

    set_default_method(second, by=clerk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    assert events(second, "method_made_default") == 1


@pytest.mark.django_db
def test_revoking_keeps_the_row_with_when_and_why_and_it_stops_being_the_default(org, customer, clerk, sandbox):
    method = keep_card(customer, sale(customer, clerk), sandbox)

    revoke_method(method, reason="Customer asked by phone", by=clerk)

    method.refresh_from_db()
    assert (method.status, method.is_default, method.revoked_reason) == ("revoked", False, "Customer asked by phone")
    assert method.revoked_at is not None
    assert method.consent_text  # the consent stays on record
    assert events(method, "method_revoked") == 1
    with pytest.raises(MethodRefused, match="only an active method can be the default"):
        set_default_method(method, by=clerk)


@pytest.mark.django_db
def test_revoking_without_a_reason_is_refused_and_changes_nothing(org, customer, clerk, sandbox):
    method = keep_card(customer, sale(customer, clerk), sandbox)

    with pytest.raises(MethodRefused, match="say why it is revoked"):
        revoke_method(method, reason="  ", by=clerk)

    method.refresh_from_db()
    assert (method.status, method.is_default) == ("active", True)
    assert events(method, "method_revoked") == 0


@pytest.mark.django_db
def test_cards_expire_once_their_expiry_month_has_passed(org, customer, clerk, sandbox):
    with time_machine.travel(date(2026, 2, 1), tick=False):
        march = keep_card(customer, sale(customer, clerk), sandbox, expiry=(3, 2026))
        later = keep_card(customer, sale(customer, clerk, "12.00"), sandbox, expiry=(4, 2026))

    assert expire_methods(date(2026, 3, 31)) == 0  # valid through the end of March
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 4, 1, 1, 0)), tick=False):
        assert tasks.expire_saved_methods.call() == 1  # the daily task

    march.refresh_from_db()
    later.refresh_from_db()
    assert (march.status, march.is_default) == ("expired", False)
    assert later.status == "active"
    assert events(march, "method_expired") == 1


# --- charging off-session ---------------------------------------------------------------------------------------


@pytest.fixture
def card(org, customer, clerk, sandbox):
    """A Visa 4242 kept while paying a first sale."""
    return keep_card(customer, sale(customer, clerk), sandbox)


@pytest.fixture
def next_sale(org, customer, clerk):
    return sale(customer, clerk, "30.00")


def charge(method, line, amount="30.00", key="collect:1", **extra):
    return charge_saved_method(method=method, amount=eur(amount), line_ids=[line.pk], key=key,
                               **extra)


@pytest.mark.django_db
def test_a_charge_of_a_saved_card_settles_what_is_owed_on_467_against_411(org, clerk, card, next_sale):
    attempt = charge(card, next_sale, by=clerk)

    assert (attempt.kind, attempt.status, attempt.saved_method) == ("charge", "succeeded", card)
    assert attempt.idempotency_key == "collect:1"
    assert due(next_sale) == eur("0.00")
    lines = {line.account.code: (line.debit_minor, line.credit_minor) for line in attempt.settled_entry.lines.all()}
    assert lines == {"467": (3000, 0), "411": (0, 3000)}
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_the_same_key_twice_charges_once_and_books_once(card, next_sale):
    first = charge(card, next_sale)
    again = charge(card, next_sale)

    assert again.pk == first.pk
    assert SandboxPayment.objects.filter(idempotency_key="collect:1").count() == 1
    assert settle_entries(first) == 1
    assert due(next_sale) == eur("0.00")


@pytest.mark.django_db
@pytest.mark.parametrize(("number", "code"), [(CARD_CHARGES_DECLINED, "card_declined"),
                                              (CARD_CHARGES_NEED_AUTH, "authentication_required")])
def test_a_card_whose_charges_are_declined_gives_the_code_and_books_nothing(org, customer, clerk, sandbox,
                                                                            next_sale, number, code):
    method = keep_card(customer, sale(customer, clerk), sandbox, number)

    attempt = charge(method, next_sale)

    assert (attempt.status, attempt.decline_code) == ("declined", code)
    assert attempt.settled_entry is None
    assert settle_entries(attempt) == 0
    assert due(next_sale) == eur("30.00")


@pytest.mark.django_db
def test_a_lost_answer_leaves_the_charge_unknown_until_the_sweep_asks_the_provider(org, customer, clerk, sandbox,
                                                                                   next_sale):
    method = keep_card(customer, sale(customer, clerk), sandbox, CARD_CHARGE_ANSWER_LOST)

    attempt = charge(method, next_sale)

    assert attempt.status == "unknown"
    assert due(next_sale) == eur("30.00")  # not booked while unknown
    assert online.resolve_unknown_attempts(older_than_minutes=0) == {"succeeded": 1}
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert due(next_sale) == eur("0.00")
    assert SandboxPayment.objects.filter(idempotency_key="collect:1").count() == 1


@pytest.mark.django_db
def test_an_unknown_charge_asked_again_with_its_key_is_resent_under_the_same_key(org, customer, clerk, sandbox,
                                                                                 next_sale):
    method = keep_card(customer, sale(customer, clerk), sandbox, CARD_CHARGE_ANSWER_LOST)
    assert charge(method, next_sale).status == "unknown"

    again = charge(method, next_sale)  # the collector runs again after a crash

    assert again.status == "succeeded"  # the sandbox replays its first answer under the key
    assert SandboxPayment.objects.filter(idempotency_key="collect:1").count() == 1
    assert settle_entries(again) == 1


def refused_and_nothing_written(call, match: str) -> None:
    attempts, payments = PaymentAttempt.objects.count(), SandboxPayment.objects.count()
    with pytest.raises(PaymentRefused, match=match):
        call()
    assert PaymentAttempt.objects.count() == attempts
    assert SandboxPayment.objects.count() == payments



@pytest.mark.django_db
def test_the_claims_read_compiled_once_returns_what_its_queryset_returns(org, customer, clerk, card, next_sale):
    charge(card, next_sale)  # succeeded under collect:1
    waiting = sale(customer, clerk, "12.00")
    methods._claim_charge(method=card, amount=eur("12.00"), line_ids=[waiting.pk], key="collect:2", by=None)
    neighbour = Customer.objects.create(organisation=org, ref="C777", name="Paul Durand")
    read = methods._KEY_OR_UNDER_WAY

    found = {}
    for key in ("collect:1", "collect:2", "collect:9"):
        for who in (customer, neighbour):
            rows = read.rows(key=key, customer_id=who.pk)
            assert sorted(rows) == sorted(read.queryset(key=key, customer_id=who.pk))  # no order asked
            found[key, who.ref] = sorted(found_key for _pk, found_key, _items in rows)
    # The key's attempt whoever asks, and the customer's own charge under way (collect:2, queued) only for them.
    assert found["collect:1", "C001"] == ["collect:1", "collect:2"]
    assert found["collect:1", "C777"] == ["collect:1"]
    assert found["collect:9", "C001"] == ["collect:2"]
    assert found["collect:9", "C777"] == []

@pytest.mark.django_db
def test_a_revoked_or_expired_method_is_not_charged(clerk, card, next_sale):
    revoke_method(card, reason="Lost card", by=clerk)
    refused_and_nothing_written(lambda: charge(card, next_sale), "this saved method is revoked")


@pytest.mark.django_db
def test_a_card_past_its_expiry_is_not_charged_even_before_the_daily_task(org, customer, clerk, sandbox,
                                                                          next_sale):
    with time_machine.travel(date(2026, 2, 1), tick=False):
        method = keep_card(customer, sale(customer, clerk), sandbox, expiry=(2, 2026))
    with time_machine.travel(date(2026, 3, 2), tick=False):
        refused_and_nothing_written(lambda: charge(method, next_sale), "this card has expired")


@pytest.mark.django_db
def test_more_than_is_due_is_not_charged(card, next_sale):
    refused_and_nothing_written(lambda: charge(card, next_sale, amount="30.01"), "only 30.00 EUR is due")


@pytest.mark.django_db
def test_another_customers_items_are_not_charged(org, clerk, card):
    someone = Customer.objects.create(organisation=org, ref="C-OTHER", name="Someone Else")
    theirs = sale(someone, clerk)

    refused_and_nothing_written(lambda: charge(card, theirs), "not an open item of this customer")
    assert due(theirs) == eur("60.00")


@pytest.mark.django_db
def test_a_key_used_for_another_method_is_refused(org, customer, clerk, sandbox, card, next_sale):
    other = keep_card(customer, sale(customer, clerk, "12.00"), sandbox)
    charge(card, next_sale)

    with pytest.raises(PaymentRefused, match="idempotency key was used for another payment"):
        charge(other, next_sale)


@pytest.mark.django_db
def test_a_provider_that_cannot_charge_saved_methods_is_refused(org, customer, next_sale, card):
    payfip = ProviderAccount.objects.create(organisation=org, provider="payfip", code="mairie-payfip",
                                            name="PayFiP", settings={"client_number": "123456"})
    assert "saved_method" not in adapter_for(payfip).capabilities
    method = SavedMethod.objects.create(organisation=org, customer=customer, provider_account=payfip, token="tok",
                                        consent_text="I agree", consent_at=timezone.now())

    refused_and_nothing_written(lambda: charge(method, next_sale, key="k-payfip"),
                                "cannot charge a saved method")


# --- at the same moment (PostgreSQL: real concurrent transactions) -----------------------------------------------


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_notification_and_a_fetch_at_the_same_moment_keep_the_method_once(org, customer, clerk, sandbox):
    attempt, _session = checkout_keeping(customer, sale(customer, clerk), sandbox)
    pay_on_sandbox(attempt)
    result = adapter_for(sandbox).fetch(idempotency_key=attempt.idempotency_key,
                                        provider_reference=attempt.provider_reference)

    together(4, lambda _i: online.apply_provider_result(attempt_id=attempt.pk, result=result))

    assert SavedMethod.objects.count() == 1
    assert settle_entries(attempt) == 1


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_same_charge_asked_at_the_same_moment_charges_once(card, next_sale):
    attempts = together(4, lambda _i: charge(card, next_sale))

    assert {attempt.pk for attempt in attempts} == {attempts[0].pk}
    assert SandboxPayment.objects.filter(idempotency_key="collect:1").count() == 1
    assert settle_entries(attempts[0]) == 1
    assert due(next_sale) == eur("0.00")


# What one charge may cost, counted inside the test's transaction (each atomic block is a SAVEPOINT and a
# RELEASE): 7 to claim, 1 to mark it sending, the sandbox adapter's 5, 9 to apply, and within applying the
# ledger's 6 to post the entry and 3 to settle the invoice (ledger.services: post_entry and settle take no
# savepoint of their own, and the entry comes back with its lines).
CHARGE_QUERIES = 31


@pytest.mark.django_db
def test_one_off_session_charge_costs_a_fixed_number_of_queries(card, next_sale, django_assert_max_num_queries):
    """Claim, send and apply (entry, settlement, audit events) without reading the same rows twice.

    The count includes the sandbox adapter's own queries and the savepoints of the
    test's transaction; raise it only for a new durable write, never for a re-read.
    """
    ContentType.objects.get_for_model(PaymentAttempt)  # the audit's content type, cached once per process
    with django_assert_max_num_queries(CHARGE_QUERIES):
        attempt = charge(card, next_sale)

    assert attempt.status == "succeeded"
    assert due(next_sale) == eur("0.00")


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_key_claimed_meanwhile_by_another_customers_charge_is_refused_once_the_claim_rolls_back(
        org, customer, clerk, sandbox, card, next_sale):
    """The same key asked for two customers at the same moment (two runs sharing a key by mistake).

    The customer's lock serializes the charges of one customer, so only
    charges of two customers can both look the key up before either claims
    it. The second claim then meets the first's uncommitted row in the unique
    index and waits; once the first commits, the second's insert fails and
    its whole transaction rolls back (a run charges outside any transaction),
    after which its connection must still read the winner to refuse. A table
    lock on the audit trail holds the first claim between its insert and its
    commit until the second is seen waiting. SQLite takes its write lock at
    BEGIN, so there the claims never overlap.
    """
    other = Customer.objects.create(organisation=org, ref="C002", name="Paul Durand", email="paul@example.org")
    other_card = keep_card(other, sale(other, clerk), sandbox)
    other_sale = sale(other, clerk, "30.00")
    audit_locked, first_claimed = Event(), Event()
    seen = []

    def work(i: int):
        if i == 0:  # holds the first claim open between its insert and its commit
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {AuditEvent._meta.db_table} IN SHARE MODE")
                audit_locked.set()
                seen.append(others_wait_for_locks(1))  # the first claim, inserted, waits to write its event
                first_claimed.set()
                seen.append(others_wait_for_locks(2))  # the second claim waits on the first's key
            return None
        if i == 1:
            assert audit_locked.wait(10)
            return charge(card, next_sale, key="collect:race")
        assert first_claimed.wait(10)
        try:
            charge(other_card, other_sale, key="collect:race")
        except PaymentRefused as refused:
            return str(refused), connection.in_atomic_block, due(other_sale)
        return None

    _blocker, winner, loser = together(3, work)

    assert seen == [True, True]
    message, in_transaction, still_due = loser
    assert "this idempotency key was used for another payment" in message
    assert (in_transaction, still_due) == (False, eur("30.00"))
    assert (winner.status, winner.saved_method) == ("succeeded", card)
    assert list(PaymentAttempt.objects.filter(idempotency_key="collect:race").values_list("pk", flat=True)) == [
        winner.pk]
    assert SandboxPayment.objects.filter(idempotency_key="collect:race").count() == 1
    assert events(winner, "charge_started") == 1
    assert due(next_sale) == eur("0.00")
