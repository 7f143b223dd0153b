"""Saved methods end to end: a customer pays once and keeps their card, later invoices are charged to it
off-session; a card whose charges fail leaves the invoice due; a revoked card is never charged. And a card
kept on (fake) Stripe Checkout is recorded the same way. Nothing of ours is patched."""

import json

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.tests.factories import posted_invoice
from encaisse.ledger.models import Entry
from encaisse.ledger.verify import verify_ledger
from encaisse.payments import online
from encaisse.payments.errors import PaymentRefused
from encaisse.payments.methods import charge_saved_method, consent_text, revoke_method
from encaisse.payments.models import PaymentAttempt, SavedMethod
from encaisse.payments.paylinks import pay_link
from encaisse.payments.providers.sandbox.tests.helpers import CARD_PENDING_OK, eur, keep_card, sandbox_account
from encaisse.payments.providers.stripe.tests.fake_stripe import sign
from encaisse.testing.stripe import WEBHOOK_SECRET


@pytest.mark.django_db
def test_a_card_kept_on_the_pay_page_pays_the_next_invoices_until_it_is_revoked(client, org, customer, clerk):
    sandbox = sandbox_account(org)
    march = posted_invoice(org, customer, clerk)  # 60.00
    link = pay_link(organisation_id=org.pk, line_ids=[march.receivable_line_id], amount=amount_due(march))

    # The customer pays March online and ticks "keep this payment method".
    hosted = client.post(link, {"provider": sandbox.code, "save_method": "1"})
    client.post(hosted["Location"], {"card_number": CARD_PENDING_OK, "expiry": "12/30"})
    client.get(f"/pay/return/{PaymentAttempt.objects.get().pk}/")
    method = SavedMethod.objects.get()
    assert (method.last4, method.is_default, method.consent_text) == ("0077", True, consent_text(org))
    assert amount_due(march) == eur("0.00")

    # April falls due: automatic collection charges the kept card, twice by mistake under the same key.
    april = posted_invoice(org, customer, clerk, "25.00")  # 30.00
    first = charge_saved_method(method=method, amount=eur("30.00"), line_ids=[april.receivable_line_id],
                                key=f"collect:{april.pk}")
    again = charge_saved_method(method=method, amount=eur("30.00"), line_ids=[april.receivable_line_id],
                                key=f"collect:{april.pk}")
    assert (first.pk, first.status) == (again.pk, "succeeded")
    assert amount_due(april) == eur("0.00")
    assert Entry.objects.filter(idempotency_key=f"attempt:{first.pk}:settle").count() == 1

    # The customer withdraws consent: May is not charged.
    revoke_method(method, reason="Customer's email of 2 May", by=clerk)
    may = posted_invoice(org, customer, clerk, "10.00")
    with pytest.raises(PaymentRefused):
        charge_saved_method(method=method, amount=eur("12.00"), line_ids=[may.receivable_line_id], key="collect:may")
    assert amount_due(may) == eur("12.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_a_card_whose_charges_are_declined_leaves_the_invoice_due(org, customer, clerk):
    sandbox = sandbox_account(org)
    method = keep_card(customer, posted_invoice(org, customer, clerk).receivable_line, sandbox, "4000 0000 0000 0341")
    april = posted_invoice(org, customer, clerk, "25.00")

    attempt = charge_saved_method(method=method, amount=eur("30.00"), line_ids=[april.receivable_line_id],
                                  key="collect:april")

    assert (attempt.status, attempt.decline_code) == ("declined", "card_declined")
    assert amount_due(april) == eur("30.00")
    assert verify_ledger(org).ok


def stripe_checkout_keeping(org, customer, clerk, account):
    invoice = posted_invoice(org, customer, clerk)
    attempt, session = online.start_checkout(
        customer=customer, amount=Money.of("60.00", "EUR"), line_ids=[invoice.receivable_line_id],
        provider_account=account, return_url="https://shop.example/return/{attempt_id}/",
        consent={"text": consent_text(org), "at": "2026-03-02T10:00:00+00:00", "ip": "192.0.2.10"})
    return invoice, attempt, session


@pytest.mark.django_db
def test_a_card_kept_on_stripe_checkout_is_recorded_when_the_return_page_asks_stripe(
        org, customer, clerk, fake_stripe, stripe_account):
    invoice, attempt, session = stripe_checkout_keeping(org, customer, clerk, stripe_account)

    fake_stripe.pay_checkout(session.provider_reference)
    online.refresh_attempt(attempt)

    method = SavedMethod.objects.get()
    assert method.provider_account == stripe_account
    assert method.token.startswith("pm_")
    assert (method.consent_ip, method.is_default, method.source_attempt_id) == ("192.0.2.10", True, attempt.pk)
    assert amount_due(invoice) == eur("0.00")


@pytest.mark.django_db
def test_a_card_kept_on_stripe_checkout_is_recorded_from_the_signed_webhook(
        client, org, customer, clerk, fake_stripe, stripe_account):
    _invoice, _attempt, session = stripe_checkout_keeping(org, customer, clerk, stripe_account)

    body = json.dumps(fake_stripe.pay_checkout(session.provider_reference)).encode()
    client.post("/hooks/pressing-stripe/", body, content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(body, WEBHOOK_SECRET))

    assert SavedMethod.objects.filter(provider_account=stripe_account).count() == 1
