"""Refunding a provider payment and paying back an advance from the back office."""

from datetime import date

import pytest
from django.urls import reverse

from encaisse.core.money import Money
from encaisse.ledger.selectors import customer_balance
from encaisse.payments.models import AdvanceRefund, AttemptKind, PaymentAttempt, ProviderAccount
from encaisse.payments.services import advance_balance, record_offline_payment
from encaisse.payments.tests.test_refunds import paid_through_stripe, refunds_at_stripe


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


@pytest.fixture
def payment(customer, clerk, fake_stripe, stripe_account):
    return paid_through_stripe(customer, clerk, stripe_account, fake_stripe)  # 100.00


@pytest.mark.django_db
def test_the_refund_page_shows_the_payment_and_what_the_refund_will_do(staff, customer, clerk, payment):
    record_offline_payment(customer=customer, method="cash", amount=eur("25.00"), received_on=date(2026, 3, 1),
                           by=clerk)

    page = staff.get(reverse("staff:attempt_refund", args=[payment.pk])).content.decode()

    assert "Carte (Stripe)" in page
    assert payment.provider_reference in page
    assert 'name="amount" value="100.00"' in page  # prefilled with what can still be refunded
    assert 'name="token"' in page
    assert "take €25.00 from the customer's advance" in page
    assert "leave €75.00 owed again by the customer" in page


@pytest.mark.django_db
def test_a_refund_from_the_back_office_is_made_once_and_says_so(staff, customer, payment, fake_stripe):
    url = reverse("staff:attempt_refund", args=[payment.pk])
    form = {"amount": "40.00", "reason": "Damaged shirt", "token": "t1"}

    done = staff.post(url, form, follow=True)
    staff.post(url, form)  # the same form again (double click, back button)

    assert "Refund of €40.00 made and booked." in done.content.decode()
    refund = PaymentAttempt.objects.get(kind=AttemptKind.REFUND)
    assert (refund.status, refund.amount, refund.request["reason"]) == ("succeeded", eur("40.00"), "Damaged shirt")
    assert len(refunds_at_stripe(fake_stripe)) == 1
    assert customer_balance(customer) == eur("40.00")
    page = staff.get(url).content.decode()
    assert 'name="amount" value="60.00"' in page
    assert "Damaged shirt" in page  # listed among the refunds already made


@pytest.mark.django_db
def test_a_refund_the_provider_refuses_shows_its_code_and_message(staff, payment, fake_stripe):
    fake_stripe.fail_next(402, error_type="card_error", code="expired_or_canceled_card")

    done = staff.post(reverse("staff:attempt_refund", args=[payment.pk]),
                      {"amount": "100.00", "reason": "x", "token": "t1"}, follow=True)

    assert "The provider refused the refund of €100.00: expired_or_canceled_card" in done.content.decode()
    assert PaymentAttempt.objects.get(kind=AttemptKind.REFUND).settled_entry is None


@pytest.mark.django_db
def test_a_refund_beyond_what_is_left_is_shown_as_an_error_and_writes_nothing(staff, payment):
    page = staff.post(reverse("staff:attempt_refund", args=[payment.pk]),
                      {"amount": "100.01", "reason": "x", "token": "t1"})

    assert page.status_code == 200
    assert "only 100.00 EUR can still be refunded" in page.content.decode()
    assert not PaymentAttempt.objects.filter(kind=AttemptKind.REFUND).exists()


@pytest.mark.django_db
def test_a_refund_needs_a_reason(staff, payment):
    page = staff.post(reverse("staff:attempt_refund", args=[payment.pk]), {"amount": "10.00", "token": "t1"})

    assert page.status_code == 200
    assert "This field is required." in page.content.decode()
    assert not PaymentAttempt.objects.filter(kind=AttemptKind.REFUND).exists()


@pytest.mark.django_db
def test_staff_cannot_refund_another_organisations_payment(staff, other_org, other_customer):
    account = ProviderAccount.objects.create(organisation=other_org, provider="stripe", code="bourg-stripe", name="S")
    theirs = PaymentAttempt.objects.create(
        organisation=other_org, customer=other_customer, provider_account=account, kind=AttemptKind.CHECKOUT,
        amount_minor=3300, currency="EUR", idempotency_key="checkout:theirs", status="succeeded",
        provider_reference="pi_theirs")
    url = reverse("staff:attempt_refund", args=[theirs.pk])

    assert staff.get(url).status_code == 404
    assert staff.post(url, {"amount": "33.00", "reason": "x", "token": "t1"}).status_code == 404
    assert not PaymentAttempt.objects.filter(kind=AttemptKind.REFUND).exists()


# --- Advances ------------------------------------------------------------------------------------------------------


@pytest.fixture
def advance(customer, clerk):
    record_offline_payment(customer=customer, method="transfer", amount=eur("80.00"), received_on=date(2026, 3, 1),
                           reference="VIR 1", by=clerk)


def advance_form(token: str, **values):
    return {"amount": "50.00", "method": "transfer", "paid_on": "2026-03-20", "reference": "VIR RBT",
            "reason": "Account closed", "token": token, **values}


@pytest.mark.django_db
@pytest.mark.usefixtures("advance")
def test_an_advance_is_paid_back_from_the_back_office_once(staff, customer):
    url = reverse("staff:advance_refund", args=[customer.pk])
    page = staff.get(url).content.decode()
    assert "This customer holds €80.00 in advance." in page
    assert 'name="amount" value="80.00"' in page

    done = staff.post(url, advance_form("t1"), follow=True)
    staff.post(url, advance_form("t1"))

    assert "€50.00 of advance paid back to Jeanne Martin" in done.content.decode()
    refund = AdvanceRefund.objects.get()
    assert {line.account.code for line in refund.entry.lines.all()} == {"419", "512"}
    assert advance_balance(customer) == eur("30.00")


@pytest.mark.django_db
@pytest.mark.usefixtures("advance")
def test_paying_back_more_than_the_advance_is_refused(staff, customer):
    page = staff.post(reverse("staff:advance_refund", args=[customer.pk]), advance_form("t1", amount="80.01"))

    assert "holds only 80.00 EUR in advance" in page.content.decode()
    assert AdvanceRefund.objects.count() == 0


@pytest.mark.django_db
def test_staff_cannot_pay_back_another_organisations_advance(staff, other_customer):
    url = reverse("staff:advance_refund", args=[other_customer.pk])

    assert staff.get(url).status_code == 404
    assert staff.post(url, advance_form("t1")).status_code == 404
    assert AdvanceRefund.objects.count() == 0


@pytest.mark.django_db
def test_a_card_kept_without_paying_offers_no_refund(staff, customer, org):
    from encaisse.payments import online
    from encaisse.payments.providers.sandbox.tests.helpers import sandbox_account
    from encaisse.payments.tests.test_setup import enter_card, open_setup

    attempt, _url = open_setup(customer, sandbox_account(org))
    enter_card(attempt)
    attempt = online.refresh_attempt(attempt)
    assert attempt.status == "succeeded"

    page = staff.get(reverse("admin:payments_paymentattempt_change", args=[attempt.pk])).content.decode()

    assert reverse("staff:attempt_refund", args=[attempt.pk]) not in page
    assert staff.get(reverse("staff:attempt_refund", args=[attempt.pk])).status_code == 404
