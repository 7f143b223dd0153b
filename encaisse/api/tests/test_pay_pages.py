"""The public pay page, its return page and the pay-link command."""

import json
import time
from datetime import date
from io import StringIO

import pytest
from django.core import signing
from django.core.management import call_command

from encaisse.core.money import Money
from encaisse.invoicing.selectors import amount_due
from encaisse.payments.models import OfflineMethod, PaymentAttempt, ProviderAccount, SandboxPayment
from encaisse.payments.paylinks import SALT, pay_link
from encaisse.payments.services import record_offline_payment

from . import test_pay_online as shared
from .test_pay_online import CARD_OK, eur, receivable

invoice, sandbox = shared.invoice, shared.sandbox  # the fixtures, shared with the service tests

MARCH_2 = date(2026, 3, 2)


def link_for(invoice, **extra) -> str:
    return pay_link(organisation_id=invoice.organisation_id, line_ids=[receivable(invoice).pk],
                    amount=amount_due(invoice), **extra)


@pytest.mark.django_db
def test_the_pay_page_shows_the_organisation_the_invoice_and_the_amount_due_now(client, invoice, sandbox, customer,
                                                                                 clerk):
    path = link_for(invoice)  # made when 60.00 was due
    record_offline_payment(customer=customer, method=OfflineMethod.CASH, amount=eur("20.00"),
                           received_on=MARCH_2, by=clerk)

    response = client.get(path, HTTP_ACCEPT_LANGUAGE="en")

    page = response.content.decode()
    assert response.status_code == 200
    assert "Pressing du Centre" in page
    assert invoice.number in page
    assert "€40.00" in page  # 60.00 − 20.00 paid in cash since: recomputed, not the link's 60.00
    assert sandbox.name in page


@pytest.mark.django_db
def test_paying_from_the_page_redirects_to_the_provider_and_the_return_page_says_received(client, invoice, sandbox):
    response = client.post(link_for(invoice), {"provider": sandbox.code})
    assert response.status_code == 302
    assert response["Location"].startswith("/sandbox/pay/sbx_")
    attempt = PaymentAttempt.objects.get()
    assert attempt.amount == eur("60.00")

    back = client.post(response["Location"], {"card_number": CARD_OK})
    assert back["Location"] == f"http://testserver/pay/return/{attempt.pk}/"
    page = client.get(f"/pay/return/{attempt.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Payment received" in page
    assert amount_due(invoice) == eur("0.00")
    assert "Nothing is left to pay" in client.get(link_for(invoice), HTTP_ACCEPT_LANGUAGE="en").content.decode()


@pytest.mark.django_db
def test_a_return_url_with_a_tampered_status_or_amount_changes_nothing(client, invoice, sandbox):
    client.post(link_for(invoice), {"provider": sandbox.code})
    attempt = PaymentAttempt.objects.get()  # the payer never typed a card

    response = client.get(f"/pay/return/{attempt.pk}/?status=succeeded&amount=1&result=paid",
                          HTTP_ACCEPT_LANGUAGE="en")

    attempt.refresh_from_db()
    assert "being confirmed" in response.content.decode()
    assert "received" not in response.content.decode()
    assert attempt.status == "pending"
    assert attempt.settled_entry is None
    assert amount_due(invoice) == eur("60.00")


@pytest.mark.django_db
def test_the_return_page_says_being_confirmed_while_the_provider_has_not_confirmed(client, invoice, sandbox):
    sandbox.settings = {"settle_after_seconds": 3600}
    sandbox.save()
    location = client.post(link_for(invoice), {"provider": sandbox.code})["Location"]
    client.post(location, {"card_number": "4000 0000 0000 0077"})
    attempt = PaymentAttempt.objects.get()

    page = client.get(f"/pay/return/{attempt.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "being confirmed" in page
    assert amount_due(invoice) == eur("60.00")


@pytest.mark.django_db
def test_an_expired_pay_link_is_404_and_a_tampered_one_400(client, invoice, sandbox, monkeypatch):
    path = link_for(invoice, expires_in_days=1)
    token = path.split("/")[2]
    payload = signing.TimestampSigner(salt=SALT).unsign_object(token)
    forged = signing.TimestampSigner(salt="not-ours").sign_object({**payload, "a": 1}, compress=True)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")

    assert client.get(f"/pay/{forged}/").status_code == 400
    assert client.get(f"/pay/{tampered}/").status_code == 400
    assert client.post(f"/pay/{tampered}/", {"provider": sandbox.code}).status_code == 400
    monkeypatch.setattr(time, "time", lambda: payload["x"] + 1)
    assert client.get(path).status_code == 404
    assert PaymentAttempt.objects.count() == 0
    assert SandboxPayment.objects.count() == 0


@pytest.mark.django_db
def test_a_paid_invoice_link_shows_nothing_to_pay_and_refuses_a_checkout(client, invoice, sandbox, customer, clerk):
    path = link_for(invoice)
    record_offline_payment(customer=customer, method=OfflineMethod.CASH, amount=eur("60.00"),
                           received_on=MARCH_2, by=clerk)

    assert "Nothing is left to pay" in client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert client.post(path, {"provider": sandbox.code}).status_code == 409
    assert PaymentAttempt.objects.count() == 0


@pytest.mark.django_db
def test_a_regie_bound_account_is_offered_only_for_its_regie(client, invoice, sandbox, org):
    ProviderAccount.objects.create(organisation=org, provider="sandbox", code="other-regie", name="Other régie",
                                   regie_code="CANTINE")

    page = client.get(link_for(invoice)).content.decode()

    assert sandbox.name in page
    assert "Other régie" not in page


@pytest.mark.django_db
def test_pay_link_command_prints_the_path_and_amount_due(invoice, client):
    out = StringIO()
    call_command("pay-link", invoice.number, "--json", stdout=out)

    data = json.loads(out.getvalue())
    assert data["invoice"] == invoice.number
    assert data["amount_due"] == "60.00"
    assert client.get(data["path"]).status_code == 200
    assert amount_due(invoice) == Money(6000, "EUR")  # printing a link changes nothing


@pytest.mark.django_db
def test_a_provider_that_does_not_answer_leaves_the_payer_on_the_page_and_the_attempt_unknown(client, invoice, sandbox,
                                                                                              monkeypatch):
    from encaisse.payments.providers.sandbox import SandboxProvider

    def down(self, request):
        raise ConnectionError("provider down")

    monkeypatch.setattr(SandboxProvider, "start_checkout", down)

    response = client.post(link_for(invoice), {"provider": sandbox.code}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 409
    assert "did not answer" in response.content.decode()
    assert PaymentAttempt.objects.get().status == "unknown"  # re-asked by the periodic task, never re-sent


@pytest.mark.django_db
def test_an_account_whose_secrets_are_not_set_is_not_offered(client, invoice, sandbox, org, monkeypatch):
    monkeypatch.delenv("ENCAISSE_PROVIDER_PRESSING_OGONE_SHA_IN", raising=False)
    ProviderAccount.objects.create(organisation=org, provider="ogone", code="pressing-ogone", name="Ogone account")

    page = client.get(link_for(invoice)).content.decode()
    refused = client.post(link_for(invoice), {"provider": "pressing-ogone"})

    assert "Ogone account" not in page
    assert refused.status_code == 409
    assert PaymentAttempt.objects.count() == 0


@pytest.mark.django_db
def test_pay_link_command_refuses_an_unknown_or_paid_invoice(invoice, customer, clerk):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no posted invoice"):
        call_command("pay-link", "F-0000-99999", stdout=StringIO())
    record_offline_payment(customer=customer, method=OfflineMethod.CASH, amount=eur("60.00"), received_on=MARCH_2,
                           by=clerk)
    with pytest.raises(CommandError, match="nothing left to pay"):
        call_command("pay-link", invoice.number, stdout=StringIO())


@pytest.mark.django_db
def test_the_pay_page_speaks_french_by_default_with_french_amounts(client, invoice, sandbox):
    page = client.get(link_for(invoice)).content.decode()

    assert '<html lang="fr">' in page
    assert "60,00\u00a0€" in page  # babel's fr_FR: decimal comma, no-break space before the sign
    assert 'name="viewport"' in page  # usable on a phone


@pytest.mark.django_db
def test_the_page_offers_only_the_methods_the_invoices_regie_allows(client, invoice, sandbox):
    regie = invoice.invoice_type.regie
    regie.allowed_methods = ["payfip", "cheque"]  # no card: the sandbox (a card provider) is not offered
    regie.save()

    page = client.get(link_for(invoice), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    refused = client.post(link_for(invoice), {"provider": sandbox.code}, HTTP_ACCEPT_LANGUAGE="en")

    assert sandbox.name not in page
    assert "No online payment method is available" in page
    assert refused.status_code == 409
    assert not PaymentAttempt.objects.exists()

    regie.allowed_methods = ["card"]
    regie.save()
    assert sandbox.name in client.get(link_for(invoice), HTTP_ACCEPT_LANGUAGE="en").content.decode()
