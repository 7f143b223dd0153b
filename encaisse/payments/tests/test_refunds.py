"""Refunding a provider payment (through the Stripe fake) and a customer's advance (offline)."""

from datetime import date

import pytest

from encaisse.core.money import Money
from encaisse.ledger.models import Account, Entry, Journal, Settlement
from encaisse.ledger.selectors import customer_balance
from encaisse.ledger.services import EntryDraft, LineDraft, account_of_kind, journal_of_kind, post_entry
from encaisse.ledger.verify import verify_ledger
from encaisse.payments import online
from encaisse.payments.errors import RefundRefused
from encaisse.payments.models import AdvanceRefund, AttemptKind, PaymentAttempt
from encaisse.payments.refunds import refund_advance, refund_attempt, refund_split, refundable
from encaisse.payments.services import advance_balance, record_offline_payment

MARCH_1 = date(2026, 3, 1)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def sale(customer, clerk, amount: Money, *, credit: bool = False) -> Entry:
    """A sale on the customer's account (411 debit, 706 credit), or with `credit` its credit note (the reverse).

    Written on the ledger directly: payments sit below invoicing and may not use it.
    """
    org = customer.organisation
    sign = -1 if credit else 1
    key = f"test:{'credit' if credit else 'sale'}:{Entry.objects.count()}"
    return post_entry(org, EntryDraft(
        journal=journal_of_kind(org, Journal.Kind.SALES), date=MARCH_1, label=key,
        lines=(LineDraft.signed(account_of_kind(org, Account.Kind.RECEIVABLE), Money(sign * amount.minor, "EUR"),
                                party=customer, due_on=MARCH_1),
               LineDraft.signed(account_of_kind(org, Account.Kind.REVENUE), Money(-sign * amount.minor, "EUR")))),
        idempotency_key=key, by=clerk)


def paid_through_stripe(customer, clerk, account, fake, amount: str = "100.00") -> PaymentAttempt:
    """A sale of `amount` paid in full on Stripe Checkout (the payer pays on the fake's page), booked."""
    due = eur(amount)
    line = sale(customer, clerk, due).lines.get(account__kind=Account.Kind.RECEIVABLE)
    attempt, session = online.start_checkout(customer=customer, amount=due, line_ids=[line.pk],
                                             provider_account=account, return_url="https://shop.example/back/")
    fake.pay_checkout(session.provider_reference)
    attempt = online.refresh_attempt(attempt)
    assert attempt.status == "succeeded"
    return attempt


def refunds_at_stripe(fake) -> list[dict]:
    return [obj for obj in fake.objects.values() if obj.get("object") == "refund"]


def refund_entries(refund: PaymentAttempt) -> int:
    return Entry.objects.filter(idempotency_key=f"attempt:{refund.pk}:refund").count()


def assert_balanced(entry: Entry) -> None:
    lines = list(entry.lines.all())
    assert sum(line.debit_minor for line in lines) == sum(line.credit_minor for line in lines) > 0


@pytest.mark.django_db
def test_a_full_refund_goes_back_through_stripe_and_the_customer_owes_the_sale_again(
        org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)

    refund = refund_attempt(attempt=payment, amount=eur("100.00"), reason="Service not delivered", key="k1", by=clerk)

    assert (refund.kind, refund.status, refund.refund_of_id) == (AttemptKind.REFUND, "succeeded", payment.pk)
    assert refund.provider_reference.startswith("re_")
    [at_stripe] = refunds_at_stripe(fake_stripe)
    assert at_stripe["amount"] == 10000
    entry = refund.settled_entry
    assert entry.idempotency_key == f"attempt:{refund.pk}:refund"
    assert_balanced(entry)
    by_account = {line.account.code: (line.debit_minor, line.credit_minor) for line in entry.lines.all()}
    assert by_account == {"467": (0, 10000), "411": (10000, 0)}
    assert entry.lines.get(account__code="411").due_on == entry.date
    assert customer_balance(customer) == eur("100.00")  # the sale is owed again
    assert refundable(payment) == eur("0.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_partial_refunds_add_up_to_the_payment_and_no_further(org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)

    first = refund_attempt(attempt=payment, amount=eur("30.00"), reason="Late", key="k1", by=clerk)
    second = refund_attempt(attempt=payment, amount=eur("70.00"), reason="Cancelled", key="k2", by=clerk)
    entries = Entry.objects.count()
    with pytest.raises(RefundRefused, match=r"only 0.00 EUR can still be refunded"):
        refund_attempt(attempt=payment, amount=eur("0.01"), reason="Again", key="k3", by=clerk)

    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert [r["amount"] for r in refunds_at_stripe(fake_stripe)] == [3000, 7000]
    assert Entry.objects.count() == entries
    assert PaymentAttempt.objects.filter(kind=AttemptKind.REFUND).count() == 2
    assert customer_balance(customer) == eur("100.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_refunding_more_than_refundable_is_refused_and_writes_nothing(
        org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)
    refund_attempt(attempt=payment, amount=eur("60.00"), reason="Part", key="k1", by=clerk)
    attempts, entries, calls = PaymentAttempt.objects.count(), Entry.objects.count(), len(fake_stripe.requests)

    with pytest.raises(RefundRefused, match=r"only 40.00 EUR can still be refunded"):
        refund_attempt(attempt=payment, amount=eur("40.01"), reason="Too much", key="k2", by=clerk)

    assert (PaymentAttempt.objects.count(), Entry.objects.count(), len(fake_stripe.requests)) == (
        attempts, entries, calls)


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "reason", "currency", "message"), [
    ("0.00", "x", "EUR", "more than zero"),
    ("10.00", "  ", "EUR", "say why"),
    ("10.00", "x", "USD", "made in EUR"),
])
def test_a_refund_with_bad_input_is_refused(customer, clerk, fake_stripe, stripe_account, amount, reason, currency,
                                            message):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)

    with pytest.raises(RefundRefused, match=message):
        refund_attempt(attempt=payment, amount=Money.of(amount, currency), reason=reason, key="k1", by=clerk)

    assert not PaymentAttempt.objects.filter(kind=AttemptKind.REFUND).exists()


@pytest.mark.django_db
def test_a_payment_that_did_not_succeed_cannot_be_refunded(org, customer, clerk, fake_stripe, stripe_account):
    line = sale(customer, clerk, eur("60.00")).lines.get(account__kind=Account.Kind.RECEIVABLE)
    pending, _session = online.start_checkout(customer=customer, amount=eur("60.00"),
                                              line_ids=[line.pk], provider_account=stripe_account,
                                              return_url="https://shop.example/back/")
    declined = PaymentAttempt.objects.create(
        organisation=org, customer=customer, provider_account=stripe_account, kind=AttemptKind.CHECKOUT,
        amount_minor=6000, currency="EUR", idempotency_key="checkout:declined", status="declined")

    for attempt in (pending, declined):
        with pytest.raises(RefundRefused, match="only a succeeded payment can be refunded"):
            refund_attempt(attempt=attempt, amount=eur("10.00"), reason="x", key=f"k-{attempt.pk}", by=clerk)
    assert not PaymentAttempt.objects.filter(kind=AttemptKind.REFUND).exists()


@pytest.mark.django_db
def test_a_refund_stripe_declines_is_recorded_declined_and_nothing_is_booked(
        org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)
    balance = customer_balance(customer)
    fake_stripe.fail_next(402, error_type="card_error", code="expired_or_canceled_card")

    refund = refund_attempt(attempt=payment, amount=eur("100.00"), reason="x", key="k1", by=clerk)

    assert (refund.status, refund.decline_code) == ("declined", "expired_or_canceled_card")
    assert refund.settled_entry is None
    assert refund_entries(refund) == 0
    assert customer_balance(customer) == balance
    assert refundable(payment) == eur("100.00")  # a declined refund does not count


@pytest.mark.django_db
def test_a_refund_stripe_refuses_as_invalid_is_not_processed_and_nothing_is_booked(
        customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)
    # Refunded meanwhile in Stripe's own dashboard: Stripe refuses more than is left on the charge.
    charge = next(obj for obj in fake_stripe.objects.values() if obj.get("object") == "charge")
    charge["amount_refunded"] = 5000

    refund = refund_attempt(attempt=payment, amount=eur("100.00"), reason="x", key="k1", by=clerk)

    assert refund.status == "not_processed"
    assert "greater than unrefunded amount" in refund.message
    assert refund_entries(refund) == 0


@pytest.mark.django_db
def test_the_same_key_twice_refunds_once(org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)

    first = refund_attempt(attempt=payment, amount=eur("40.00"), reason="x", key="k1", by=clerk)
    again = refund_attempt(attempt=payment, amount=eur("40.00"), reason="x", key="k1", by=clerk)

    assert first.pk == again.pk
    assert len(refunds_at_stripe(fake_stripe)) == 1
    assert refund_entries(first) == 1
    assert customer_balance(customer) == eur("40.00")


@pytest.mark.django_db
def test_a_timed_out_refund_is_unknown_then_sent_again_under_its_key_and_booked_once(
        org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)
    fake_stripe.stall_next(1.0)  # Stripe refunds, but the answer comes after our 0.5 s timeout

    lost = refund_attempt(attempt=payment, amount=eur("100.00"), reason="x", key="k1", by=clerk)
    assert lost.status == "unknown"
    assert refund_entries(lost) == 0
    assert refundable(payment) == eur("0.00")  # an unknown refund may have happened: no second one meanwhile
    with pytest.raises(RefundRefused):
        refund_attempt(attempt=payment, amount=eur("1.00"), reason="x", key="k2", by=clerk)

    # The same form sent again: the same key, and Stripe replays its first answer.
    found = refund_attempt(attempt=payment, amount=eur("100.00"), reason="x", key="k1", by=clerk)

    assert (found.pk, found.status) == (lost.pk, "succeeded")
    assert len(refunds_at_stripe(fake_stripe)) == 1
    assert refund_entries(found) == 1
    assert customer_balance(customer) == eur("100.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_the_periodic_sweep_resolves_a_timed_out_refund(org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)
    fake_stripe.stall_next(1.0)
    lost = refund_attempt(attempt=payment, amount=eur("100.00"), reason="x", key="k1", by=clerk)

    online.resolve_unknown_attempts(older_than_minutes=0)
    online.resolve_unknown_attempts(older_than_minutes=0)  # a second sweep finds nothing left to ask

    assert PaymentAttempt.objects.get(pk=lost.pk).status == "succeeded"
    assert refund_entries(lost) == 1
    refunds_at_stripe = [obj for obj in fake_stripe.objects.values() if obj.get("object") == "refund"]
    assert len(refunds_at_stripe) == 1


@pytest.mark.django_db
def test_refunding_an_overpayment_takes_it_from_the_advance(org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe, amount="60.00")
    # The customer paid the same sale again by transfer: 60.00 held on 419.
    record_offline_payment(customer=customer, method="transfer", amount=eur("60.00"), received_on=MARCH_1,
                           reference="VIR 1", by=clerk)
    assert advance_balance(customer) == eur("60.00")
    assert refund_split(customer, eur("60.00")).owed_again == eur("0.00")

    refund = refund_attempt(attempt=payment, amount=eur("60.00"), reason="Paid twice", key="k1", by=clerk)

    by_account = {line.account.code: (line.debit_minor, line.credit_minor) for line in refund.settled_entry.lines.all()}
    assert by_account == {"467": (0, 6000), "419": (6000, 0)}
    assert advance_balance(customer) == eur("0.00")
    assert customer_balance(customer) == eur("0.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_a_refund_bigger_than_the_advance_takes_the_advance_then_the_rest_is_owed(
        org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)  # 100.00
    record_offline_payment(customer=customer, method="cash", amount=eur("25.00"), received_on=MARCH_1, by=clerk)

    split = refund_split(customer, eur("100.00"))
    refund = refund_attempt(attempt=payment, amount=eur("100.00"), reason="x", key="k1", by=clerk)

    assert (split.from_advance, split.owed_again) == (eur("25.00"), eur("75.00"))
    by_account = {line.account.code: (line.debit_minor, line.credit_minor) for line in refund.settled_entry.lines.all()}
    assert by_account == {"467": (0, 10000), "419": (2500, 0), "411": (7500, 0)}
    assert customer_balance(customer) == eur("75.00")


@pytest.mark.django_db
def test_a_refund_after_a_credit_note_is_lettered_with_it_and_nothing_is_owed(
        org, customer, clerk, fake_stripe, stripe_account):
    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe, amount="60.00")
    credit_note = sale(customer, clerk, eur("60.00"), credit=True)  # the sale paid is cancelled
    assert customer_balance(customer) == eur("-60.00")  # the credit note is open on 411

    split = refund_split(customer, eur("60.00"))
    refund = refund_attempt(attempt=payment, amount=eur("60.00"), reason="Cancelled order", key="k1", by=clerk)

    assert (split.covered, split.owed_again) == (eur("60.00"), eur("0.00"))
    debit = refund.settled_entry.lines.get(account__code="411")
    lettered = Settlement.objects.get(debit_line=debit)
    assert lettered.credit_line_id == credit_note.lines.get(account__kind=Account.Kind.RECEIVABLE).pk
    assert lettered.amount_minor == 6000
    assert customer_balance(customer) == eur("0.00")
    assert verify_ledger(org).ok


# --- Advances refunded offline -----------------------------------------------------------------------------------


@pytest.fixture
def advance(customer, clerk):
    record_offline_payment(customer=customer, method="transfer", amount=eur("80.00"), received_on=MARCH_1,
                           reference="VIR 2", by=clerk)
    return eur("80.00")


@pytest.mark.django_db
def test_an_advance_refunded_by_transfer_debits_419_and_credits_the_bank(org, customer, clerk, advance):
    refund = refund_advance(customer=customer, amount=eur("50.00"), method="transfer", paid_on=MARCH_1,
                            reference="VIR RBT", reason="Closing account", key="a1", by=clerk)
    again = refund_advance(customer=customer, amount=eur("50.00"), method="transfer", paid_on=MARCH_1,
                           reference="VIR RBT", reason="Closing account", key="a1", by=clerk)

    assert again.pk == refund.pk
    assert AdvanceRefund.objects.count() == 1
    assert_balanced(refund.entry)
    by_account = {line.account.code: (line.debit_minor, line.credit_minor) for line in refund.entry.lines.all()}
    assert by_account == {"419": (5000, 0), "512": (0, 5000)}
    assert refund.entry.journal.kind == "bank"
    assert advance_balance(customer) == eur("30.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_an_advance_refunded_in_cash_leaves_the_till(customer, clerk, advance):
    refund = refund_advance(customer=customer, amount=eur("80.00"), method="cash", paid_on=MARCH_1, key="a1",
                            by=clerk)

    assert {line.account.code for line in refund.entry.lines.all()} == {"419", "53"}
    assert advance_balance(customer) == eur("0.00")


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "method", "message"), [
    ("80.01", "transfer", "holds only 80.00 EUR in advance"),
    ("0.00", "transfer", "more than zero"),
    ("-5.00", "cash", "more than zero"),
    ("10.00", "terminal", "by transfer, cheque or cash"),
])
def test_an_advance_refund_beyond_the_advance_or_malformed_is_refused(customer, clerk, advance, amount, method,
                                                                      message):
    entries = Entry.objects.count()

    with pytest.raises(RefundRefused, match=message):
        refund_advance(customer=customer, amount=eur(amount), method=method, paid_on=MARCH_1, key="a1", by=clerk)

    assert Entry.objects.count() == entries
    assert AdvanceRefund.objects.count() == 0
    assert advance_balance(customer) == advance


@pytest.mark.django_db
def test_an_advance_refund_in_another_currency_is_refused(customer, clerk, advance):
    with pytest.raises(RefundRefused, match="works in EUR"):
        refund_advance(customer=customer, amount=Money.of("10.00", "USD"), method="cash", paid_on=MARCH_1, key="a1",
                       by=clerk)


# --- Two clerks at once (PostgreSQL) -------------------------------------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_clerks_refunding_60_of_a_100_payment_at_once_refund_once(
        org, customer, clerk, fake_stripe, stripe_account):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connection

    payment = paid_through_stripe(customer, clerk, stripe_account, fake_stripe)
    together = Barrier(2)

    def refund(key: str) -> str:
        together.wait()
        try:
            return refund_attempt(attempt=payment, amount=eur("60.00"), reason="x", key=key, by=clerk).status
        except RefundRefused:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(refund, ["clerk-a", "clerk-b"]))

    assert outcomes == ["refused", "succeeded"]
    assert [r["amount"] for r in refunds_at_stripe(fake_stripe)] == [6000]
    assert Entry.objects.filter(idempotency_key__endswith=":refund").count() == 1
    assert customer_balance(customer) == eur("60.00")
    assert verify_ledger(org).ok
