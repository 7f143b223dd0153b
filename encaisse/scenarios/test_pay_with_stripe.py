"""An invoice paid through Stripe Checkout, end to end: provider account → checkout → payer pays on
(fake) Stripe → signed webhook at /hooks/<code>/ → booked once. The official SDK talks to a local server
that speaks Stripe's API; nothing of ours is patched."""

import json
from datetime import date

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry
from encaisse.ledger.verify import verify_ledger
from encaisse.payments import online
from encaisse.payments.models import PaymentAttempt, ProviderAccount
from encaisse.payments.providers import MissingSecret, adapter_for
from encaisse.payments.providers.stripe.tests.fake_stripe import sign
from encaisse.testing.stripe import WEBHOOK_SECRET


@pytest.mark.django_db
def test_an_invoice_paid_on_stripe_checkout_is_booked_once_from_the_signed_webhook(
        client, org, customer, clerk, fake_stripe, stripe_account):
    # 50.00 excl. VAT + 20 % = 60.00 due.
    invoice = post_invoice(invoice_id=draft_invoice(org, customer, ("Service", "1", "50.00"),
                                                    status=Invoice.Status.VALIDATED).pk,
                           by=clerk, today=date(2026, 3, 1))
    attempt, session = online.start_checkout(
        customer=customer, amount=Money.of("60.00", "EUR"), line_ids=[invoice.receivable_line_id],
        provider_account=stripe_account, return_url="https://shop.example/return/{attempt_id}/")
    assert session.redirect_url.startswith("http")

    event = fake_stripe.pay_checkout(session.provider_reference)
    body = json.dumps(event).encode()
    headers = {"HTTP_STRIPE_SIGNATURE": sign(body, WEBHOOK_SECRET)}
    first = client.post("/hooks/pressing-stripe/", body, content_type="application/json", **headers)
    again = client.post("/hooks/pressing-stripe/", body, content_type="application/json", **headers)
    forged = client.post("/hooks/pressing-stripe/", body, content_type="application/json",
                         HTTP_STRIPE_SIGNATURE=sign(body, "whsec_someone_else"))

    assert (first.status_code, again.status_code, forged.status_code) == (200, 200, 400)
    attempt = PaymentAttempt.objects.get(pk=attempt.pk)
    assert attempt.status == "succeeded"
    assert amount_due(invoice) == Money.of("0.00", "EUR")
    assert Entry.objects.filter(idempotency_key=f"attempt:{attempt.pk}:settle").count() == 1
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_a_provider_account_without_its_secret_names_the_variable_to_set(org, monkeypatch):
    account = ProviderAccount.objects.create(organisation=org, provider="stripe", code="shop-stripe", name="S")
    monkeypatch.delenv("ENCAISSE_PROVIDER_SHOP_STRIPE_SECRET_KEY", raising=False)

    with pytest.raises(MissingSecret, match="ENCAISSE_PROVIDER_SHOP_STRIPE_SECRET_KEY"):
        adapter_for(account)


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "error_type", "recorded"), [
    (400, "invalid_request_error", "not_processed"),  # Stripe refused the request: nothing exists
    (500, "api_error", "unknown"),  # it may have created the session: re-asked later under the same key
])
def test_a_checkout_stripe_did_not_open_records_stripes_answer_on_the_attempt(
        org, customer, clerk, fake_stripe, stripe_account, status, error_type, recorded):
    from encaisse.payments.providers.base import CheckoutNotStarted

    invoice = post_invoice(invoice_id=draft_invoice(org, customer, ("Service", "1", "50.00"),
                                                    status=Invoice.Status.VALIDATED).pk,
                           by=clerk, today=date(2026, 3, 1))
    fake_stripe.fail_next(status, error_type=error_type)

    with pytest.raises(CheckoutNotStarted):
        online.start_checkout(customer=customer, amount=Money.of("60.00", "EUR"),
                              line_ids=[invoice.receivable_line_id], provider_account=stripe_account,
                              return_url="https://shop.example/return/{attempt_id}/")

    assert PaymentAttempt.objects.get().status == recorded
    assert amount_due(invoice) == Money.of("60.00", "EUR")
