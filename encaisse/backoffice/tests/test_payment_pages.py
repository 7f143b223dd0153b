"""Provider accounts, online attempts, provider notifications and saved methods in the back office."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from encaisse.core.money import Money
from encaisse.parties.models import Membership
from encaisse.payments.models import InboundEvent, ProviderAccount, SavedMethod
from encaisse.payments.providers import BUILDERS, MissingSecret, adapter_for
from encaisse.payments.refunds import refund_attempt
from encaisse.payments.selectors import PROVIDER_SECRETS
from encaisse.payments.services import record_offline_payment

from .online_payments import CARD_DECLINED, CARD_OK, pay_online, posted_invoice, sandbox_account

STRIPE_KEY = "sk_test_51HyperSecretValueNeverShown9876"


def page(staff, name: str, *args) -> str:
    response = staff.get(reverse(f"admin:{name}", args=args))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def stripe(org) -> ProviderAccount:
    return ProviderAccount.objects.create(organisation=org, provider="stripe", code="pressing-stripe",
                                          name="Carte (Stripe)")


@pytest.fixture
def paid(org, customer, clerk, client):
    """A 60.00 invoice paid by card through the sandbox: the attempt, its notification and its entry."""
    invoice = posted_invoice(org, customer, clerk)
    return invoice, pay_online(client, invoice, sandbox_account(org), CARD_OK)


# --- provider accounts --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_provider_account_shows_its_webhook_address_and_which_secrets_are_set_never_in_full(
        staff, stripe, monkeypatch):
    monkeypatch.delenv("ENCAISSE_BASE_URL", raising=False)
    monkeypatch.setenv("ENCAISSE_PROVIDER_PRESSING_STRIPE_SECRET_KEY", STRIPE_KEY)
    monkeypatch.delenv("ENCAISSE_PROVIDER_PRESSING_STRIPE_WEBHOOK_SECRET", raising=False)

    html = page(staff, "payments_provideraccount_change", stripe.pk)

    assert 'value="http://testserver/hooks/pressing-stripe/"' in html
    assert "ENCAISSE_PROVIDER_PRESSING_STRIPE_SECRET_KEY" in html
    assert "set (••••••••9876)" in html
    assert "ENCAISSE_PROVIDER_PRESSING_STRIPE_WEBHOOK_SECRET" in html
    assert "missing" in html
    assert STRIPE_KEY not in html
    assert STRIPE_KEY[:-4] not in html
    assert "Not configured" in html


@pytest.mark.django_db
def test_the_webhook_address_uses_the_configured_public_address(staff, stripe, monkeypatch, settings):
    monkeypatch.setenv("ENCAISSE_BASE_URL", "https://encaisse.pressing.example")
    settings.ENCAISSE_BASE_URL = "https://encaisse.pressing.example"

    html = page(staff, "payments_provideraccount_change", stripe.pk)

    assert 'value="https://encaisse.pressing.example/hooks/pressing-stripe/"' in html


@pytest.mark.django_db
def test_the_list_says_which_accounts_can_take_payments(staff, org, stripe):
    sandbox_account(org)

    html = page(staff, "payments_provideraccount_changelist")

    assert "Carte (Stripe)" in html
    assert "Carte (sandbox)" in html
    # Both active (2 ticks); configured: the sandbox yes (1 tick), Stripe no (its secrets are not set).
    assert html.count('alt="True"') == 3
    assert html.count('alt="False"') == 1


@pytest.mark.django_db
def test_a_manager_creates_an_account_with_options_and_no_secret_field(staff, org):
    form = page(staff, "payments_provideraccount_add")
    assert "secret_key" not in form.lower()

    response = staff.post(reverse("admin:payments_provideraccount_add"), {
        "organisation": org.pk, "name": "PayFiP cantine", "provider": "payfip", "code": "cantine-payfip",
        "regie_code": "CANT", "active": "on", "settings": '{"client_number": "012345"}'})

    assert response.status_code == 302
    account = ProviderAccount.objects.get(code="cantine-payfip")
    assert account.settings == {"client_number": "012345"}
    assert account.organisation == org


@pytest.mark.django_db
def test_options_must_be_a_json_object(staff, org):
    response = staff.post(reverse("admin:payments_provideraccount_add"), {
        "organisation": org.pk, "name": "Bad", "provider": "payfip", "code": "bad", "settings": '["x"]'})

    assert response.status_code == 200
    assert "Give the options as a JSON object" in response.content.decode()
    assert not ProviderAccount.objects.filter(code="bad").exists()


@pytest.mark.django_db
def test_a_clerk_sees_provider_accounts_but_cannot_change_them(staff, org, clerk, stripe):
    Membership.objects.filter(user=clerk, organisation=org).update(role=Membership.Role.CLERK)

    html = page(staff, "payments_provideraccount_change", stripe.pk)
    response = staff.post(reverse("admin:payments_provideraccount_change", args=[stripe.pk]), {
        "name": "Hijacked", "provider": "stripe", "code": "pressing-stripe", "settings": "{}"})

    assert 'name="name"' not in html  # read-only
    assert response.status_code == 403
    stripe.refresh_from_db()
    assert stripe.name == "Carte (Stripe)"
    assert staff.get(reverse("admin:payments_provideraccount_add")).status_code == 403


@pytest.mark.parametrize("provider", sorted(BUILDERS))
def test_the_secrets_listed_are_those_the_adapter_needs(provider, monkeypatch):
    account = ProviderAccount(provider=provider, code="acct", settings={"client_number": "123456", "pspid": "P"})
    for name, _required in PROVIDER_SECRETS[provider]:
        monkeypatch.setenv(account.secret_variable(name), "s3cret-value")
    adapter_for(account)  # every secret listed set: the adapter builds
    for name, required in PROVIDER_SECRETS[provider]:
        monkeypatch.delenv(account.secret_variable(name))
        if required:
            with pytest.raises(MissingSecret):
                adapter_for(account)
        else:
            adapter_for(account)
        monkeypatch.setenv(account.secret_variable(name), "s3cret-value")


# --- attempts and notifications -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_attempts_list_filters_by_status_and_finds_by_customer(staff, org, customer, clerk, client):
    invoice = posted_invoice(org, customer, clerk)
    account = sandbox_account(org)
    declined = pay_online(client, invoice, account, CARD_DECLINED)
    paid = pay_online(client, invoice, account, CARD_OK)
    url = reverse("admin:payments_paymentattempt_changelist")

    declined_only = staff.get(url, {"status__exact": "declined"}).content.decode()
    by_name = staff.get(url, {"q": "Jeanne"}).content.decode()

    assert str(declined.pk) in declined_only
    assert str(paid.pk) not in declined_only
    assert "card_declined" in declined_only
    assert str(declined.pk) in by_name
    assert str(paid.pk) in by_name


@pytest.mark.django_db
def test_an_attempt_page_shows_the_exchange_what_it_paid_its_entry_notification_and_trail(staff, paid):
    invoice, attempt = paid

    html = page(staff, "payments_paymentattempt_change", attempt.pk)

    assert attempt.provider_reference in html
    assert "Succeeded" in html
    assert "&quot;line_ids&quot;" in html  # the request, pretty-printed
    assert reverse("admin:invoicing_invoice_change", args=[invoice.pk]) in html
    assert invoice.number in html
    assert reverse("admin:ledger_entry_change", args=[attempt.settled_entry_id]) in html
    event = InboundEvent.objects.get(attempt=attempt)
    assert reverse("admin:payments_inboundevent_change", args=[event.pk]) in html
    assert "checkout_started" in html
    assert reverse("staff:attempt_refund", args=[attempt.pk]) in html


@pytest.mark.django_db
def test_a_declined_attempt_offers_no_refund(staff, org, customer, clerk, client):
    attempt = pay_online(client, posted_invoice(org, customer, clerk), sandbox_account(org), CARD_DECLINED)

    html = page(staff, "payments_paymentattempt_change", attempt.pk)

    assert "card_declined" in html
    assert reverse("staff:attempt_refund", args=[attempt.pk]) not in html


@pytest.mark.django_db
def test_a_refund_is_listed_under_its_payment_and_points_back_to_it(staff, paid, clerk):
    _invoice, attempt = paid
    refund = refund_attempt(attempt=attempt, amount=Money.of("10.00", "EUR"), reason="stain", key="t-refund",
                            by=clerk)

    payment_page = page(staff, "payments_paymentattempt_change", attempt.pk)
    refund_page = page(staff, "payments_paymentattempt_change", refund.pk)

    assert reverse("admin:payments_paymentattempt_change", args=[refund.pk]) in payment_page
    assert "€10.00" in payment_page
    assert reverse("admin:payments_paymentattempt_change", args=[attempt.pk]) in refund_page
    assert reverse("staff:attempt_refund", args=[refund.pk]) not in refund_page  # a refund is not refunded


@pytest.mark.django_db
def test_a_notification_page_shows_its_payload_and_attempt(staff, paid):
    _invoice, attempt = paid
    event = InboundEvent.objects.get(attempt=attempt)

    listing = page(staff, "payments_inboundevent_changelist")
    html = page(staff, "payments_inboundevent_change", event.pk)

    assert event.event_id in listing
    assert reverse("admin:payments_paymentattempt_change", args=[attempt.pk]) in html
    assert "backoffice-json" in html


# --- saved methods ------------------------------------------------------------------------------------------


def saved_card(org, customer, account) -> SavedMethod:
    return SavedMethod.objects.create(
        organisation=org, customer=customer, provider_account=account, token="pm_sandbox_1", brand="visa",
        last4="4242", exp_month=12, exp_year=2030, is_default=True, consent_text="I allow…",
        consent_at=timezone.now() - timedelta(days=1))


@pytest.mark.django_db
def test_saved_methods_are_listed_with_a_link_to_the_customers_methods_page(staff, org, customer):
    saved_card(org, customer, sandbox_account(org))

    html = page(staff, "payments_savedmethod_changelist")

    assert "4242" in html
    assert "12/2030" in html
    assert reverse("staff:customer_methods", args=[customer.pk]) in html
    assert "pm_sandbox_1" not in html  # the provider's token is not shown in the list


# --- the customer page --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_customer_page_links_to_saved_methods_and_advance_refund_and_shows_the_advance(
        staff, customer, clerk):
    # A transfer with nothing open to pay: all of it is held as an advance.
    record_offline_payment(customer=customer, method="transfer", received_on=date(2026, 3, 5),
                           amount=Money.of("25.00", "EUR"), idempotency_key="t-advance", by=clerk)

    html = page(staff, "parties_customer_change", customer.pk)

    assert reverse("staff:customer_methods", args=[customer.pk]) in html
    assert reverse("staff:advance_refund", args=[customer.pk]) in html
    assert reverse("staff:record_payment", args=[customer.pk]) in html
    assert "advance held: €25.00" in html


# --- another organisation's records -------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_organisations_payment_records_answer_404(staff, other_org, other_customer, other_invoice,
                                                          other_clerk, client):
    account = sandbox_account(other_org, "bourg-sandbox")
    attempt = pay_online(client, other_invoice, account, CARD_OK, amount="39.60")
    event = InboundEvent.objects.get(attempt=attempt)
    method = saved_card(other_org, other_customer, account)

    for name, pk in [("payments_paymentattempt_change", attempt.pk), ("payments_inboundevent_change", event.pk),
                     ("payments_provideraccount_change", account.pk), ("payments_savedmethod_change", method.pk),
                     ("invoicing_invoice_change", other_invoice.pk)]:
        assert staff.get(reverse(f"admin:{name}", args=[pk])).status_code == 404, name
    for name in ["payments_paymentattempt_changelist", "payments_inboundevent_changelist",
                 "payments_provideraccount_changelist", "payments_savedmethod_changelist"]:
        html = page(staff, name)
        assert "Paul Secret" not in html, name
        assert "bourg-sandbox" not in html, name
        assert event.event_id not in html, name
