from datetime import date

import pytest

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due, display_status
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Entry
from encaisse.ledger.selectors import customer_balance
from encaisse.ledger.verify import verify_ledger
from encaisse.payments.errors import NothingToAllocate, PaymentRefused
from encaisse.payments.models import OfflineMethod, Payment
from encaisse.payments.services import advance_balance, allocate_advance, record_offline_payment

MARCH_1, MARCH_20 = date(2026, 3, 1), date(2026, 3, 20)


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


def posted(org, customer, clerk, price: str, day: date = MARCH_1) -> Invoice:
    # One line at `price` excl. VAT, VAT 20 %: total = price × 1.2.
    invoice = draft_invoice(org, customer, ("Service", "1", price), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=invoice.pk, by=clerk, today=day)


@pytest.mark.django_db
def test_a_cheque_pays_the_oldest_invoice_first_and_partly_the_next(org, customer, clerk):
    first = posted(org, customer, clerk, "50.00")  # 60.00
    second = posted(org, customer, clerk, "100.00", date(2026, 3, 5))  # 120.00

    payment = record_offline_payment(customer=customer, method=OfflineMethod.CHEQUE, amount=eur("100.00"),
                                     received_on=MARCH_20, cheque_bank="Banque Postale", cheque_number="1234567",
                                     by=clerk)

    assert amount_due(first) == eur("0.00")
    assert display_status(first, today=MARCH_20) == "paid"
    assert amount_due(second) == eur("80.00")  # 120.00 − the 40.00 left of the cheque
    assert display_status(second, today=MARCH_20) == "partially_paid"
    assert payment.entry.lines.get(account__code="5112").debit_minor == 10000
    assert customer_balance(customer) == eur("80.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_an_overpayment_becomes_an_advance_that_a_later_invoice_uses(org, customer, clerk):
    invoice = posted(org, customer, clerk, "50.00")  # 60.00

    record_offline_payment(customer=customer, method=OfflineMethod.TRANSFER, amount=eur("100.00"),
                           received_on=MARCH_20, reference="VIR 42", by=clerk)

    assert amount_due(invoice) == eur("0.00")
    assert advance_balance(customer) == eur("40.00")
    assert customer_balance(customer) == eur("-40.00")  # the customer has credit
    later = posted(org, customer, clerk, "25.00", date(2026, 3, 25))  # 30.00
    moved = allocate_advance(customer=customer, on=date(2026, 3, 26), by=clerk, idempotency_key="adv:1")
    assert moved == eur("30.00")
    assert amount_due(later) == eur("0.00")
    assert advance_balance(customer) == eur("10.00")
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_a_payment_can_go_to_the_invoice_the_customer_named(org, customer, clerk):
    older = posted(org, customer, clerk, "50.00")
    newer = posted(org, customer, clerk, "10.00", date(2026, 3, 2))  # 12.00

    record_offline_payment(customer=customer, method=OfflineMethod.CASH, amount=eur("12.00"), received_on=MARCH_20,
                           line_ids=[newer.receivable_line_id], by=clerk)

    assert amount_due(newer) == eur("0.00")
    assert amount_due(older) == eur("60.00")


@pytest.mark.django_db
def test_the_same_payment_submitted_twice_is_recorded_once(org, customer, clerk):
    posted(org, customer, clerk, "50.00")
    first = record_offline_payment(customer=customer, method=OfflineMethod.TERMINAL, amount=eur("60.00"),
                                   received_on=MARCH_20, reference="TPE 0001", by=clerk)

    again = record_offline_payment(customer=customer, method=OfflineMethod.TERMINAL, amount=eur("60.00"),
                                   received_on=MARCH_20, reference="TPE 0001", by=clerk)

    assert again.pk == first.pk
    assert Payment.objects.count() == 1
    assert customer_balance(customer) == eur("0.00")


@pytest.mark.django_db
def test_bad_payments_are_refused_and_write_nothing(org, customer, clerk, other_customer):
    mine = posted(org, customer, clerk, "50.00")
    entries = Entry.objects.count()

    with pytest.raises(PaymentRefused, match="cheque needs its number"):
        record_offline_payment(customer=customer, method=OfflineMethod.CHEQUE, amount=eur("10.00"),
                               received_on=MARCH_20, by=clerk)
    with pytest.raises(PaymentRefused, match="more than zero"):
        record_offline_payment(customer=customer, method=OfflineMethod.CASH, amount=eur("0.00"),
                               received_on=MARCH_20, by=clerk)
    with pytest.raises(PaymentRefused, match="organisation works in EUR"):
        record_offline_payment(customer=customer, method=OfflineMethod.CASH, amount=Money.of("10", "USD"),
                               received_on=MARCH_20, by=clerk)
    with pytest.raises(PaymentRefused, match="not an open item of this customer"):
        record_offline_payment(customer=other_customer, method=OfflineMethod.CASH, amount=eur("10.00"),
                               received_on=MARCH_20, line_ids=[mine.receivable_line_id], by=clerk)
    with pytest.raises(NothingToAllocate):
        allocate_advance(customer=customer, on=MARCH_20, by=clerk, idempotency_key="adv:none")

    assert Entry.objects.count() == entries
    assert Payment.objects.count() == 0
    assert amount_due(mine) == eur("60.00")


@pytest.fixture
def other_customer(org):
    from encaisse.parties.models import Customer

    return Customer.objects.create(organisation=org, ref="C900", name="Autre client")


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_clerks_recording_payments_at_once_never_settle_an_invoice_twice(org, customer, clerk):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connection

    invoice = posted(org, customer, clerk, "50.00")  # 60.00
    together = Barrier(2)

    def pay(reference: str) -> None:
        together.wait()
        try:
            record_offline_payment(customer=customer, method=OfflineMethod.TRANSFER, amount=eur("60.00"),
                                   received_on=MARCH_20, reference=reference, by=clerk)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(pay, ["VIR A", "VIR B"]))

    # One transfer settles the invoice, the other is kept as an advance: 60.00 paid twice is 60.00 of credit.
    assert amount_due(invoice) == eur("0.00")
    assert advance_balance(customer) == eur("60.00")
    assert verify_ledger(org).ok
