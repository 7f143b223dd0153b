"""Délettrage: a settlement undone by a negative one reopens both lines, once, and the ledger still verifies."""

import pytest

from encaisse.ledger.errors import SettlementRefused
from encaisse.ledger.models import Settlement
from encaisse.ledger.selectors import open_amount
from encaisse.ledger.services import settle, unsettle
from encaisse.ledger.tests.test_services import eur, invoice_like, payment, receivable
from encaisse.ledger.verify import verify_ledger

pytestmark = pytest.mark.django_db


def test_undoing_a_settlement_opens_the_invoice_again_and_the_payment_can_settle_something_else(org, customer):
    invoice = receivable(invoice_like(org, customer, "120.00"))
    paid = receivable(payment(org, customer, "120.00"))
    settlement = settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="s1")
    assert open_amount(invoice) == eur("0.00")

    undone = unsettle(settlement=settlement, idempotency_key="u1")

    assert (undone.amount, undone.reverses_id) == (eur("-120.00"), settlement.pk)
    assert open_amount(invoice) == eur("120.00")
    assert open_amount(paid) == eur("120.00")
    other = receivable(invoice_like(org, customer, "50.00", key="test:2"))
    settle(debit_line_id=other.pk, credit_line_id=paid.pk, idempotency_key="s2")
    assert open_amount(paid) == eur("70.00")
    assert verify_ledger(org).ok


def test_a_settlement_is_undone_once_whatever_the_key(org, customer):
    invoice = receivable(invoice_like(org, customer))
    paid = receivable(payment(org, customer))
    settlement = settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="s1")

    first = unsettle(settlement=settlement, idempotency_key="u1")
    again = unsettle(settlement=settlement, idempotency_key="u1")
    other_key = unsettle(settlement=settlement, idempotency_key="u2")

    assert first.pk == again.pk == other_key.pk
    assert Settlement.objects.filter(reverses__isnull=False).count() == 1
    assert open_amount(invoice) == eur("120.00")


def test_an_undoing_cannot_itself_be_undone(org, customer):
    invoice = receivable(invoice_like(org, customer))
    paid = receivable(payment(org, customer))
    undone = unsettle(settlement=settle(debit_line_id=invoice.pk, credit_line_id=paid.pk, idempotency_key="s1"),
                      idempotency_key="u1")

    with pytest.raises(SettlementRefused):
        unsettle(settlement=undone, idempotency_key="u2")
    assert open_amount(invoice) == eur("120.00")
