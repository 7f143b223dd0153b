"""Online payments through the sandbox provider: checkout, notifications, fetch, booking once."""

from datetime import date, timedelta

import pytest
import time_machine
from django.utils import timezone

from encaisse.core.money import Money
from encaisse.invoicing.models import Invoice
from encaisse.invoicing.selectors import amount_due
from encaisse.invoicing.services import post_invoice
from encaisse.invoicing.tests.factories import draft_invoice
from encaisse.ledger.models import Account, Entry, EntryLine
from encaisse.ledger.verify import verify_ledger
from encaisse.payments import online
from encaisse.payments.errors import PaymentRefused
from encaisse.payments.models import InboundEvent, PaymentAttempt, ProviderAccount, SandboxPayment, masked
from encaisse.payments.providers import adapter_for
from encaisse.payments.providers.base import Outcome, ProviderResult
from encaisse.payments.services import advance_balance

CARD_OK, CARD_DECLINED, CARD_3DS = "4242 4242 4242 4242", "4000 0000 0000 0002", "4000 0000 0000 3220"
CARD_PENDING_OK, CARD_PENDING_KO = "4000 0000 0000 0077", "4000 0000 0000 0085"


def eur(text: str) -> Money:
    return Money.of(text, "EUR")


def posted(org, customer, clerk, price: str) -> Invoice:
    # One line at `price` excl. VAT, VAT 20 %: total = price × 1.2.
    invoice = draft_invoice(org, customer, ("Service", "1", price), status=Invoice.Status.VALIDATED)
    return post_invoice(invoice_id=invoice.pk, by=clerk, today=date(2026, 3, 1))


def receivable(invoice: Invoice) -> EntryLine:
    return invoice.entry.lines.get(account__kind=Account.Kind.RECEIVABLE)


@pytest.fixture
def sandbox(org) -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="sandbox", code="pressing-sandbox",
                                          name="Carte (sandbox)", settings={"settle_after_seconds": 0})


@pytest.fixture
def invoice(org, customer, clerk) -> Invoice:
    return posted(org, customer, clerk, "50.00")  # 60.00 due


def checkout(customer, invoice, account, amount="60.00"):
    return online.start_checkout(customer=customer, amount=eur(amount), line_ids=[receivable(invoice).pk],
                                 provider_account=account, return_url="/pay/return/{attempt_id}/")


def pay(client, session, card: str, *, approve: bool | None = None):
    response = client.post(session.redirect_url, {"card_number": card})
    if approve is not None:
        assert response.status_code == 302
        assert response["Location"].endswith("/confirm/")
        response = client.post(response["Location"], {"decision": "approve" if approve else "refuse"})
    return response


def settle_entries(attempt) -> int:
    return Entry.objects.filter(idempotency_key=f"attempt:{attempt.pk}:settle").count()


@pytest.mark.django_db
def test_card_4242_succeeds_books_467_against_411_and_pays_the_invoice(client, customer, invoice, sandbox, org):
    attempt, session = checkout(customer, invoice, sandbox)
    assert attempt.status == "pending"
    assert attempt.idempotency_key == f"checkout:{attempt.pk}"

    response = pay(client, session, CARD_OK)

    assert response.status_code == 302
    assert response["Location"] == f"/pay/return/{attempt.pk}/"
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert amount_due(invoice) == eur("0.00")
    lines = {line.account.code: (line.debit_minor, line.credit_minor) for line in attempt.settled_entry.lines.all()}
    assert lines == {"467": (6000, 0), "411": (0, 6000)}
    assert InboundEvent.objects.filter(attempt=attempt, outcome="succeeded").count() == 1
    assert verify_ledger(org).ok


@pytest.mark.django_db
def test_card_0002_is_declined_with_its_code_and_books_nothing(client, customer, invoice, sandbox):
    attempt, session = checkout(customer, invoice, sandbox)

    pay(client, session, CARD_DECLINED)

    attempt.refresh_from_db()
    assert (attempt.status, attempt.decline_code) == ("declined", "card_declined")
    assert attempt.settled_entry is None
    assert amount_due(invoice) == eur("60.00")


@pytest.mark.django_db
@pytest.mark.parametrize(("approve", "status", "due"), [(True, "succeeded", "0.00"), (False, "declined", "60.00")])
def test_card_3220_asks_for_confirmation_first(client, customer, invoice, sandbox, approve, status, due):
    attempt, session = checkout(customer, invoice, sandbox)

    pay(client, session, CARD_3DS, approve=approve)

    attempt.refresh_from_db()
    assert attempt.status == status
    assert amount_due(invoice) == eur(due)


@pytest.mark.django_db
@pytest.mark.parametrize(("card", "final", "due"), [(CARD_PENDING_OK, "succeeded", "0.00"),
                                                    (CARD_PENDING_KO, "declined", "60.00")])
def test_cards_0077_and_0085_stay_pending_until_the_periodic_fetch(client, customer, invoice, sandbox, card, final,
                                                                    due):
    sandbox.settings = {"settle_after_seconds": 60}  # the provider decides a minute later
    sandbox.save()
    attempt, session = checkout(customer, invoice, sandbox)
    pay(client, session, card)  # the pending notification is fetched at once: still pending
    attempt.refresh_from_db()
    assert attempt.status == "pending"
    assert amount_due(invoice) == eur("60.00")

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        counts = online.resolve_unknown_attempts(older_than_minutes=0)

    attempt.refresh_from_db()
    assert counts == {final: 1}
    assert attempt.status == final
    assert amount_due(invoice) == eur(due)


@pytest.mark.django_db
def test_an_unknown_test_card_is_refused_by_the_sandbox_page(client, customer, invoice, sandbox):
    attempt, session = checkout(customer, invoice, sandbox)

    response = pay(client, session, "5555 5555 5555 4444")

    assert response.status_code == 400
    assert SandboxPayment.objects.get(reference=attempt.provider_reference).status == "open"
    assert b"5555 5555 5555 4444" not in response.content  # the number typed is not echoed back


@pytest.mark.django_db
def test_two_tabs_share_one_session_and_a_third_checkout_after_payment_is_refused(client, customer, invoice,
                                                                                   sandbox):
    first, first_session = checkout(customer, invoice, sandbox)
    second, second_session = checkout(customer, invoice, sandbox)
    assert second.pk == first.pk
    assert second_session.redirect_url == first_session.redirect_url

    pay(client, first_session, CARD_OK)
    pay(client, second_session, CARD_OK)  # the session is no longer open: the page sends the payer back

    assert PaymentAttempt.objects.count() == 1
    assert SandboxPayment.objects.count() == 1
    assert settle_entries(first) == 1
    with pytest.raises(PaymentRefused):
        checkout(customer, invoice, sandbox)


@pytest.mark.django_db
def test_two_sessions_both_paid_the_second_becomes_an_advance(client, customer, invoice, sandbox):
    # Tab 1 pays the whole 60.00, tab 2 (opened before) a part of 30.00: both sessions are completed.
    _full, full_session = checkout(customer, invoice, sandbox, "60.00")
    part, part_session = checkout(customer, invoice, sandbox, "30.00")

    pay(client, full_session, CARD_OK)
    pay(client, part_session, CARD_OK)

    part.refresh_from_db()
    assert part.status == "succeeded"
    assert amount_due(invoice) == eur("0.00")
    assert advance_balance(customer) == eur("30.00")  # the money moved: kept as an advance, never lost
    assert part.settled_entry.lines.get(account__code="419").credit_minor == 3000


@pytest.mark.django_db
def test_succeeded_twice_books_once_and_a_late_pending_changes_nothing(customer, invoice, sandbox):
    attempt, _session = checkout(customer, invoice, sandbox)
    success = ProviderResult(outcome=Outcome.SUCCEEDED, provider_reference=attempt.provider_reference,
                             amount=eur("60.00"))

    online.apply_provider_result(attempt_id=attempt.pk, result=success)
    online.apply_provider_result(attempt_id=attempt.pk, result=success)
    late = online.apply_provider_result(attempt_id=attempt.pk, result=ProviderResult(outcome=Outcome.PENDING))
    declined = online.apply_provider_result(attempt_id=attempt.pk,
                                            result=ProviderResult(outcome=Outcome.DECLINED, decline_code="x"))

    assert late.status == "succeeded"
    assert declined.status == "succeeded"
    assert declined.decline_code == ""
    assert settle_entries(attempt) == 1
    assert amount_due(invoice) == eur("0.00")


@pytest.mark.django_db
def test_an_overpayment_reported_by_the_provider_becomes_an_advance(customer, invoice, sandbox):
    attempt, _session = checkout(customer, invoice, sandbox)

    online.apply_provider_result(attempt_id=attempt.pk, result=ProviderResult(outcome=Outcome.SUCCEEDED,
                                                                              amount=eur("100.00")))

    assert amount_due(invoice) == eur("0.00")
    assert advance_balance(customer) == eur("40.00")  # 100.00 received − 60.00 due


@pytest.mark.django_db
def test_a_provider_fee_is_booked_on_627_out_of_467(client, customer, invoice, sandbox):
    sandbox.settings = {"settle_after_seconds": 0, "fee_minor": 35}
    sandbox.save()
    attempt, session = checkout(customer, invoice, sandbox)

    pay(client, session, CARD_OK)

    attempt.refresh_from_db()
    lines = [(line.account.code, line.debit_minor, line.credit_minor)
             for line in attempt.settled_entry.lines.order_by("pk")]
    # 60.00 in on 467, 0.35 fee moved from 467 to 627: 59.65 left to be paid out.
    assert sorted(lines) == sorted([("467", 6000, 0), ("411", 0, 6000), ("627", 35, 0), ("467", 0, 35)])


@pytest.mark.django_db
def test_a_duplicate_webhook_changes_nothing(client, customer, invoice, sandbox):
    attempt, _session = checkout(customer, invoice, sandbox)
    payment = SandboxPayment.objects.get(reference=attempt.provider_reference)
    payment.status = "succeeded"
    payment.save()
    body, headers = adapter_for(sandbox).notification(payment)
    http_headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}

    first = client.post(f"/hooks/{sandbox.code}/", body, content_type="application/json", **http_headers)
    again = client.post(f"/hooks/{sandbox.code}/", body, content_type="application/json", **http_headers)

    assert first.status_code == again.status_code == 200
    assert InboundEvent.objects.count() == 1
    assert settle_entries(attempt) == 1


@pytest.mark.django_db
def test_a_forged_webhook_gets_400_and_writes_nothing(client, customer, invoice, sandbox):
    attempt, _session = checkout(customer, invoice, sandbox)
    payment = SandboxPayment.objects.get(reference=attempt.provider_reference)
    payment.status = "succeeded"
    body, _headers = adapter_for(sandbox).notification(payment)

    response = client.post(f"/hooks/{sandbox.code}/", body, content_type="application/json",
                           HTTP_X_SANDBOX_SIGNATURE="0" * 64)
    unsigned = client.post(f"/hooks/{sandbox.code}/", body, content_type="application/json")

    assert response.status_code == unsigned.status_code == 400
    assert InboundEvent.objects.count() == 0
    attempt.refresh_from_db()
    assert attempt.status == "pending"
    assert attempt.settled_entry is None


@pytest.mark.django_db
def test_a_webhook_for_an_unknown_account_is_404(client):
    assert client.post("/hooks/nobody/", b"{}", content_type="application/json").status_code == 404


def test_secrets_are_shown_by_their_last_four_characters_only():
    assert masked("sk_test_abcdef1234") == "••••••••1234"
    assert masked("") == ""


@pytest.mark.django_db
def test_secrets_are_read_from_the_environment(org, monkeypatch):
    account = ProviderAccount(organisation=org, provider="stripe", code="cantine-stripe", name="Stripe")
    monkeypatch.setenv("ENCAISSE_PROVIDER_CANTINE_STRIPE_SECRET_KEY", "sk_live_123456789")

    assert account.secret("SECRET_KEY") == "sk_live_123456789"
    assert account.masked_secret("SECRET_KEY").endswith("6789")
    assert "sk_live" not in account.masked_secret(
        "SECRET_KEY")


@pytest.mark.django_db
def test_a_checkout_for_more_than_is_due_or_another_organisations_account_is_refused(customer, invoice, sandbox,
                                                                                    org):
    with pytest.raises(PaymentRefused):
        checkout(customer, invoice, sandbox, "60.01")
    sandbox.active = False
    sandbox.save()
    with pytest.raises(PaymentRefused):
        checkout(customer, invoice, sandbox)
    assert PaymentAttempt.objects.count() == 0


@pytest.mark.django_db
def test_a_success_confirmed_after_a_recorded_decline_is_still_booked(customer, invoice, sandbox):
    attempt, _session = checkout(customer, invoice, sandbox)
    online.apply_provider_result(attempt_id=attempt.pk, result=ProviderResult(outcome=Outcome.DECLINED))

    online.apply_provider_result(attempt_id=attempt.pk, result=ProviderResult(outcome=Outcome.SUCCEEDED))

    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert amount_due(invoice) == eur("0.00")


@pytest.mark.django_db
def test_a_checkout_whose_answer_was_lost_is_unknown_and_fetch_finds_it_by_its_key(customer, invoice, sandbox,
                                                                                    monkeypatch):
    from encaisse.payments.providers.sandbox import SandboxProvider

    opened = SandboxProvider.start_checkout

    def lost_answer(self, request):
        opened(self, request)  # the provider opened the session...
        raise TimeoutError("read timed out")  # ...but its answer never came back

    monkeypatch.setattr(SandboxProvider, "start_checkout", lost_answer)
    with pytest.raises(TimeoutError):
        checkout(customer, invoice, sandbox)
    attempt = PaymentAttempt.objects.get()
    assert attempt.status == "unknown"

    online.resolve_unknown_attempts(older_than_minutes=0)

    attempt.refresh_from_db()
    assert attempt.status == "pending"  # the session exists, opened under the key stored first
    assert attempt.provider_reference == SandboxPayment.objects.get().reference


@pytest.mark.django_db
def test_a_stale_sandbox_notification_is_refused(client, customer, invoice, sandbox, monkeypatch):
    attempt, _session = checkout(customer, invoice, sandbox)
    payment = SandboxPayment.objects.get(reference=attempt.provider_reference)
    payment.status = "succeeded"
    body, headers = adapter_for(sandbox).notification(payment)
    import time

    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)  # replayed five minutes and a second later

    response = client.post(f"/hooks/{sandbox.code}/", body, content_type="application/json",
                           HTTP_X_SANDBOX_SIGNATURE=headers["X-Sandbox-Signature"])

    assert response.status_code == 400
    assert InboundEvent.objects.count() == 0


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_same_success_arriving_twice_at_once_books_once(customer, invoice, sandbox):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connection

    attempt, _session = checkout(customer, invoice, sandbox)
    together = Barrier(2)

    def succeed(_n: int) -> None:
        together.wait()
        try:
            online.apply_provider_result(attempt_id=attempt.pk, result=ProviderResult(outcome=Outcome.SUCCEEDED))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(succeed, [1, 2]))

    assert settle_entries(attempt) == 1
    assert amount_due(invoice) == eur("0.00")
    assert advance_balance(customer) == eur("0.00")
