"""An invoice paid on Stripe Checkout, cancelled by a credit note, then refunded from the back office: the
refund goes back through (fake) Stripe, is booked once, lettered with the credit note, and the customer owes
nothing. The official SDK talks to a local server speaking Stripe's API; nothing of ours is patched."""

import json
from datetime import date

import pytest
from django.conf import settings
from django.urls import reverse

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.services import issue_credit_note, post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry, Settlement
from encaisse.ledger.selectors import customer_balance
from encaisse.ledger.verify import verify_ledger
from encaisse.payments import online
from encaisse.payments.models import AttemptKind, PaymentAttempt
from encaisse.payments.providers.stripe.tests.fake_stripe import sign
from encaisse.payments.tests.test_refunds import refunds_at_stripe


@pytest.mark.django_db
def test_a_paid_invoice_credited_then_refunded_from_the_back_office_leaves_nothing_owed(
        client, org, customer, clerk, fake_stripe, stripe_account):
    invoice = post_invoice(invoice_id=draft_invoice(org, customer, ("Service", "1", "50.00"),
                                                    status=Invoice.Status.VALIDATED).pk,
                           by=clerk, today=date(2026, 3, 1))  # 60.00 due
    attempt, session = online.start_checkout(
        customer=customer, amount=Money.of("60.00", "EUR"), line_ids=[invoice.receivable_line_id],
        provider_account=stripe_account, return_url="https://shop.example/return/{attempt_id}/")
    event = fake_stripe.pay_checkout(session.provider_reference)
    body = json.dumps(event).encode()
    assert client.post("/hooks/pressing-stripe/", body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=sign(body, "whsec_test_fake")).status_code == 200
    assert amount_due(invoice) == Money.of("0.00", "EUR")
    credit_note = issue_credit_note(invoice_id=invoice.pk, reason="Order cancelled", by=clerk,
                                    today=date(2026, 3, 2))

    client.force_login(clerk)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = reverse("staff:attempt_refund", args=[attempt.pk])
    page = client.get(url).content.decode()
    assert "leave €0.00 owed again by the customer" in page
    done = client.post(url, {"amount": "60.00", "reason": "Order cancelled", "token": "form-1"}, follow=True)

    assert "Refund of €60.00 made and booked." in done.content.decode()
    refund = PaymentAttempt.objects.get(kind=AttemptKind.REFUND)
    assert [r["amount"] for r in refunds_at_stripe(fake_stripe)] == [6000]
    # Stripe then notifies the refund: already known, booked nothing more.
    notice = fake_stripe.event("refund.updated", fake_stripe.objects[refund.provider_reference])
    body = json.dumps(notice).encode()
    assert client.post("/hooks/pressing-stripe/", body, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=sign(body, "whsec_test_fake")).status_code == 200
    assert Entry.objects.filter(idempotency_key=f"attempt:{refund.pk}:refund").count() == 1
    debit = refund.settled_entry.lines.get(account__code="411")
    assert Settlement.objects.get(debit_line=debit).credit_line_id == credit_note.receivable_line_id
    assert customer_balance(customer) == Money.of("0.00", "EUR")
    assert verify_ledger(org).ok
