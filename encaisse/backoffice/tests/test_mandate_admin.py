"""The mandate admin shows the proof of an online signature read-only, and the IBAN masked in the list."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from encaisse.sepa.models import Mandate
from encaisse.sepa.services import revoke_mandate, sign_mandate_online

COMPACT = "FR7630006000011234567890189"


@pytest.fixture
def signed(org, customer):
    org.creditor_id = "FR72ZZZ123456"
    org.save()
    mandate = sign_mandate_online(customer=customer, iban=COMPACT, holder_name="Jeanne Martin", consent=True,
                                  ip="203.0.113.7", now=datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    return revoke_mandate(mandate, reason="the customer closed the account", by=None)


@pytest.mark.django_db
def test_the_online_signature_is_shown_and_cannot_be_rewritten(staff, org, customer, signed):
    page = staff.get(reverse("admin:sepa_mandate_change", args=[signed.pk])).content.decode()

    for shown in ("Signed online in the portal", "203.0.113.7", signed.reference, "the customer closed the account"):
        assert shown in page
    assert 'name="text"' not in page
    assert 'name="signature_ip"' not in page
    assert 'name="revoked_reason"' not in page

    staff.post(reverse("admin:sepa_mandate_change", args=[signed.pk]), {
        "organisation": org.pk, "customer": customer.pk, "reference": signed.reference, "iban": COMPACT, "bic": "",
        "account_holder": "Jeanne Martin", "signed_on": "2026-03-02", "scheme": "CORE", "status": "revoked",
        "last_used_on": "", "text": "rewritten", "signature_ip": "10.0.0.1", "source": "backoffice",
        "revoked_reason": "rewritten"})

    after = Mandate.objects.get(pk=signed.pk)
    assert (after.text, after.signature_ip, after.source, after.revoked_reason) == (
        signed.text, "203.0.113.7", Mandate.Source.PORTAL, "the customer closed the account")


@pytest.mark.django_db
def test_the_list_shows_the_source_and_the_iban_masked(staff, signed):
    listing = staff.get(reverse("admin:sepa_mandate_changelist")).content.decode()

    assert "Signed online in the portal" in listing
    assert "FR76 •••• 0189" in listing
    assert COMPACT not in listing
